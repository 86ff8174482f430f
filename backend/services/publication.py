"""一公开: publish results within 20 工作日 of completion, withhold only with the department head's approval
(archived, never deleted), deadline warnings and the overdue list, and the entry and publication rates with
what stops them reaching 100 %.

Rates (per lead department, the 录入责任部门):
- entry rate = results entered / inspections completed (forms ever submitted);
- publication rate = results published / results to publish (entered, less those withheld with approval —
  withholding with a reason and the head's approval is the lawful alternative to publication).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import and_, func, select
from sqlmodel import Session

from ..errors import Conflict, DomainError, Forbidden, Invalid
from ..models.accounts import User
from ..models.base import utcnow
from ..models.directory import Department, Enterprise
from ..models.forms import InspectionForm
from ..models.results import InspectionResult
from . import audit, credit, result_scope
from .results import (
    COMPLETED_STATUSES,
    RESULT_NOT_FOUND,
    china_date,
    first_submissions,
    get_result,
    load_overrides,
    maybe_close_form,
    results_deadline,
    today_china,
    workdays_left,
)

WARN_WITHIN_WORKDAYS = 5
BLOCKER_LIST_LIMIT = 200


def _lock(session: Session, result: InspectionResult) -> InspectionResult:
    """Row lock (PostgreSQL) / write lock (SQLite) so two people cannot publish and withhold at once."""
    from sqlalchemy import update

    session.execute(
        update(InspectionResult)
        .where(InspectionResult.id == result.id)  # type: ignore[arg-type]
        .values(version=InspectionResult.version)
        .execution_options(synchronize_session=False)
    )
    fresh = session.get(InspectionResult, result.id, populate_existing=True)
    assert fresh is not None  # noqa: S101
    return fresh


# ------------------------------------------------------------------------------------------------ publish


def publish(*, session: Session, actor: User, result_id: uuid.UUID) -> InspectionResult:
    """Make the result public; the credit record and rules follow in the same transaction."""
    result = get_result(session=session, actor=actor, result_id=result_id)
    result_scope.require_lead(
        actor,
        result.department_id,
        result.department_ids,
        result_scope.PUBLISH_ROLES,
        what="公示检查结果",
        message=RESULT_NOT_FOUND,
    )
    result = _lock(session, result)
    if result.publication_status == "published":
        raise Conflict("该检查结果已公示")
    if result.publication_status == "withheld":
        raise Conflict("该检查结果已批准不予公示并存档，不能公示")
    if result.withhold_status == "requested":
        raise Conflict("该检查结果正在审批不予公示，请待部门负责人审批后再处理")
    now = utcnow()
    result.publication_status = "published"
    result.published_at, result.published_by = now, actor.id
    result.updated_at = now
    result.version += 1
    session.add(result)
    late = china_date(now) > result.publication_deadline
    audit.record(
        session=session,
        actor=actor,
        action="result.publish",
        entity="inspection_result",
        entity_id=result.id,
        data={
            "form_id": str(result.form_id),
            "category": result.category,
            "publication_deadline": result.publication_deadline.isoformat(),
            "late": late,
        },
    )
    credit.apply_result(session, actor, result)
    maybe_close_form(session, actor, result)
    session.commit()
    return result


def publish_many(*, session: Session, actor: User, result_ids: Iterable[uuid.UUID]) -> list[dict[str, Any]]:
    """Publish several results; each on its own, the answer says which went through and why not."""
    out = []
    for rid in result_ids:
        try:
            publish(session=session, actor=actor, result_id=rid)
            out.append({"id": rid, "status": "published", "code": 200, "message": "已公示"})
        except DomainError as exc:
            session.rollback()
            out.append({"id": rid, "status": "rejected", "code": exc.status_code, "message": exc.message})
    return out


# ----------------------------------------------------------------------------------------------- withhold


def request_withhold(*, session: Session, actor: User, result_id: uuid.UUID, reason: str) -> InspectionResult:
    """经办人说明不予公开的理由: asks the department head (approver) to approve withholding."""
    result = get_result(session=session, actor=actor, result_id=result_id)
    result_scope.require_lead(
        actor,
        result.department_id,
        result.department_ids,
        result_scope.WITHHOLD_REQUEST_ROLES,
        what="申请不予公示",
        message=RESULT_NOT_FOUND,
    )
    result = _lock(session, result)
    reason = (reason or "").strip()
    if len(reason) < 4:
        raise Invalid("请说明不予公示的理由（依据的法律法规和具体情形）", errors={"reason": ["至少 4 个字"]})
    if result.publication_status != "pending":
        raise Conflict("只有待公示的检查结果可以申请不予公示")
    if result.withhold_status == "requested":
        raise Conflict("已提交不予公示申请，正在等待部门负责人审批")
    now = utcnow()
    result.withhold_status = "requested"
    result.withheld_reason = reason
    result.withhold_requested_by, result.withhold_requested_at = actor.id, now
    result.withhold_approved_by, result.withhold_decided_at, result.withhold_decision_note = None, None, ""
    result.updated_at = now
    result.version += 1
    session.add(result)
    audit.record(
        session=session,
        actor=actor,
        action="result.withhold_request",
        entity="inspection_result",
        entity_id=result.id,
        data={"form_id": str(result.form_id), "reason": reason},
    )
    session.commit()
    return result


def decide_withhold(
    *,
    session: Session,
    actor: User,
    result_id: uuid.UUID,
    approve: bool,
    note: str = "",
) -> InspectionResult:
    """报经本部门主要负责人同意: the head approves (withheld, archived) or rejects (back to be published)."""
    result = get_result(session=session, actor=actor, result_id=result_id)
    result_scope.require_lead(
        actor,
        result.department_id,
        result.department_ids,
        result_scope.HEAD_ROLES,
        what="审批不予公示",
        message=RESULT_NOT_FOUND,
    )
    result = _lock(session, result)
    if result.withhold_status != "requested":
        raise Conflict("没有待审批的不予公示申请")
    if result.withhold_requested_by == actor.id:
        raise Forbidden("不能审批本人提交的不予公示申请")
    note = (note or "").strip()
    if not approve and not note:
        raise Invalid("驳回时必须说明理由", errors={"note": ["必填"]})
    now = utcnow()
    result.withhold_status = "approved" if approve else "rejected"
    result.withhold_approved_by, result.withhold_decided_at, result.withhold_decision_note = (
        actor.id,
        now,
        note,
    )
    if approve:
        result.publication_status = "withheld"
        result.archived, result.archived_at = True, now
    result.updated_at = now
    result.version += 1
    session.add(result)
    audit.record(
        session=session,
        actor=actor,
        action="result.withhold_approve" if approve else "result.withhold_reject",
        entity="inspection_result",
        entity_id=result.id,
        data={
            "form_id": str(result.form_id),
            "reason": result.withheld_reason,
            "note": note,
            "archived": approve,
        },
    )
    if approve:
        credit.apply_result(session, actor, result)
        maybe_close_form(session, actor, result)
    session.commit()
    return result


# ------------------------------------------------------------------------------------ deadlines & overdue


@dataclass
class Pending:
    """Something still owed: a result to enter (form completed, nothing entered) or to publish."""

    kind: str  # entry | publication | withhold_approval
    form: InspectionForm
    result: InspectionResult | None
    deadline: date
    completed_on: date
    estimated: bool


def _completed_forms_without_result(
    session: Session, actor: User, department_id: uuid.UUID | None, limit: int | None = None
) -> list[InspectionForm]:
    stmt = (
        select(InspectionForm)
        .outerjoin(InspectionResult, InspectionResult.form_id == InspectionForm.id)
        .where(InspectionResult.id.is_(None), InspectionForm.status.in_(COMPLETED_STATUSES))  # type: ignore[union-attr,attr-defined]
    )
    cond = result_scope.lead_department_filter(actor, InspectionForm.lead_department_id, department_id)
    if cond is not None:
        stmt = stmt.where(cond)
    stmt = stmt.order_by(InspectionForm.submitted_at, InspectionForm.id)  # type: ignore[arg-type]
    if limit:
        stmt = stmt.limit(limit)
    return list(session.execute(stmt).scalars())


def pending_items(
    *,
    session: Session,
    actor: User,
    department_id: uuid.UUID | None = None,
) -> list[Pending]:
    """Everything not yet entered or published, with its 20-working-day deadline."""
    out: list[Pending] = []
    overrides = load_overrides(session)
    forms = _completed_forms_without_result(session, actor, department_id)
    firsts = first_submissions(session, forms)
    for form in forms:
        at = firsts.get(form.id) or form.updated_at
        completed_on = china_date(at)
        deadline, estimated = results_deadline(session, completed_on, overrides=overrides)
        out.append(Pending("entry", form, None, deadline, completed_on, estimated))
    stmt = (
        select(InspectionResult, InspectionForm)
        .join(InspectionForm, InspectionForm.id == InspectionResult.form_id)
        .where(InspectionResult.publication_status == "pending")
    )
    cond = result_scope.lead_department_filter(actor, InspectionResult.department_id, department_id)
    if cond is not None:
        stmt = stmt.where(cond)
    for result, form in session.execute(stmt).all():
        kind = "withhold_approval" if result.withhold_status == "requested" else "publication"
        out.append(
            Pending(
                kind,
                form,
                result,
                result.publication_deadline,
                result.completed_on,
                result.deadline_estimated,
            )
        )
    out.sort(key=lambda p: (p.deadline, p.completed_on, p.form.code))
    return out


def pending_views(session: Session, items: list[Pending], *, today: date) -> list[dict[str, Any]]:
    overrides = load_overrides(session)
    ents = (
        {
            e.id: e
            for e in session.execute(
                select(Enterprise).where(Enterprise.id.in_({p.form.enterprise_id for p in items}))  # type: ignore[attr-defined]
            ).scalars()
        }
        if items
        else {}
    )
    depts = (
        {
            d.id: d
            for d in session.execute(
                select(Department).where(Department.id.in_({p.form.lead_department_id for p in items}))  # type: ignore[attr-defined]
            ).scalars()
        }
        if items
        else {}
    )
    labels = {"entry": "待录入结果", "publication": "待公示", "withhold_approval": "不予公示待审批"}
    out = []
    for p in items:
        ent = ents.get(p.form.enterprise_id)
        dept = depts.get(p.form.lead_department_id)
        out.append(
            {
                "kind": p.kind,
                "kind_label": labels[p.kind],
                "form_id": p.form.id,
                "form_code": p.form.code,
                "form_status": p.form.status,
                "result_id": p.result.id if p.result else None,
                "enterprise": {
                    "id": p.form.enterprise_id,
                    "name": ent.name if ent else "",
                    "uscc": ent.uscc if ent else "",
                },
                "department": {"id": p.form.lead_department_id, "name": dept.name if dept else ""},
                "completed_on": p.completed_on,
                "deadline": p.deadline,
                "deadline_estimated": p.estimated,
                "workdays_left": workdays_left(today, p.deadline, overrides),
                "overdue": p.deadline < today,
            }
        )
    return out


def warnings(
    *,
    session: Session,
    actor: User,
    within: int = WARN_WITHIN_WORKDAYS,
    department_id: uuid.UUID | None = None,
    today: date | None = None,
) -> list[dict[str, Any]]:
    """Due within `within` working days (today included) and not yet overdue."""
    today = today or today_china()
    views = pending_views(
        session, pending_items(session=session, actor=actor, department_id=department_id), today=today
    )
    return [v for v in views if not v["overdue"] and (v["workdays_left"] or 0) <= within]


def overdue(
    *, session: Session, actor: User, department_id: uuid.UUID | None = None, today: date | None = None
) -> list[dict[str, Any]]:
    today = today or today_china()
    views = pending_views(
        session, pending_items(session=session, actor=actor, department_id=department_id), today=today
    )
    return [v for v in views if v["overdue"]]


# ---------------------------------------------------------------------------------------------------- rates


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def rates(
    *,
    session: Session,
    actor: User,
    department_id: uuid.UUID | None = None,
    year: int | None = None,
    today: date | None = None,
) -> list[dict[str, Any]]:
    """Entry and publication rates per lead department, with the forms and results that block 100 %."""
    today = today or today_china()
    result_scope.require_any_role(actor, result_scope.READ_ROLES)
    completed_stmt = (
        select(InspectionForm.lead_department_id, func.count())
        .where(InspectionForm.status.in_(COMPLETED_STATUSES))  # type: ignore[attr-defined]
        .group_by(InspectionForm.lead_department_id)
    )
    cond = result_scope.lead_department_filter(actor, InspectionForm.lead_department_id, department_id)
    if cond is not None:
        completed_stmt = completed_stmt.where(cond)
    if year:
        completed_stmt = completed_stmt.where(
            func.coalesce(InspectionForm.completed_at, InspectionForm.submitted_at) >= _year_start(year),
            func.coalesce(InspectionForm.completed_at, InspectionForm.submitted_at) < _year_start(year + 1),
        )
    completed = dict(session.execute(completed_stmt).all())
    res_stmt = select(
        InspectionResult.department_id, InspectionResult.publication_status, func.count()
    ).group_by(InspectionResult.department_id, InspectionResult.publication_status)
    cond = result_scope.lead_department_filter(actor, InspectionResult.department_id, department_id)
    if cond is not None:
        res_stmt = res_stmt.where(cond)
    if year:
        res_stmt = res_stmt.where(
            and_(
                InspectionResult.completed_on >= date(year, 1, 1),
                InspectionResult.completed_on <= date(year, 12, 31),
            )
        )
    counts: dict[uuid.UUID, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for dept_id, status, n in session.execute(res_stmt).all():
        counts[dept_id][status] += n
    dept_ids = set(completed) | set(counts)
    depts = (
        {
            d.id: d
            for d in session.execute(
                select(Department).where(Department.id.in_(dept_ids))  # type: ignore[attr-defined]
            ).scalars()
        }
        if dept_ids
        else {}
    )
    pending = pending_items(session=session, actor=actor, department_id=department_id)
    if year:
        pending = [p for p in pending if p.completed_on.year == year]
    views = pending_views(session, pending, today=today)
    by_dept: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for v in views:
        by_dept[v["department"]["id"]].append(v)
    out = []
    for dept_id in sorted(dept_ids, key=lambda d: depts[d].code if d in depts else str(d)):
        c = counts.get(dept_id, {})
        entered = sum(c.values())
        published, withheld = c.get("published", 0), c.get("withheld", 0)
        done = completed.get(dept_id, 0)
        to_publish = entered - withheld
        blockers = by_dept.get(dept_id, [])
        out.append(
            {
                "department": {"id": dept_id, "name": depts[dept_id].name if dept_id in depts else ""},
                "completed": done,
                "entered": entered,
                "entry_rate": _rate(entered, done),
                "published": published,
                "withheld": withheld,
                "to_publish": to_publish,
                "publication_rate": _rate(published, to_publish),
                "blockers": {
                    "not_entered": [b for b in blockers if b["kind"] == "entry"][:BLOCKER_LIST_LIMIT],
                    "not_published": [b for b in blockers if b["kind"] == "publication"][:BLOCKER_LIST_LIMIT],
                    "withhold_awaiting_approval": [b for b in blockers if b["kind"] == "withhold_approval"][
                        :BLOCKER_LIST_LIMIT
                    ],
                },
                "blocker_counts": {
                    "not_entered": sum(1 for b in blockers if b["kind"] == "entry"),
                    "not_published": sum(1 for b in blockers if b["kind"] == "publication"),
                    "withhold_awaiting_approval": sum(
                        1 for b in blockers if b["kind"] == "withhold_approval"
                    ),
                    "overdue": sum(1 for b in blockers if b["overdue"]),
                },
                "pending_credit_proposals": credit.pending_proposals_count(session, dept_id),
            }
        )
    return out


def _year_start(year: int) -> Any:
    from datetime import datetime

    from .results import CHINA

    return datetime(year, 1, 1, tzinfo=CHINA)
