"""Inspection results: standard categories per form and per check item, deadlines, follow-ups until closed."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlmodel import Session

from ..errors import Conflict, Invalid, NotFound
from ..models.accounts import User
from ..models.audit import AuditEntry
from ..models.base import utcnow
from ..models.directory import CalendarOverride, Department, Enterprise
from ..models.forms import InspectionForm
from ..models.results import (
    CATEGORY_BY_CODE,
    CATEGORY_LABELS,
    FOLLOW_UP_KIND_LABELS,
    FOLLOW_UP_KINDS,
    FOLLOW_UP_STATUS_LABELS,
    PUBLICATION_STATUS_LABELS,
    RESULT_CATEGORIES,
    WITHHOLD_STATUS_LABELS,
    FollowUp,
    FollowUpEvent,
    InspectionResult,
    InspectionResultItem,
)
from . import audit, result_scope
from .querying import like_pattern

CHINA = timezone(timedelta(hours=8))  # 中国标准时间: no daylight saving, so a fixed offset is exact
RESULTS_WITHIN_WORKDAYS = 20  # 自抽查检查完成之日起 20 个工作日内录入并公示
COMPLETED_STATUSES = ("submitted", "returned", "approved", "closed")  # the field inspection was completed
RESULT_NOT_FOUND = "检查结果不存在"
FOLLOW_UP_NOT_FOUND = "后续处置事项不存在"


# ------------------------------------------------------------------------------------------- categories


def _fold(text: str) -> str:
    return text.strip().replace("(", "（").replace(")", "）").replace("、", "/").replace(" ", "")


_BY_LABEL = {_fold(c.label): c.code for c in RESULT_CATEGORIES}


def normalize_category(value: str | None, *, field: str = "category") -> str:
    """A category code from a code or its Chinese label (the field app proposes labels)."""
    if value is None or not str(value).strip():
        raise Invalid("请选择检查结果类别", errors={field: ["必填"]})
    raw = str(value).strip()
    if raw in CATEGORY_BY_CODE:
        return raw
    code = _BY_LABEL.get(_fold(raw))
    if code is None:
        raise Invalid("检查结果类别不是标准类别", errors={field: [f"不支持的类别：{raw}"]})
    return code


def category_view(code: str | None) -> dict[str, Any] | None:
    if code is None:
        return None
    cat = CATEGORY_BY_CODE.get(code)
    return {"code": code, "label": CATEGORY_LABELS.get(code, code), "problem": bool(cat and cat.problem)}


def categories() -> list[dict[str, Any]]:
    return [
        {"code": c.code, "label": c.label, "problem": c.problem, "whole_form": c.whole_form}
        for c in RESULT_CATEGORIES
    ]


# -------------------------------------------------------------------------------------------- deadlines


def china_date(value: datetime) -> date:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(CHINA).date()


def today_china() -> date:
    return china_date(utcnow())


def load_overrides(session: Session) -> dict[date, bool]:
    return {row.day: row.is_workday for row in session.execute(select(CalendarOverride)).scalars()}


def _weekday_add(start: date, n: int) -> date:
    day, left = start, n
    while left:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return day


def results_deadline(
    session: Session,
    completed_on: date,
    *,
    overrides: Mapping[date, bool] | None = None,
) -> tuple[date, bool]:
    """(deadline, estimated): 20 工作日 after completion; Mon–Fri when the calendar lacks the year."""
    from . import workdays

    table = load_overrides(session) if overrides is None else overrides
    try:
        return workdays.add_workdays(completed_on, RESULTS_WITHIN_WORKDAYS, table), False
    except workdays.CalendarNotCovered:
        return _weekday_add(completed_on, RESULTS_WITHIN_WORKDAYS), True


def workdays_left(today: date, deadline: date | None, overrides: Mapping[date, bool]) -> int | None:
    """Working days from today to the deadline (0 on the day, negative once it has passed)."""
    if deadline is None:
        return None
    from . import workdays

    try:
        return workdays.workdays_between(today, deadline, overrides)
    except workdays.CalendarNotCovered:
        sign = 1 if deadline >= today else -1
        a, b = sorted((today, deadline))
        return sign * sum(1 for i in range(1, (b - a).days + 1) if (a + timedelta(days=i)).weekday() < 5)


def first_submissions(session: Session, forms: Iterable[InspectionForm]) -> dict[uuid.UUID, datetime]:
    """When each form was first submitted (the completion): resubmissions do not move the clock."""
    forms = list(forms)
    out: dict[uuid.UUID, datetime] = {}
    ids = [str(f.id) for f in forms]
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        rows = session.execute(
            select(AuditEntry.entity_id, func.min(AuditEntry.at))
            .where(
                AuditEntry.entity == "inspection_form",
                AuditEntry.action == "form.submit",
                AuditEntry.entity_id.in_(chunk),
            )  # type: ignore[attr-defined]
            .group_by(AuditEntry.entity_id)
        ).all()
        for entity_id, at in rows:
            out[uuid.UUID(entity_id)] = at
    for form in forms:
        if form.id not in out and form.submitted_at is not None:
            out[form.id] = form.submitted_at
    return out


def submission_count(session: Session, form_id: uuid.UUID) -> int:
    return int(
        session.execute(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.entity == "inspection_form",
                AuditEntry.action == "form.submit",
                AuditEntry.entity_id == str(form_id),
            )
        ).scalar_one()
    )


# ---------------------------------------------------------------------------------------------- items


@dataclass
class FormItem:
    key: str
    item_version_id: uuid.UUID | None
    item_code: str
    item_name: str
    department_id: uuid.UUID | None
    checkpoint_keys: list[str]


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def form_items(form: InspectionForm) -> list[FormItem]:
    """The check items of a joint form, from its merged checkpoints (a merged one counts for each source)."""
    items: dict[str, FormItem] = {}
    for cp in form.checkpoints or []:
        sources = cp.get("merged_from") or [cp]
        for src in sources:
            version_id = src.get("item_version_id") or cp.get("item_version_id")
            code = src.get("item_code") or cp.get("item_code") or ""
            name = src.get("item_name") or cp.get("item_name") or ""
            key = str(version_id or code or name or "form")
            item = items.get(key)
            if item is None:
                item = items[key] = FormItem(
                    key=key,
                    item_version_id=_uuid_or_none(version_id),
                    item_code=code,
                    item_name=name or code or "检查事项",
                    department_id=_uuid_or_none(src.get("department_id") or cp.get("department_id")),
                    checkpoint_keys=[],
                )
            key_of_cp = str(cp.get("key") or "")
            if key_of_cp not in item.checkpoint_keys:
                item.checkpoint_keys.append(key_of_cp)
    if not items:
        items["form"] = FormItem("form", None, "", "检查事项", form.lead_department_id, [])
    return list(items.values())


def default_item_category(overall: str, item: FormItem, failed_keys: set[str]) -> str:
    """Whole-enterprise categories apply to every item; a problem category to items with a failed answer."""
    cat = CATEGORY_BY_CODE[overall]
    if cat.whole_form or not cat.problem:
        return overall
    return overall if failed_keys.intersection(item.checkpoint_keys) else "no_problem"


# ------------------------------------------------------------------------------------------ entering


def enter_result(
    *,
    session: Session,
    actor: User,
    form: InspectionForm,
    category: str,
    details: str,
    items: list[Mapping[str, Any]] | None,
    completed_at: datetime,
    failed_keys: set[str],
) -> InspectionResult:
    """Create the form's result (in the caller's transaction): the supervisor confirms it at approval."""
    if session.execute(select(InspectionResult.id).where(InspectionResult.form_id == form.id)).first():
        raise Conflict("该检查表已录入检查结果")
    completed_on = china_date(completed_at)
    deadline, estimated = results_deadline(session, completed_on)
    now = utcnow()
    result = InspectionResult(
        form_id=form.id,
        enterprise_id=form.enterprise_id,
        task_id=form.task_id,
        department_id=form.lead_department_id,
        department_ids=[str(d) for d in (form.department_ids or [])],
        category=category,
        details=details or "",
        completed_on=completed_on,
        entry_deadline=deadline,
        publication_deadline=deadline,
        deadline_estimated=estimated,
        entered_at=now,
        entered_by=actor.id,
        created_at=now,
        updated_at=now,
    )
    session.add(result)
    session.flush()
    rows = _item_rows(form, result, category, items or [], failed_keys)
    for row in rows:
        session.add(row)
    audit.record(
        session=session,
        actor=actor,
        action="result.enter",
        entity="inspection_result",
        entity_id=result.id,
        data={
            "form_id": str(form.id),
            "category": category,
            "details": details,
            "completed_on": completed_on.isoformat(),
            "entry_deadline": deadline.isoformat(),
            "publication_deadline": deadline.isoformat(),
            "deadline_estimated": estimated,
            "items": {r.item_key: r.category for r in rows},
        },
    )
    return result


def _item_rows(
    form: InspectionForm,
    result: InspectionResult,
    overall: str,
    given: list[Mapping[str, Any]],
    failed_keys: set[str],
) -> list[InspectionResultItem]:
    items = form_items(form)
    by_key = {i.key: i for i in items}
    by_code = {i.item_code: i for i in items if i.item_code}
    chosen: dict[str, tuple[str, str]] = {}
    for n, entry in enumerate(given):
        ref = str(entry.get("item_key") or entry.get("item_version_id") or entry.get("item_code") or "")
        item = by_key.get(ref) or by_code.get(ref)
        if item is None:
            raise Invalid(
                "检查事项不在本表中", errors={f"items.{n}": {"item_key": [f"本表没有检查事项 {ref}"]}}
            )
        code = normalize_category(entry.get("category"), field=f"items.{n}.category")
        chosen[item.key] = (code, str(entry.get("details") or ""))
    rows = []
    for item in items:
        code, details = chosen.get(item.key, (default_item_category(overall, item, failed_keys), ""))
        rows.append(
            InspectionResultItem(
                result_id=result.id,
                item_key=item.key[:80],
                item_version_id=item.item_version_id,
                item_code=item.item_code,
                item_name=item.item_name[:200],
                department_id=item.department_id,
                category=code,
                details=details,
            )
        )
    return rows


def amend_result(
    *, session: Session, actor: User, result_id: uuid.UUID, values: Mapping[str, Any]
) -> InspectionResult:
    """Correct an entered result before it is published or withheld (the change is audited)."""
    result = get_result(session=session, actor=actor, result_id=result_id)
    form = session.get(InspectionForm, result.form_id)
    assert form is not None  # noqa: S101 - FK
    result_scope.require_lead(
        actor,
        result.department_id,
        result.department_ids,
        result_scope.REVIEW_ROLES,
        what="修改检查结果",
        message=RESULT_NOT_FOUND,
    )
    if result.publication_status != "pending" or result.withhold_status == "requested":
        raise Conflict("检查结果已公示、已不予公示或正在审批不予公示，不能再修改")
    if "version" in values and values["version"] is not None and values["version"] != result.version:
        raise Conflict("检查结果已被他人修改，请刷新后再试", errors={"version": [str(result.version)]})
    diff: dict[str, list[Any]] = {}
    if values.get("category") is not None:
        code = normalize_category(values["category"])
        if code != result.category:
            diff["category"] = [result.category, code]
            result.category = code
    if values.get("details") is not None and values["details"] != result.details:
        diff["details"] = [result.details, values["details"]]
        result.details = values["details"]
    if values.get("items") is not None or "category" in diff:
        old = {r.item_key: r.category for r in _items_of(session, [result.id])[result.id]}
        for row in _items_of(session, [result.id])[result.id]:
            session.delete(row)
        session.flush()
        rows = _item_rows(
            form, result, result.category, values.get("items") or [], failed_checkpoints(session, form)
        )
        for row in rows:
            session.add(row)
        new = {r.item_key: r.category for r in rows}
        if new != old:
            diff["items"] = [old, new]
    if not diff:
        return result
    result.version += 1
    result.updated_at = utcnow()
    session.add(result)
    audit.record(
        session=session,
        actor=actor,
        action="result.amend",
        entity="inspection_result",
        entity_id=result.id,
        data={"form_id": str(result.form_id), "changes": diff},
    )
    session.commit()
    return result


def failed_checkpoints(session: Session, form: InspectionForm) -> set[str]:
    from ..models.fieldwork import FormAnswer

    rows = session.execute(select(FormAnswer).where(FormAnswer.form_id == form.id)).scalars()
    return {
        a.checkpoint_key for a in rows if a.value == "fail"
    }  # JSON has no equality operator on PostgreSQL


# -------------------------------------------------------------------------------------------- reading


def get_result(*, session: Session, actor: User, result_id: uuid.UUID) -> InspectionResult:
    result = session.get(InspectionResult, result_id)
    if result is None:
        raise NotFound(RESULT_NOT_FOUND)
    result_scope.require_read(actor, result.department_id, result.department_ids, message=RESULT_NOT_FOUND)
    return result


def result_for_form(session: Session, form_id: uuid.UUID) -> InspectionResult | None:
    return session.execute(
        select(InspectionResult).where(InspectionResult.form_id == form_id)
    ).scalar_one_or_none()


@dataclass
class ResultFilter:
    department_id: uuid.UUID | None = None
    publication_status: str | None = None
    withhold_status: str | None = None
    category: str | None = None
    task_id: uuid.UUID | None = None
    q: str | None = None
    year: int | None = None
    overdue: bool | None = None


def _filtered(session: Session, actor: User, f: ResultFilter, today: date) -> Any:
    stmt = select(InspectionResult).join(Enterprise, Enterprise.id == InspectionResult.enterprise_id)
    cond = result_scope.read_filter(
        session, actor, InspectionResult.department_id, InspectionResult.department_ids, f.department_id
    )
    if cond is not None:
        stmt = stmt.where(cond)
    if f.publication_status:
        stmt = stmt.where(InspectionResult.publication_status == f.publication_status)
    if f.withhold_status:
        stmt = stmt.where(InspectionResult.withhold_status == f.withhold_status)
    if f.category:
        stmt = stmt.where(InspectionResult.category == normalize_category(f.category))
    if f.task_id:
        stmt = stmt.where(InspectionResult.task_id == f.task_id)
    if f.year:
        stmt = stmt.where(
            and_(
                InspectionResult.completed_on >= date(f.year, 1, 1),
                InspectionResult.completed_on <= date(f.year, 12, 31),
            )
        )
    if f.q:
        term = f.q.strip()
        stmt = stmt.where(
            or_(
                Enterprise.name.like(like_pattern(term), escape="\\"),  # type: ignore[attr-defined]
                Enterprise.uscc == term.upper(),
            )
        )
    if f.overdue:
        stmt = stmt.where(
            InspectionResult.publication_status == "pending", InspectionResult.publication_deadline < today
        )
    return stmt


def list_results(
    *,
    session: Session,
    actor: User,
    filters: ResultFilter,
    page: int = 1,
    page_size: int = 50,
    today: date | None = None,
) -> tuple[list[InspectionResult], int]:
    today = today or today_china()
    stmt = _filtered(session, actor, filters, today)
    total = session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    rows = (
        session.execute(
            stmt.order_by(InspectionResult.publication_deadline, InspectionResult.id)
            .limit(page_size)
            .offset((page - 1) * page_size)
        )
        .scalars()
        .all()
    )
    return list(rows), int(total)


def all_results(
    *, session: Session, actor: User, filters: ResultFilter, limit: int = 100_000, today: date | None = None
) -> list[InspectionResult]:
    stmt = _filtered(session, actor, filters, today or today_china())
    return list(
        session.execute(
            stmt.order_by(InspectionResult.completed_on, InspectionResult.id).limit(limit)
        ).scalars()
    )


def _items_of(session: Session, result_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[InspectionResultItem]]:
    out: dict[uuid.UUID, list[InspectionResultItem]] = defaultdict(list)
    if result_ids:
        for row in session.execute(
            select(InspectionResultItem)
            .where(InspectionResultItem.result_id.in_(result_ids))  # type: ignore[attr-defined]
            .order_by(InspectionResultItem.item_code, InspectionResultItem.item_key)
        ).scalars():
            out[row.result_id].append(row)
    return out


def follow_ups_of(session: Session, result_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[FollowUp]]:
    out: dict[uuid.UUID, list[FollowUp]] = defaultdict(list)
    if result_ids:
        for row in session.execute(
            select(FollowUp).where(FollowUp.result_id.in_(result_ids)).order_by(FollowUp.created_at)  # type: ignore[attr-defined]
        ).scalars():
            out[row.result_id].append(row)
    return out


def result_views(
    session: Session,
    results: list[InspectionResult],
    *,
    today: date | None = None,
) -> list[dict[str, Any]]:
    """Results as staff see them (everything, nothing masked), loaded in a fixed number of queries."""
    if not results:
        return []
    today = today or today_china()
    overrides = load_overrides(session)
    ids = [r.id for r in results]
    items = _items_of(session, ids)
    follow_ups = follow_ups_of(session, ids)
    forms = {
        f.id: f
        for f in session.execute(
            select(InspectionForm).where(InspectionForm.id.in_([r.form_id for r in results]))  # type: ignore[attr-defined]
        ).scalars()
    }
    enterprises = {
        e.id: e
        for e in session.execute(
            select(Enterprise).where(Enterprise.id.in_({r.enterprise_id for r in results}))  # type: ignore[attr-defined]
        ).scalars()
    }
    dept_ids = {r.department_id for r in results}
    departments = {
        d.id: d
        for d in session.execute(
            select(Department).where(Department.id.in_(dept_ids))  # type: ignore[attr-defined]
        ).scalars()
    }
    user_ids = {
        u
        for r in results
        for u in (r.entered_by, r.published_by, r.withhold_requested_by, r.withhold_approved_by)
        if u
    }
    users = _users(session, user_ids)
    out = []
    for r in results:
        form = forms.get(r.form_id)
        ent = enterprises.get(r.enterprise_id)
        dept = departments.get(r.department_id)
        handled = r.publication_status != "pending"
        left = None if handled else workdays_left(today, r.publication_deadline, overrides)
        out.append(
            {
                "id": r.id,
                "form_id": r.form_id,
                "form_code": form.code if form else "",
                "task_id": r.task_id,
                "enterprise": {
                    "id": r.enterprise_id,
                    "name": ent.name if ent else "",
                    "uscc": ent.uscc if ent else "",
                },
                "department": {"id": r.department_id, "name": dept.name if dept else ""},
                "department_ids": r.department_ids,
                "category": category_view(r.category),
                "details": r.details,
                "items": [
                    {
                        "item_key": i.item_key,
                        "item_version_id": i.item_version_id,
                        "item_code": i.item_code,
                        "item_name": i.item_name,
                        "department_id": i.department_id,
                        "category": category_view(i.category),
                        "details": i.details,
                    }
                    for i in items.get(r.id, [])
                ],
                "follow_ups": [follow_up_view(f) for f in follow_ups.get(r.id, [])],
                "completed_on": r.completed_on,
                "entry_deadline": r.entry_deadline,
                "publication_deadline": r.publication_deadline,
                "deadline_estimated": r.deadline_estimated,
                "workdays_left": left,
                "overdue": (not handled) and r.publication_deadline < today,
                "entered_at": r.entered_at,
                "entered_by": _name(users, r.entered_by),
                "publication_status": r.publication_status,
                "publication_status_label": PUBLICATION_STATUS_LABELS[r.publication_status],
                "published_at": r.published_at,
                "published_by": _name(users, r.published_by),
                "published_on_time": (china_date(r.published_at) <= r.publication_deadline)
                if r.published_at
                else None,
                "withhold": {
                    "status": r.withhold_status,
                    "status_label": WITHHOLD_STATUS_LABELS[r.withhold_status],
                    "reason": r.withheld_reason,
                    "requested_by": _name(users, r.withhold_requested_by),
                    "requested_at": r.withhold_requested_at,
                    "decided_by": _name(users, r.withhold_approved_by),
                    "decided_at": r.withhold_decided_at,
                    "decision_note": r.withhold_decision_note,
                },
                "archived": r.archived,
                "archived_at": r.archived_at,
                "credit_applied_at": r.credit_applied_at,
                "public_url": None,
                "version": r.version,
                "updated_at": r.updated_at,
            }
        )
    return out


def jsonable(data: Any) -> Any:
    """Dates, UUIDs and the like as the audit log stores them (plain JSON values)."""
    return json.loads(audit.canonical_json(data))


def _users(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, User]:
    if not ids:
        return {}
    return {u.id: u for u in session.execute(select(User).where(User.id.in_(ids))).scalars()}  # type: ignore[attr-defined]


def _name(users: Mapping[uuid.UUID, User], user_id: uuid.UUID | None) -> dict[str, Any] | None:
    if user_id is None:
        return None
    user = users.get(user_id)
    return {"id": user_id, "name": user.display_name if user else ""}


# ---------------------------------------------------------------------------------------- follow-ups


def follow_up_view(f: FollowUp, events: list[FollowUpEvent] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f.id,
        "result_id": f.result_id,
        "form_id": f.form_id,
        "enterprise_id": f.enterprise_id,
        "department_id": f.department_id,
        "kind": f.kind,
        "kind_label": FOLLOW_UP_KIND_LABELS.get(f.kind, f.kind),
        "status": f.status,
        "status_label": FOLLOW_UP_STATUS_LABELS.get(f.status, f.status),
        "deadline": f.deadline,
        "overdue": f.status == "open" and f.deadline is not None and f.deadline < today_china(),
        "target_department_id": f.target_department_id,
        "target_authority": f.target_authority,
        "description": f.description,
        "outcome": f.outcome,
        "created_at": f.created_at,
        "updated_at": f.updated_at,
        "closed_at": f.closed_at,
    }
    if events is not None:
        body["history"] = [
            {"at": e.at, "action": e.action, "actor_id": e.actor_id, "note": e.note, "data": e.data}
            for e in events
        ]
    return body


def _check_follow_up(session: Session, values: Mapping[str, Any], *, where: str = "") -> None:
    kind = values.get("kind")
    if kind not in FOLLOW_UP_KINDS:
        raise Invalid("后续处置类型无效", errors={f"{where}kind": [f"可选值：{', '.join(FOLLOW_UP_KINDS)}"]})
    if kind == "rectification" and not values.get("deadline"):
        raise Invalid("责令整改必须写明整改期限", errors={f"{where}deadline": ["必填"]})
    if kind == "transfer_department":
        target = values.get("target_department_id")
        if not target or session.get(Department, target) is None:
            raise Invalid(
                "移送其他部门必须写明接收部门", errors={f"{where}target_department_id": ["部门不存在"]}
            )
    if kind == "transfer_judicial" and not (values.get("target_authority") or "").strip():
        raise Invalid("移送司法机关必须写明接收机关", errors={f"{where}target_authority": ["必填"]})


def add_follow_up(
    session: Session, actor: User, result: InspectionResult, values: Mapping[str, Any], *, where: str = ""
) -> FollowUp:
    """Open a follow-up in the caller's transaction (audited and with its first history event)."""
    _check_follow_up(session, values, where=where)
    now = utcnow()
    follow_up = FollowUp(
        result_id=result.id,
        form_id=result.form_id,
        enterprise_id=result.enterprise_id,
        department_id=result.department_id,
        kind=values["kind"],
        deadline=values.get("deadline"),
        target_department_id=values.get("target_department_id"),
        target_authority=(values.get("target_authority") or "").strip(),
        description=(values.get("description") or "").strip(),
        created_by=actor.id,
        created_at=now,
        updated_at=now,
    )
    session.add(follow_up)
    session.flush()
    data = {
        "kind": follow_up.kind,
        "deadline": follow_up.deadline,
        "description": follow_up.description,
        "target_department_id": follow_up.target_department_id,
        "target_authority": follow_up.target_authority,
    }
    session.add(
        FollowUpEvent(
            follow_up_id=follow_up.id,
            at=now,
            actor_id=actor.id,
            action="opened",
            note=follow_up.description,
            data=jsonable(data),
        )
    )
    audit.record(
        session=session,
        actor=actor,
        action="follow_up.open",
        entity="follow_up",
        entity_id=follow_up.id,
        data={"result_id": str(result.id), "form_id": str(result.form_id), **data},
    )
    return follow_up


def create_follow_up(
    *, session: Session, actor: User, result_id: uuid.UUID, values: Mapping[str, Any]
) -> FollowUp:
    result = get_result(session=session, actor=actor, result_id=result_id)
    result_scope.require_lead(
        actor,
        result.department_id,
        result.department_ids,
        result_scope.FOLLOW_UP_ROLES,
        what="登记后续处置",
        message=RESULT_NOT_FOUND,
    )
    follow_up = add_follow_up(session, actor, result, values)
    _reopen_form_if_closed(session, actor, result)
    session.commit()
    return follow_up


def get_follow_up(
    *, session: Session, actor: User, follow_up_id: uuid.UUID
) -> tuple[FollowUp, InspectionResult]:
    follow_up = session.get(FollowUp, follow_up_id)
    if follow_up is None:
        raise NotFound(FOLLOW_UP_NOT_FOUND)
    result = session.get(InspectionResult, follow_up.result_id)
    assert result is not None  # noqa: S101 - FK
    result_scope.require_read(actor, result.department_id, result.department_ids, message=FOLLOW_UP_NOT_FOUND)
    return follow_up, result


def follow_up_events(session: Session, follow_up_id: uuid.UUID) -> list[FollowUpEvent]:
    return list(
        session.execute(
            select(FollowUpEvent).where(FollowUpEvent.follow_up_id == follow_up_id).order_by(FollowUpEvent.at)  # type: ignore[arg-type]
        ).scalars()
    )


def update_follow_up(
    *,
    session: Session,
    actor: User,
    follow_up_id: uuid.UUID,
    values: Mapping[str, Any],
) -> FollowUp:
    """Change deadline, description or receiver of an open follow-up; close or reopen it; every step kept."""
    follow_up, result = get_follow_up(session=session, actor=actor, follow_up_id=follow_up_id)
    result_scope.require_lead(
        actor,
        result.department_id,
        result.department_ids,
        result_scope.FOLLOW_UP_ROLES,
        what="办理后续处置",
        message=FOLLOW_UP_NOT_FOUND,
    )
    now = utcnow()
    action = values.get("action") or "update"
    note = (values.get("note") or "").strip()
    diff: dict[str, list[Any]] = {}
    if action == "close":
        if follow_up.status == "closed":
            raise Conflict("该后续处置已办结")
        outcome = (values.get("outcome") or "").strip()
        if not outcome:
            raise Invalid("办结时必须写明处置结果", errors={"outcome": ["必填"]})
        diff = {"status": ["open", "closed"], "outcome": [follow_up.outcome, outcome]}
        follow_up.status, follow_up.outcome = "closed", outcome
        follow_up.closed_at, follow_up.closed_by = now, actor.id
    elif action == "reopen":
        if follow_up.status == "open":
            raise Conflict("该后续处置尚未办结")
        if not note:
            raise Invalid("重新开启必须说明理由", errors={"note": ["必填"]})
        diff = {"status": ["closed", "open"]}
        follow_up.status, follow_up.closed_at, follow_up.closed_by = "open", None, None
    elif action == "update":
        if follow_up.status == "closed":
            raise Conflict("已办结的后续处置不能修改，请先重新开启")
        merged = {
            "kind": follow_up.kind,
            "deadline": follow_up.deadline,
            "target_department_id": follow_up.target_department_id,
            "target_authority": follow_up.target_authority,
            **{k: v for k, v in values.items() if v is not None},
        }
        _check_follow_up(session, merged)
        for field in ("deadline", "description", "target_department_id", "target_authority"):
            if field in values and values[field] is not None and getattr(follow_up, field) != values[field]:
                diff[field] = [getattr(follow_up, field), values[field]]
                setattr(follow_up, field, values[field])
        if not diff and not note:
            return follow_up
    else:
        raise Invalid("不支持的操作", errors={"action": ["可选值：update, close, reopen"]})
    follow_up.updated_at = now
    session.add(follow_up)
    data = jsonable({"changes": diff})
    session.add(
        FollowUpEvent(
            follow_up_id=follow_up.id,
            at=now,
            actor_id=actor.id,
            action={"update": "updated", "close": "closed", "reopen": "reopened"}[action],
            note=note or follow_up.outcome if action == "close" else note,
            data=data,
        )
    )
    audit.record(
        session=session,
        actor=actor,
        action=f"follow_up.{action}",
        entity="follow_up",
        entity_id=follow_up.id,
        data={"result_id": str(result.id), "form_id": str(result.form_id), "note": note, **data},
    )
    if action == "close":
        maybe_close_form(session, actor, result)
    elif action == "reopen":
        _reopen_form_if_closed(session, actor, result)
    session.commit()
    return follow_up


def list_follow_ups(
    *,
    session: Session,
    actor: User,
    status: str | None = None,
    overdue: bool | None = None,
    department_id: uuid.UUID | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[FollowUp], int]:
    stmt = select(FollowUp).join(InspectionResult, InspectionResult.id == FollowUp.result_id)
    cond = result_scope.read_filter(
        session, actor, InspectionResult.department_id, InspectionResult.department_ids, department_id
    )
    if cond is not None:
        stmt = stmt.where(cond)
    if status:
        stmt = stmt.where(FollowUp.status == status)
    if overdue:
        stmt = stmt.where(FollowUp.status == "open", FollowUp.deadline < today_china())  # type: ignore[operator]
    total = session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    rows = (
        session.execute(
            stmt.order_by(FollowUp.deadline, FollowUp.created_at)
            .limit(page_size)
            .offset((page - 1) * page_size)  # type: ignore[arg-type]
        )
        .scalars()
        .all()
    )
    return list(rows), int(total)


def open_follow_ups(session: Session, result_id: uuid.UUID) -> int:
    return int(
        session.execute(
            select(func.count())
            .select_from(FollowUp)
            .where(FollowUp.result_id == result_id, FollowUp.status == "open")
        ).scalar_one()
    )


def maybe_close_form(session: Session, actor: User, result: InspectionResult) -> None:
    """办结: the result is published (or withheld with approval) and every follow-up is closed."""
    form = session.get(InspectionForm, result.form_id)
    if form is None or form.status != "approved":
        return
    if result.publication_status == "pending" or open_follow_ups(session, result.id):
        return
    form.status = "closed"
    form.updated_at = utcnow()
    form.version += 1
    session.add(form)
    audit.record(
        session=session,
        actor=actor,
        action="form.close",
        entity="inspection_form",
        entity_id=form.id,
        data={"result_id": str(result.id), "publication_status": result.publication_status},
    )


def _reopen_form_if_closed(session: Session, actor: User, result: InspectionResult) -> None:
    """A new or reopened follow-up means the case is not 办结 any more."""
    form = session.get(InspectionForm, result.form_id)
    if form is not None and form.status == "closed":
        form.status = "approved"
        form.updated_at = utcnow()
        form.version += 1
        session.add(form)
        audit.record(
            session=session,
            actor=actor,
            action="form.reopen",
            entity="inspection_form",
            entity_id=form.id,
            data={"result_id": str(result.id), "reason": "follow_up"},
        )
