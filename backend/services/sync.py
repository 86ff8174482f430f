"""Field sync: cursor-based pull of an inspector's forms; idempotent, conflict-checked push of operations.

Pull. Every commit that changes a form (or its team, comments, answers, evidence, ...) stamps it with the
next value of a commit-ordered change counter (see backend.models.fieldwork). A cursor is a position
(change_seq, form id); a page returns the inspector's forms after it. Because the counter's row lock is held
until commit, every number at or below a committed value is itself committed, so no change is skipped however
writes interleave.

Push. Each operation runs in its own transaction: idempotency log lookup, access check, a form row lock,
the conflict rule, the change, an audit entry, the log row, commit. A conflict is a change by *someone else*
(another user or device) to the same field after the client's base_version; a device's own queued edits never
conflict with each other. Confirmations vouch for the content as of their version; a later content change by
anyone makes them stale.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import io
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from ..config import Settings
from ..errors import Conflict, DomainError, Invalid, NotFound, TooLarge
from ..models.accounts import User
from ..models.base import utcnow
from ..models.directory import CalendarOverride, Department, Enterprise, Inspector
from ..models.fieldwork import (
    Evidence,
    FormAnswer,
    FormCheckin,
    FormConfirmation,
    FormNote,
    FormSignature,
    FormSyncState,
    SyncCounter,
    SyncOperation,
    Upload,
)
from ..models.forms import FormAssignment, InspectionForm, ReviewComment
from . import audit
from .audit import canonical_json
from .form_scope import (
    FIELD_EDITABLE_STATUSES,
    FIELD_VISIBLE_STATUSES,
    form_for_field_work,
    require_field_inspector,
)
from .sync_payloads import PAYLOADS

MiB = 1024 * 1024
NIL_ID = uuid.UUID(int=0)
CHINA_TIME = timezone(timedelta(hours=8))
MAX_ID = uuid.UUID(int=(1 << 128) - 1)
MAX_PULL_LIMIT = 500
# What a confirmation vouches for: a later change of any of these by anyone makes confirmations stale.
CONTENT_OPS = ("answer", "note", "checkin", "evidence", "propose_result")
PASS_FAIL_VALUES = ("pass", "fail", "na")
FORM_STATUS_AFTER_FIRST_WRITE = {"dispatched": "in_progress"}


# -- cursors -------------------------------------------------------------------------------------


def encode_cursor(seq: int, after: uuid.UUID) -> str:
    raw = f"v1:{seq}:{after.hex}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[int, uuid.UUID]:
    if not cursor:
        return 0, NIL_ID
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        version, seq, after = raw.split(":")
        if version != "v1":
            raise ValueError(version)
        return int(seq), uuid.UUID(hex=after)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Invalid("同步游标无效，请不带游标重新完整同步", errors={"cursor": ["无效的游标"]}) from None


def current_change_seq(session: Session) -> int:
    value = session.execute(select(SyncCounter.value).where(SyncCounter.id == 1)).scalar_one_or_none()
    return int(value or 0)


def mark_form_changed(session: Session, form_id: uuid.UUID) -> None:
    """For writes made with Core statements (invisible to the ORM hooks): stamp the form at commit anyway."""
    session.info.setdefault("shuangsui.touched_forms", set()).add(form_id)


# -- pull ----------------------------------------------------------------------------------------


def pull(
    *, session: Session, actor: User, cursor: str | None, limit: int = 100, today: date | None = None
) -> dict[str, Any]:
    """The inspector's forms changed after `cursor`, and the ids of forms no longer theirs."""
    inspector_id = require_field_inspector(actor)
    limit = max(1, min(int(limit), MAX_PULL_LIMIT))
    seq, after = decode_cursor(cursor)
    counter = current_change_seq(session)  # read before the forms: everything at or below it is committed
    if seq > counter:  # a cursor from before a database restore: start over
        seq, after = 0, NIL_ID
    change_seq = func.coalesce(FormSyncState.change_seq, 0)
    stmt = (
        select(InspectionForm, change_seq, FormAssignment.active)
        .join(
            FormAssignment,
            and_(FormAssignment.form_id == InspectionForm.id, FormAssignment.inspector_id == inspector_id),
        )
        .outerjoin(FormSyncState, FormSyncState.form_id == InspectionForm.id)
        .where(or_(change_seq > seq, and_(change_seq == seq, InspectionForm.id > after)))
        .order_by(change_seq, InspectionForm.id)
        .limit(limit + 1)
    )
    if not cursor:  # a full pull only needs what is currently assigned
        stmt = stmt.where(
            FormAssignment.active == True,  # noqa: E712
            InspectionForm.status.in_(FIELD_VISIBLE_STATUSES),  # type: ignore[attr-defined]
        )
    rows = session.execute(stmt).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    visible = [form for form, _seq, active in rows if active and form.status in FIELD_VISIBLE_STATUSES]
    removed = [
        str(form.id) for form, _seq, active in rows if not (active and form.status in FIELD_VISIBLE_STATUSES)
    ]
    if has_more:
        position = (int(rows[-1][1]), rows[-1][0].id)
    else:
        position = (counter, MAX_ID)
        if rows and (int(rows[-1][1]), rows[-1][0].id) > position:
            position = (int(rows[-1][1]), rows[-1][0].id)
    return {
        "cursor": encode_cursor(*position),
        "has_more": has_more,
        "forms": serialize_forms(session, visible, today=today),
        "removed": removed,
    }


def _working_days_left(today: date, deadline: date | None, overrides: dict[date, bool]) -> int | None:
    """Working days (statutory calendar + local 调休 overrides) from today to the deadline; < 0 if late."""
    if deadline is None:
        return None
    from . import workdays

    try:
        return int(workdays.workdays_between(today, deadline, overrides))
    except DomainError:  # a year the holiday calendar does not cover yet: count Monday to Friday
        if deadline < today:
            return -_weekdays(deadline, today)
        return _weekdays(today, deadline)


def _weekdays(start: date, end: date) -> int:
    """Mon-Fri after `start` up to and including `end` (fallback when the holiday calendar is unavailable)."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if day.weekday() < 5:
            count += 1
    return count


def _task_info(session: Session, form: InspectionForm) -> dict[str, Any]:
    info: dict[str, Any] = {"id": str(form.task_id) if form.task_id else None, "name": None, "code": None}
    if form.task_id is None:
        return info
    from .. import models

    task_model = getattr(models, "InspectionTask", None) or getattr(models, "Task", None)
    if task_model is not None:
        task = session.get(task_model, form.task_id)
        if task is not None:
            info["name"] = getattr(task, "name", None)
            info["code"] = getattr(task, "code", None)
    return info


def _checkpoint_payload(cp: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": cp.get("key"),
        "question": cp.get("question", ""),
        "legal_basis": cp.get("legal_basis") or cp.get("legal_clause") or "",
        "department": cp.get("department") or "",
        "item_name": cp.get("item_name") or "",
        "answer_kind": cp.get("answer_kind") or "pass_fail",
        "options": cp.get("options") or [],
        "photo_required": bool(cp.get("photo_required")),
    }


def _enterprise_payload(form: InspectionForm, ent: Enterprise | None) -> dict[str, Any]:
    snap = form.enterprise_snapshot or {}

    def pick(attr: str, *snap_keys: str) -> Any:
        live = getattr(ent, attr, None) if ent is not None else None
        if live not in (None, ""):
            return live
        for key in snap_keys or (attr,):
            if snap.get(key) not in (None, ""):
                return snap[key]
        return None

    address = None
    if ent is not None:
        address = ent.business_address or ent.registered_address
    address = address or snap.get("address") or snap.get("business_address") or snap.get("registered_address")
    return {
        "id": str(form.enterprise_id),
        "uscc": pick("uscc"),
        "name": pick("name"),
        "address": address or "",
        "legal_representative": pick("legal_representative") or "",
        "industry": pick("industry_code", "industry", "industry_code") or "",
        "region_code": pick("region_code") or "",
        "lat": pick("lat"),
        "lng": pick("lng"),
    }


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def last_content_versions(session: Session, form_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    if not form_ids:
        return {}
    rows = session.execute(
        select(SyncOperation.form_id, func.max(SyncOperation.form_version))
        .where(SyncOperation.form_id.in_(form_ids), SyncOperation.type.in_(CONTENT_OPS))  # type: ignore[union-attr,attr-defined]
        .group_by(SyncOperation.form_id)
    ).all()
    return {form_id: int(v or 0) for form_id, v in rows}


def valid_confirmations(session: Session, form_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Inspectors, still on the team, whose confirmation is not older than the last content change."""
    if not form_ids:
        return {}
    content = last_content_versions(session, form_ids)
    rows = session.execute(
        select(FormConfirmation)
        .join(
            FormAssignment,
            and_(
                FormAssignment.form_id == FormConfirmation.form_id,
                FormAssignment.inspector_id == FormConfirmation.inspector_id,
                FormAssignment.active == True,  # noqa: E712
            ),
        )
        .where(FormConfirmation.form_id.in_(form_ids))  # type: ignore[attr-defined]
        .order_by(FormConfirmation.at)
    ).scalars()
    result: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for conf in rows:
        if conf.version >= content.get(conf.form_id, 0):
            result[conf.form_id].append(conf.inspector_id)
    return result


def serialize_forms(
    session: Session, forms: list[InspectionForm], *, today: date | None = None
) -> list[dict[str, Any]]:
    """Forms as field clients see them (docs/sync-protocol.md), loaded in a fixed number of queries."""
    if not forms:
        return []
    today = today or utcnow().astimezone(CHINA_TIME).date()  # deadlines are China calendar days
    ids = [f.id for f in forms]

    def by_form(model: Any, *order: Any) -> dict[uuid.UUID, list[Any]]:
        grouped: dict[uuid.UUID, list[Any]] = defaultdict(list)
        stmt = select(model).where(model.form_id.in_(ids))
        if order:
            stmt = stmt.order_by(*order)
        for row in session.execute(stmt).scalars():
            grouped[row.form_id].append(row)
        return grouped

    assignments = by_form(FormAssignment, FormAssignment.assigned_at)
    inspector_ids = {a.inspector_id for rows in assignments.values() for a in rows}
    inspectors = (
        {
            i.id: i
            for i in session.execute(select(Inspector).where(Inspector.id.in_(inspector_ids))).scalars()  # type: ignore[attr-defined]
        }
        if inspector_ids
        else {}
    )
    dept_ids = {a.department_id for rows in assignments.values() for a in rows}
    departments = (
        {
            d.id: d
            for d in session.execute(select(Department).where(Department.id.in_(dept_ids))).scalars()  # type: ignore[attr-defined]
        }
        if dept_ids
        else {}
    )
    enterprise_ids = {f.enterprise_id for f in forms}
    enterprises = {
        e.id: e
        for e in session.execute(select(Enterprise).where(Enterprise.id.in_(enterprise_ids))).scalars()  # type: ignore[attr-defined]
    }
    answers = by_form(FormAnswer)
    checkins = by_form(FormCheckin, FormCheckin.at)
    signatures = by_form(FormSignature, FormSignature.received_at)
    evidence = by_form(Evidence, Evidence.captured_at)
    comments = by_form(ReviewComment, ReviewComment.created_at)
    author_ids = {c.author_id for rows in comments.values() for c in rows}
    authors = (
        {
            u.id: u
            for u in session.execute(select(User).where(User.id.in_(author_ids))).scalars()  # type: ignore[attr-defined]
        }
        if author_ids
        else {}
    )
    confirmations = valid_confirmations(session, ids)
    previous = _previous_results(session, forms)
    overrides = {o.day: o.is_workday for o in session.execute(select(CalendarOverride)).scalars()}

    out = []
    for form in forms:
        team = []
        for a in assignments.get(form.id, []):
            if not a.active:
                continue
            insp = inspectors.get(a.inspector_id)
            dept = departments.get(a.department_id)
            team.append(
                {
                    "inspector_id": str(a.inspector_id),
                    "name": insp.name if insp else "",
                    "department": dept.name if dept else "",
                    "certificate_no": insp.certificate_no if insp else "",
                    "is_lead": a.is_lead,
                }
            )
        form_checkins = checkins.get(form.id, [])
        latest_signatures: dict[tuple[str, str], FormSignature] = {}
        for sig in signatures.get(form.id, []):
            latest_signatures[(sig.signer, sig.name)] = sig
        proposed = form.proposed_result or {}
        out.append(
            {
                "id": str(form.id),
                "code": form.code,
                "version": form.version,
                "status": form.status,
                "task": _task_info(session, form),
                "deadline_start": _iso(form.deadline_start),
                "deadline_complete": _iso(form.deadline_complete),
                "working_days_left": _working_days_left(today, form.deadline_complete, overrides),
                "inspection_date": _iso(form.inspection_date),
                "enterprise": _enterprise_payload(form, enterprises.get(form.enterprise_id)),
                "team": team,
                "checkpoints": [_checkpoint_payload(cp) for cp in form.checkpoints or []],
                "answers": {
                    a.checkpoint_key: {
                        "value": a.value,
                        "note": a.note,
                        "inspector_id": str(a.inspector_id),
                        "answered_at": _iso(a.answered_at),
                    }
                    for a in answers.get(form.id, [])
                },
                "checkin": _checkin_payload(form_checkins[-1]) if form_checkins else None,
                "checkins": [_checkin_payload(c) for c in form_checkins],
                "signatures": [
                    {
                        "id": str(s.id),
                        "signer": s.signer,
                        "name": s.name,
                        "signed_at": _iso(s.signed_at),
                        "sha256": s.sha256,
                        "inspector_id": str(s.inspector_id),
                    }
                    for s in latest_signatures.values()
                ],
                "evidence": [
                    {
                        "id": str(e.id),
                        "checkpoint_key": e.checkpoint_key,
                        "kind": e.kind,
                        "sha256": e.sha256,
                        "size": e.size,
                        "filename": e.filename,
                        "captured_at": _iso(e.captured_at),
                        "status": e.status,
                        "rejected_reason": e.rejected_reason,
                    }
                    for e in evidence.get(form.id, [])
                ],
                "confirmations": [str(i) for i in confirmations.get(form.id, [])],
                "proposed_result": proposed.get("category"),
                "proposed_details": proposed.get("details") or "",
                "review_comments": [
                    {
                        "id": str(c.id),
                        "checkpoint_key": c.checkpoint_key,
                        "comment": c.comment,
                        "kind": c.kind,
                        "by": authors[c.author_id].display_name if c.author_id in authors else "",
                        "at": _iso(c.created_at),
                        "resolved": c.resolved_at is not None,
                    }
                    for c in comments.get(form.id, [])
                ],
                "previous_results": previous.get(form.id, []),
                "updated_at": _iso(form.updated_at),
            }
        )
    return out


def _checkin_payload(c: FormCheckin) -> dict[str, Any]:
    return {
        "at": _iso(c.at),
        "lat": c.lat,
        "lng": c.lng,
        "accuracy_m": c.accuracy_m,
        "no_fix_reason": c.no_fix_reason,
        "inspector_id": str(c.inspector_id),
    }


def _previous_results(session: Session, forms: list[InspectionForm]) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Earlier concluded inspections of the same enterprises (most recent first, at most 5 each)."""
    enterprise_ids = {f.enterprise_id for f in forms}
    rows = session.execute(
        select(InspectionForm)
        .where(
            InspectionForm.enterprise_id.in_(enterprise_ids),  # type: ignore[attr-defined]
            InspectionForm.status.in_(("approved", "closed")),  # type: ignore[attr-defined]
        )
        .order_by(InspectionForm.completed_at.desc())  # type: ignore[union-attr]
    ).scalars()
    by_enterprise: dict[uuid.UUID, list[InspectionForm]] = defaultdict(list)
    for row in rows:
        by_enterprise[row.enterprise_id].append(row)
    result: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for form in forms:
        items = []
        for prev in by_enterprise.get(form.enterprise_id, []):
            if prev.id == form.id:
                continue
            outcome = prev.proposed_result or {}
            when = prev.completed_at or prev.submitted_at
            items.append(
                {
                    "date": _iso(when.date() if when else prev.inspection_date),
                    "category": outcome.get("category"),
                    "summary": outcome.get("details") or "",
                }
            )
            if len(items) == 5:
                break
        result[form.id] = items
    return result


# -- push ----------------------------------------------------------------------------------------


@dataclass
class _Ctx:
    session: Session
    actor: User
    inspector_id: uuid.UUID
    device_id: str
    op_id: uuid.UUID
    op_type: str
    base_version: int
    settings: Settings
    store: Any
    now: datetime


class _ConflictSignal(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def payload_hash(op_type: str, form_id: uuid.UUID, payload: Any) -> str:
    body = canonical_json({"type": op_type, "form_id": str(form_id), "payload": payload})
    return hashlib.sha256(body.encode()).hexdigest()


def push(
    *,
    session: Session,
    actor: User,
    settings: Settings,
    store: Any,
    device_id: str,
    operations: Iterable[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Apply each operation on its own; the result list says exactly which landed."""
    inspector_id = require_field_inspector(actor)
    results = []
    for op in operations:
        results.append(
            _push_one(
                session=session,
                actor=actor,
                inspector_id=inspector_id,
                settings=settings,
                store=store,
                device_id=device_id,
                op=op,
            )
        )
    return results


def _result(
    op_id: uuid.UUID, status: str, code: int, form_version: int | None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"op_id": str(op_id), "status": status, "code": code, "form_version": form_version}
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def _replay(prior: SyncOperation, actor: User, digest: str) -> dict[str, Any]:
    if prior.user_id != actor.id or prior.payload_hash != digest:
        return _result(
            prior.op_id,
            "rejected",
            422,
            None,
            message="该操作编号已用于内容不同的操作",
            errors={"op_id": ["操作编号重复但内容不同"]},
        )
    return {**prior.result, "status": "duplicate"}


def _current_version(session: Session, form_id: uuid.UUID) -> int | None:
    return session.execute(
        select(InspectionForm.version).where(InspectionForm.id == form_id)
    ).scalar_one_or_none()


def _push_one(
    *,
    session: Session,
    actor: User,
    inspector_id: uuid.UUID,
    settings: Settings,
    store: Any,
    device_id: str,
    op: dict[str, Any],
) -> dict[str, Any]:
    op_id: uuid.UUID = op["op_id"]
    op_type: str = op["type"]
    form_id: uuid.UUID = op["form_id"]
    raw_payload = op.get("payload") or {}
    digest = payload_hash(op_type, form_id, raw_payload)
    session.rollback()  # each operation starts clean: nothing of the previous one leaks into it
    prior = session.get(SyncOperation, op_id)
    if prior is not None:
        return _replay(prior, actor, digest)
    try:
        payload = PAYLOADS[op_type]().load(raw_payload)
    except ValidationError as exc:
        return _result(
            op_id, "rejected", 422, None, message="提交的数据未通过校验", errors={"payload": exc.messages}
        )
    try:
        form = form_for_field_work(session, actor, form_id)
    except NotFound as exc:
        session.rollback()
        return _result(op_id, "rejected", 404, None, message=exc.message)
    form = lock_form(session, form.id)
    prior = session.execute(select(SyncOperation).where(SyncOperation.op_id == op_id)).scalar_one_or_none()
    if prior is not None:  # the same operation landed from a concurrent request while we waited for the lock
        session.rollback()
        return _replay(prior, actor, digest)
    ctx = _Ctx(
        session=session,
        actor=actor,
        inspector_id=inspector_id,
        device_id=device_id,
        op_id=op_id,
        op_type=op_type,
        base_version=int(op["base_version"]),
        settings=settings,
        store=store,
        now=utcnow(),
    )
    try:
        if form.status not in FIELD_EDITABLE_STATUSES:
            raise _ConflictSignal("检查表已提交或已办结，不能再修改")
        outcome = _HANDLERS[op_type](ctx, form, payload)
    except _ConflictSignal as signal:
        session.rollback()
        return _conflict_result(session, op_id, form_id, signal.message)
    except DomainError as exc:
        session.rollback()
        return _result(
            op_id,
            "rejected",
            exc.status_code,
            _current_version(session, form_id),
            message=exc.message,
            errors=exc.errors or None,
        )
    status = outcome.pop("_status", "applied")
    field_key = outcome.pop("_field_key")
    result = _result(op_id, status, 200, form.version, **outcome)
    session.add(
        SyncOperation(
            op_id=op_id,
            user_id=actor.id,
            form_id=form.id,
            type=op_type,
            field_key=field_key,
            form_version=form.version if status == "applied" else 0,  # 0: changed nothing (conflict checks)
            device_id=device_id,
            payload_hash=digest,
            result=result,
            created_at=ctx.now,
        )
    )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        prior = session.get(SyncOperation, op_id)
        if prior is not None:
            return _replay(prior, actor, digest)
        raise
    return result


def _conflict_result(session: Session, op_id: uuid.UUID, form_id: uuid.UUID, message: str) -> dict[str, Any]:
    form = session.get(InspectionForm, form_id, populate_existing=True)
    copy = serialize_forms(session, [form])[0] if form is not None else None
    return _result(op_id, "conflict", 409, form.version if form else None, message=message, server_copy=copy)


def lock_form(session: Session, form_id: uuid.UUID) -> InspectionForm:
    """Take the form's row lock (PostgreSQL) / the write lock (SQLite) and return a fresh copy."""
    session.execute(
        update(InspectionForm)
        .where(InspectionForm.id == form_id)  # type: ignore[arg-type]
        .values(version=InspectionForm.version)
        .execution_options(synchronize_session=False)
    )
    form = session.get(InspectionForm, form_id, populate_existing=True)
    if form is None:
        raise NotFound("检查表不存在")
    return form


def touch_form(session: Session, form: InspectionForm, *, now: datetime | None = None) -> int:
    """One server-side change to the form: bump its version, and leave 'dispatched' on the first write."""
    form.version += 1
    form.updated_at = now or utcnow()
    if form.status in FORM_STATUS_AFTER_FIRST_WRITE:
        form.status = FORM_STATUS_AFTER_FIRST_WRITE[form.status]
    session.add(form)
    return form.version


def _changed_by_others(
    ctx: _Ctx,
    form: InspectionForm,
    *,
    field_keys: list[str] | None = None,
    types: tuple[str, ...] | None = None,
) -> bool:
    """Did another user or device write these fields (or this kind of content) after the client's base?"""
    stmt = select(SyncOperation.op_id).where(
        SyncOperation.form_id == form.id,
        SyncOperation.form_version > ctx.base_version,
        or_(SyncOperation.user_id != ctx.actor.id, SyncOperation.device_id != ctx.device_id),
    )
    if field_keys is not None:
        stmt = stmt.where(SyncOperation.field_key.in_(field_keys))  # type: ignore[attr-defined]
    if types is not None:
        stmt = stmt.where(SyncOperation.type.in_(types))  # type: ignore[attr-defined]
    return session_first(ctx.session, stmt.limit(1)) is not None


def session_first(session: Session, stmt: Any) -> Any:
    return session.execute(stmt).first()


def _checkpoint(form: InspectionForm, key: str) -> dict[str, Any]:
    for cp in form.checkpoints or []:
        if cp.get("key") == key:
            return cp
    raise Invalid("检查要点不存在", errors={"checkpoint_key": [f"本表没有检查要点 {key}"]})


def _check_value(cp: dict[str, Any], value: Any) -> None:
    if value is None:
        return
    kind = cp.get("answer_kind") or "pass_fail"
    if kind == "pass_fail" and value not in PASS_FAIL_VALUES:
        raise Invalid("检查结论只能是合格、不合格或不涉及", errors={"value": ["应为 pass、fail 或 na"]})
    if kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise Invalid("该检查要点需要填写数值", errors={"value": ["应为数值"]})
    if kind == "text" and (not isinstance(value, str) or len(value) > 2000):
        raise Invalid("该检查要点需要填写文字（不超过 2000 字）", errors={"value": ["应为文本"]})
    if kind == "choice":
        options = [
            o.get("value", o.get("label")) if isinstance(o, dict) else o for o in cp.get("options") or []
        ]
        if options and value not in options:
            raise Invalid("所选选项不在该检查要点的选项中", errors={"value": ["无效选项"]})


def _audit(
    ctx: _Ctx,
    form: InspectionForm,
    action: str,
    data: dict[str, Any],
    *,
    entity: str = "inspection_form",
    entity_id: Any = None,
) -> None:
    audit.record(
        session=ctx.session,
        actor=ctx.actor,
        action=action,
        entity=entity,
        entity_id=entity_id or form.id,
        data={
            "op_id": str(ctx.op_id),
            "form_id": str(form.id),
            "device_id": ctx.device_id,
            "inspector_id": str(ctx.inspector_id),
            "form_version": form.version,
            **data,
        },
    )


def _apply_answer(ctx: _Ctx, form: InspectionForm, p: dict[str, Any]) -> dict[str, Any]:
    key = p["checkpoint_key"]
    cp = _checkpoint(form, key)
    _check_value(cp, p["value"])
    keys = [f"answer:{key}"] + ([f"note:{key}"] if p.get("note") is not None else [])
    if _changed_by_others(ctx, form, field_keys=keys):
        raise _ConflictSignal("该检查要点已被其他检查人员修改，请查看服务器上的内容后再决定")
    version = touch_form(ctx.session, form, now=ctx.now)
    answer = ctx.session.execute(
        select(FormAnswer).where(FormAnswer.form_id == form.id, FormAnswer.checkpoint_key == key)
    ).scalar_one_or_none()
    if answer is None:
        answer = FormAnswer(
            form_id=form.id, checkpoint_key=key, inspector_id=ctx.inspector_id, op_id=ctx.op_id
        )
    answer.value = p["value"]
    if p.get("note") is not None:
        answer.note = p["note"]
    answer.inspector_id = ctx.inspector_id
    answer.device_id = ctx.device_id
    answer.answered_at = p["answered_at"]
    answer.received_at = ctx.now
    answer.op_id = ctx.op_id
    answer.version = version
    ctx.session.add(answer)
    _audit(
        ctx,
        form,
        "form.answer",
        {"checkpoint_key": key, "value": p["value"], "note": p.get("note"), "answered_at": p["answered_at"]},
    )
    return {"_field_key": f"answer:{key}"}


def _apply_note(ctx: _Ctx, form: InspectionForm, p: dict[str, Any]) -> dict[str, Any]:
    key = p.get("checkpoint_key")
    field_key = f"note:{key}" if key else f"note:form:{ctx.op_id}"
    if key:
        _checkpoint(form, key)
        if _changed_by_others(ctx, form, field_keys=[field_key]):
            raise _ConflictSignal("该检查要点的备注已被其他检查人员修改")
    version = touch_form(ctx.session, form, now=ctx.now)
    ctx.session.add(
        FormNote(
            form_id=form.id,
            checkpoint_key=key,
            text=p["text"],
            inspector_id=ctx.inspector_id,
            device_id=ctx.device_id,
            received_at=ctx.now,
            op_id=ctx.op_id,
            version=version,
        )
    )
    if key:  # a checkpoint's note is part of its answer (the field clients show)
        answer = ctx.session.execute(
            select(FormAnswer).where(FormAnswer.form_id == form.id, FormAnswer.checkpoint_key == key)
        ).scalar_one_or_none()
        if answer is None:
            answer = FormAnswer(
                form_id=form.id,
                checkpoint_key=key,
                value=None,
                inspector_id=ctx.inspector_id,
                device_id=ctx.device_id,
                answered_at=ctx.now,
                op_id=ctx.op_id,
            )
        answer.note = p["text"]
        answer.version = version
        ctx.session.add(answer)
    _audit(ctx, form, "form.note", {"checkpoint_key": key, "text": p["text"]})
    return {"_field_key": field_key}


def _apply_checkin(ctx: _Ctx, form: InspectionForm, p: dict[str, Any]) -> dict[str, Any]:
    if _changed_by_others(ctx, form, field_keys=["checkin"]):
        raise _ConflictSignal("其他检查人员已更新签到信息")
    version = touch_form(ctx.session, form, now=ctx.now)
    has_fix = p.get("lat") is not None and p.get("lng") is not None
    ctx.session.add(
        FormCheckin(
            form_id=form.id,
            at=p["at"],
            lat=p.get("lat") if has_fix else None,
            lng=p.get("lng") if has_fix else None,
            accuracy_m=p.get("accuracy_m") if has_fix else None,
            no_fix_reason=None if has_fix else p.get("no_fix_reason"),
            inspector_id=ctx.inspector_id,
            device_id=ctx.device_id,
            received_at=ctx.now,
            op_id=ctx.op_id,
            version=version,
        )
    )
    _audit(
        ctx, form, "form.checkin", {k: p.get(k) for k in ("at", "lat", "lng", "accuracy_m", "no_fix_reason")}
    )
    return {"_field_key": "checkin"}


def _apply_signature(ctx: _Ctx, form: InspectionForm, p: dict[str, Any]) -> dict[str, Any]:
    from storage import ObjectExists, evidence_key

    field_key = f"signature:{p['signer']}:{p['name']}"
    if _changed_by_others(ctx, form, field_keys=[field_key]):
        raise _ConflictSignal("该签名已被其他设备更新")
    image = base64.b64decode(p["image_png_base64"])
    digest = hashlib.sha256(image).hexdigest()
    key = evidence_key(digest)
    try:
        ctx.store.put(key, io.BytesIO(image), len(image), "image/png")
    except ObjectExists:
        pass  # content-addressed: the same image is already kept
    version = touch_form(ctx.session, form, now=ctx.now)
    sig = FormSignature(
        form_id=form.id,
        signer=p["signer"],
        name=p["name"],
        sha256=digest,
        object_key=key,
        signed_at=p["signed_at"],
        received_at=ctx.now,
        inspector_id=ctx.inspector_id,
        device_id=ctx.device_id,
        op_id=ctx.op_id,
        version=version,
    )
    ctx.session.add(sig)
    _audit(
        ctx,
        form,
        "form.signature",
        {"signer": p["signer"], "name": p["name"], "sha256": digest, "signed_at": p["signed_at"]},
    )
    return {"_field_key": field_key, "signature": {"id": str(sig.id), "sha256": digest}}


def evidence_limit_bytes(settings: Settings, kind: str) -> int:
    return int(settings.upload_limits_mb.get(kind, 0)) * MiB


def quota_used(session: Session, user_id: uuid.UUID, *, excluding: uuid.UUID | None = None) -> int:
    """Bytes a user has declared (not rejected) plus open uploads whose record has not arrived yet."""
    params: dict[str, Any] = {"user_id": user_id}
    if excluding is not None:
        params["excluding"] = excluding
    return int(session.execute(_quota_statement(excluding is not None), params).scalar_one())


@functools.cache
def _quota_statement(excluding: bool) -> Any:
    """Both sums in one statement, built once (on every upload creation and evidence declaration); each is found
    through an index (`ix_evidence_user_id`; `ix_upload_state` with the evidence primary key)."""
    declared = select(func.coalesce(func.sum(Evidence.size), 0)).where(
        Evidence.user_id == bindparam("user_id"), Evidence.status != "rejected"
    )
    orphans = select(func.coalesce(func.sum(Upload.length), 0)).where(
        Upload.created_by == bindparam("user_id"),
        Upload.state == "open",
        Upload.evidence_id.not_in(select(Evidence.id)),  # type: ignore[attr-defined]
    )
    if excluding:
        declared = declared.where(Evidence.id != bindparam("excluding"))
        orphans = orphans.where(Upload.evidence_id != bindparam("excluding"))
    return select(declared.scalar_subquery() + orphans.scalar_subquery())


def check_size_and_quota(
    session: Session, settings: Settings, user: User, kind: str | None, size: int, evidence_id: uuid.UUID
) -> None:
    limits = (
        [evidence_limit_bytes(settings, kind)]
        if kind
        else [evidence_limit_bytes(settings, k) for k in settings.upload_limits_mb]
    )
    limit = max(limits) if limits else 0
    if size > limit:
        raise TooLarge(
            f"文件过大：该类证据不能超过 {limit // MiB} MB",
            errors={"size": [f"不能超过 {limit} 字节"]},
            limit=limit,
        )
    quota = int(settings.user_quota_mb) * MiB
    used = quota_used(session, user.id, excluding=evidence_id)
    if used + size > quota:
        raise TooLarge(
            f"已超出个人存储配额（{settings.user_quota_mb} MB）",
            errors={"size": ["超出配额"]},
            quota=quota,
            used=used,
        )


def _apply_evidence(ctx: _Ctx, form: InspectionForm, p: dict[str, Any]) -> dict[str, Any]:
    evidence_id: uuid.UUID = p["evidence_id"]
    field_key = f"evidence:{evidence_id}"
    existing = ctx.session.get(Evidence, evidence_id)
    if existing is not None:
        same = (
            existing.form_id == form.id
            and existing.sha256 == p["sha256"]
            and existing.size == p["size"]
            and existing.kind == p["kind"]
        )
        if not same:
            raise Invalid(
                "该证据编号已登记为其他文件；证据一经登记不可更改", errors={"evidence_id": ["编号已被占用"]}
            )
        # The same record sent again under a new op_id (a lost answer): one record, nothing changes.
        return {
            "_field_key": field_key,
            "_status": "duplicate",
            "message": "该证据已登记",
            "evidence": {"id": str(existing.id), "status": existing.status},
        }
    if p.get("checkpoint_key"):
        _checkpoint(form, p["checkpoint_key"])
    if p["size"] == 0:
        raise Invalid("文件为空（0 字节），不能作为证据", errors={"size": ["文件为空"]})
    check_size_and_quota(ctx.session, ctx.settings, ctx.actor, p["kind"], p["size"], evidence_id)
    version = touch_form(ctx.session, form, now=ctx.now)
    ev = Evidence(
        id=evidence_id,
        form_id=form.id,
        checkpoint_key=p.get("checkpoint_key"),
        kind=p["kind"],
        sha256=p["sha256"],
        size=p["size"],
        mime=p.get("mime") or "",
        filename=p.get("filename") or "",
        captured_at=p["captured_at"],
        declared_at=ctx.now,
        lat=p.get("lat"),
        lng=p.get("lng"),
        accuracy_m=p.get("accuracy_m"),
        device_id=ctx.device_id,
        inspector_id=ctx.inspector_id,
        user_id=ctx.actor.id,
        status="declared",
        op_id=ctx.op_id,
        version=version,
    )
    ctx.session.add(ev)
    _audit(
        ctx,
        form,
        "evidence.declared",
        {
            "evidence_id": str(evidence_id),
            "checkpoint_key": p.get("checkpoint_key"),
            "kind": p["kind"],
            "sha256": p["sha256"],
            "size": p["size"],
            "mime": p.get("mime"),
            "filename": p.get("filename"),
            "captured_at": p["captured_at"],
            "lat": p.get("lat"),
            "lng": p.get("lng"),
            "accuracy_m": p.get("accuracy_m"),
        },
        entity="evidence",
        entity_id=evidence_id,
    )
    return {"_field_key": field_key, "evidence": {"id": str(evidence_id), "status": "declared"}}


def _apply_confirm(ctx: _Ctx, form: InspectionForm, _p: dict[str, Any]) -> dict[str, Any]:
    if _changed_by_others(ctx, form, types=CONTENT_OPS):
        raise _ConflictSignal("检查表内容在您确认前已被修改，请核对最新内容后重新确认")
    version = touch_form(ctx.session, form, now=ctx.now)
    conf = ctx.session.execute(
        select(FormConfirmation).where(
            FormConfirmation.form_id == form.id, FormConfirmation.inspector_id == ctx.inspector_id
        )
    ).scalar_one_or_none()
    if conf is None:
        conf = FormConfirmation(form_id=form.id, inspector_id=ctx.inspector_id, op_id=ctx.op_id)
    conf.at = ctx.now
    conf.version = version
    conf.op_id = ctx.op_id
    ctx.session.add(conf)
    _audit(ctx, form, "form.confirm", {})
    return {"_field_key": f"confirm:{ctx.inspector_id}"}


def _apply_propose_result(ctx: _Ctx, form: InspectionForm, p: dict[str, Any]) -> dict[str, Any]:
    if _changed_by_others(ctx, form, field_keys=["propose_result"]):
        raise _ConflictSignal("拟定检查结果已被其他检查人员修改")
    touch_form(ctx.session, form, now=ctx.now)
    form.proposed_result = {
        "category": p["category"],
        "details": p.get("details") or "",
        "inspector_id": str(ctx.inspector_id),
        "at": ctx.now.isoformat(),
    }
    ctx.session.add(form)
    _audit(ctx, form, "form.propose_result", {"category": p["category"], "details": p.get("details")})
    return {"_field_key": "propose_result"}


MIN_CONFIRMATIONS = 2


def submission_blockers(session: Session, form: InspectionForm) -> dict[str, list[str]]:
    """Why the form cannot be submitted yet (empty when it can)."""
    blockers: dict[str, list[str]] = {}
    pending = (
        session.execute(select(Evidence.id).where(Evidence.form_id == form.id, Evidence.status == "declared"))
        .scalars()
        .all()
    )
    if pending:
        blockers["evidence"] = [str(i) for i in pending]
    confirmed = valid_confirmations(session, [form.id]).get(form.id, [])
    if len(confirmed) < MIN_CONFIRMATIONS:
        blockers["confirmations"] = [f"需要至少 {MIN_CONFIRMATIONS} 名检查人员确认，当前 {len(confirmed)} 名"]
    return blockers


def _apply_submit(ctx: _Ctx, form: InspectionForm, _p: dict[str, Any]) -> dict[str, Any]:
    if _changed_by_others(ctx, form, types=CONTENT_OPS):
        raise _ConflictSignal("检查表内容在提交前已被修改，请核对最新内容后再提交")
    blockers = submission_blockers(ctx.session, form)
    if blockers:
        parts = []
        if "evidence" in blockers:
            parts.append(f"还有 {len(blockers['evidence'])} 个证据文件未上传并通过校验")
        if "confirmations" in blockers:
            parts.append(blockers["confirmations"][0])
        raise Invalid("暂不能提交：" + "；".join(parts), errors=blockers)
    previous_status = form.status
    form.version += 1
    form.updated_at = ctx.now
    form.status = "submitted"
    form.submitted_at = ctx.now
    ctx.session.add(form)
    _audit(ctx, form, "form.submit", {"from_status": previous_status})
    return {"_field_key": "submit"}


_HANDLERS = {
    "answer": _apply_answer,
    "note": _apply_note,
    "checkin": _apply_checkin,
    "signature": _apply_signature,
    "evidence": _apply_evidence,
    "confirm": _apply_confirm,
    "propose_result": _apply_propose_result,
    "submit": _apply_submit,
}

__all__ = [
    "Conflict",
    "current_change_seq",
    "decode_cursor",
    "encode_cursor",
    "lock_form",
    "mark_form_changed",
    "pull",
    "push",
    "serialize_forms",
    "submission_blockers",
    "touch_form",
]
