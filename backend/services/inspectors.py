"""执法检查人员名录库: inspectors, their 执法证 validity, and 回避 (conflict-of-interest) records."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import or_, select
from sqlmodel import Session

from ..errors import Conflict, Invalid, NotFound
from ..models.accounts import User
from ..models.directory import ConflictOfInterest, Department, Enterprise, Inspector
from . import access, audit
from .changes import apply_changes, commit_or_conflict, snapshot
from .querying import Page, json_list_contains, like_pattern, order_by, paginate

EDITABLE = (
    "staff_no",
    "name",
    "department_id",
    "certificate_no",
    "certificate_type",
    "certificate_valid_until",
    "specialties",
    "region_codes",
    "years_of_service",
    "phone",
    "active",
)
SORTS = {
    "name": Inspector.name,
    "staff_no": Inspector.staff_no,
    "certificate_valid_until": Inspector.certificate_valid_until,
    "years_of_service": Inspector.years_of_service,
    "created_at": Inspector.created_at,
}
CONFLICT_REASONS = ("relative", "former_employer", "recent_pairing", "other")


@dataclass
class InspectorFilter:
    department_id: uuid.UUID | None = None
    specialty: str | None = None
    region_code: str | None = None
    valid_on: date | None = None  # holds a valid 执法证 on that day
    q: str | None = None
    active: bool | None = True
    ids: list[uuid.UUID] = field(default_factory=list)


def _owner(insp: Inspector) -> dict[str, uuid.UUID]:
    return {"department_id": insp.department_id, "inspector_id": insp.id}


def list_inspectors(
    *, session: Session, actor: User, filters: InspectorFilter, sort: str | None, page: int, page_size: int
) -> Page[Inspector]:
    reach = access.scope(actor, "inspector", access.READ)
    stmt = select(Inspector)
    cond = reach.where(department_col=Inspector.department_id, inspector_col=Inspector.id)
    if cond is not None:
        stmt = stmt.where(cond)
    f = filters
    if f.department_id:
        stmt = stmt.where(Inspector.department_id == f.department_id)
    if f.specialty:
        stmt = stmt.where(json_list_contains(session, Inspector.specialties, f.specialty))
    if f.region_code:
        stmt = stmt.where(json_list_contains(session, Inspector.region_codes, f.region_code))
    if f.valid_on:
        stmt = stmt.where(Inspector.certificate_valid_until >= f.valid_on, Inspector.active.is_(True))  # type: ignore[operator,attr-defined]
    if f.q:
        pattern = like_pattern(f.q.strip())
        stmt = stmt.where(
            or_(
                Inspector.name.like(pattern, escape="\\"),  # type: ignore[attr-defined]
                Inspector.staff_no.like(pattern, escape="\\"),  # type: ignore[attr-defined]
            )
        )
    if f.active is not None:
        stmt = stmt.where(Inspector.active.is_(f.active))  # type: ignore[attr-defined]
    stmt = order_by(stmt, sort, SORTS, default="staff_no", tiebreak=Inspector.id)
    return paginate(session, stmt, page=page, page_size=page_size)


def get_inspector(*, session: Session, actor: User, inspector_id: uuid.UUID) -> Inspector:
    insp = session.get(Inspector, inspector_id)
    if insp is None:
        raise NotFound("执法人员不存在")
    access.authorize(actor, "inspector", access.READ, **_owner(insp))
    return insp


def _check(session: Session, values: dict[str, Any], current: Inspector | None = None) -> None:
    for fname, label in (("staff_no", "工号"), ("certificate_no", "执法证号")):
        value = values.get(fname)
        if value is None or (current is not None and getattr(current, fname) == value):
            continue
        col = getattr(Inspector, fname)
        if session.execute(select(Inspector.id).where(col == value)).first():
            raise Conflict(f"{label}已存在", errors={fname: [f"{label}已存在"]})
    dept_id = values.get("department_id")
    if dept_id is not None and session.get(Department, dept_id) is None:
        raise Invalid("部门不存在", errors={"department_id": ["部门不存在"]})


def create_inspector(*, session: Session, actor: User | None, values: dict[str, Any]) -> Inspector:
    if actor is not None:
        if values.get("department_id") is None and actor.department_id is not None:
            values = {**values, "department_id": actor.department_id}
        if values.get("department_id") is None:
            raise Invalid("请指定部门", errors={"department_id": ["必填"]})
        access.authorize(actor, "inspector", access.WRITE, department_id=values["department_id"], existing=False)
    _check(session, values)
    insp = Inspector(**values)
    session.add(insp)
    audit.record(
        session=session,
        actor=actor,
        action="inspector.create",
        entity="inspector",
        entity_id=insp.id,
        data=snapshot(insp, EDITABLE),
    )
    commit_or_conflict(session, field="staff_no", message="工号或执法证号已存在")
    return insp


def update_inspector(*, session: Session, actor: User, inspector_id: uuid.UUID, values: dict[str, Any]) -> Inspector:
    insp = get_inspector(session=session, actor=actor, inspector_id=inspector_id)
    access.authorize(actor, "inspector", access.WRITE, **_owner(insp))
    if "department_id" in values and values["department_id"] != insp.department_id:
        # moving someone is a write in the target department too
        access.authorize(actor, "inspector", access.WRITE, department_id=values["department_id"], existing=False)
    _check(session, values, insp)
    diff = apply_changes(insp, values)
    if diff:
        audit.record(
            session=session,
            actor=actor,
            action="inspector.update",
            entity="inspector",
            entity_id=insp.id,
            data={"staff_no": insp.staff_no, "changes": diff},
        )
        commit_or_conflict(session, field="staff_no", message="工号或执法证号已存在")
    return insp


def deactivate_inspector(*, session: Session, actor: User, inspector_id: uuid.UUID) -> None:
    insp = get_inspector(session=session, actor=actor, inspector_id=inspector_id)
    access.authorize(actor, "inspector", access.WRITE, **_owner(insp))
    if apply_changes(insp, {"active": False}):
        audit.record(
            session=session,
            actor=actor,
            action="inspector.deactivate",
            entity="inspector",
            entity_id=insp.id,
            data={"staff_no": insp.staff_no},
        )
        session.commit()


@dataclass
class CertificateValidity:
    inspector_id: uuid.UUID
    on: date
    valid: bool
    certificate_no: str
    certificate_type: str
    valid_until: date | None
    days_remaining: int | None
    reason: str


def certificate_validity(*, session: Session, actor: User, inspector_id: uuid.UUID, on: date) -> CertificateValidity:
    """Whether the inspector may inspect on `on` (only holders of a valid 执法证 inspect)."""
    insp = get_inspector(session=session, actor=actor, inspector_id=inspector_id)
    valid = insp.certificate_valid_on(on)
    until = insp.certificate_valid_until
    if not insp.active:
        reason = "人员已停用"
    elif until is None:
        reason = "未登记执法证有效期"
    elif until < on:
        reason = f"执法证已于 {until.isoformat()} 过期"
    else:
        reason = f"执法证有效期至 {until.isoformat()}"
    return CertificateValidity(
        inspector_id=insp.id,
        on=on,
        valid=valid,
        certificate_no=insp.certificate_no,
        certificate_type=insp.certificate_type,
        valid_until=until,
        days_remaining=(until - on).days if until else None,
        reason=reason,
    )


# ---- 回避 records -------------------------------------------------------------------------------


def _conflict_owner(session: Session, record: ConflictOfInterest) -> dict[str, uuid.UUID]:
    insp = session.get(Inspector, record.inspector_id)
    assert insp is not None  # foreign key
    return _owner(insp)


def list_conflicts(
    *,
    session: Session,
    actor: User,
    inspector_id: uuid.UUID | None,
    enterprise_id: uuid.UUID | None,
    page: int,
    page_size: int,
) -> Page[ConflictOfInterest]:
    reach = access.scope(actor, "conflict", access.READ)
    stmt = select(ConflictOfInterest).join(Inspector, Inspector.id == ConflictOfInterest.inspector_id)
    cond = reach.where(department_col=Inspector.department_id, inspector_col=Inspector.id)
    if cond is not None:
        stmt = stmt.where(cond)
    if inspector_id:
        stmt = stmt.where(ConflictOfInterest.inspector_id == inspector_id)
    if enterprise_id:
        stmt = stmt.where(ConflictOfInterest.enterprise_id == enterprise_id)
    stmt = stmt.order_by(ConflictOfInterest.created_at.desc(), ConflictOfInterest.id)  # type: ignore[attr-defined]
    return paginate(session, stmt, page=page, page_size=page_size)


def get_conflict(*, session: Session, actor: User, conflict_id: uuid.UUID) -> ConflictOfInterest:
    record = session.get(ConflictOfInterest, conflict_id)
    if record is None:
        raise NotFound("回避记录不存在")
    access.authorize(actor, "conflict", access.READ, **_conflict_owner(session, record))
    return record


def create_conflict(*, session: Session, actor: User, values: dict[str, Any]) -> ConflictOfInterest:
    insp = session.get(Inspector, values["inspector_id"])
    if insp is None or not access.can(actor, "inspector", access.READ, **_owner(insp)):
        raise NotFound("执法人员不存在", errors={"inspector_id": ["执法人员不存在"]})
    access.authorize(actor, "conflict", access.WRITE, **_owner(insp))
    if session.get(Enterprise, values["enterprise_id"]) is None:
        raise Invalid("检查对象不存在", errors={"enterprise_id": ["检查对象不存在"]})
    exists = session.execute(
        select(ConflictOfInterest.id).where(
            ConflictOfInterest.inspector_id == insp.id,
            ConflictOfInterest.enterprise_id == values["enterprise_id"],
        )
    ).first()
    if exists:
        raise Conflict("该回避记录已存在", errors={"enterprise_id": ["该人员与该检查对象的回避记录已存在"]})
    record = ConflictOfInterest(**values, created_by=actor.id)
    session.add(record)
    audit.record(
        session=session,
        actor=actor,
        action="conflict.create",
        entity="conflict_of_interest",
        entity_id=record.id,
        data=snapshot(record, ("inspector_id", "enterprise_id", "reason", "note")),
    )
    commit_or_conflict(session, field="enterprise_id", message="该回避记录已存在")
    return record


def update_conflict(
    *, session: Session, actor: User, conflict_id: uuid.UUID, values: dict[str, Any]
) -> ConflictOfInterest:
    record = get_conflict(session=session, actor=actor, conflict_id=conflict_id)
    access.authorize(actor, "conflict", access.WRITE, **_conflict_owner(session, record))
    diff = apply_changes(record, values)
    if diff:
        audit.record(
            session=session,
            actor=actor,
            action="conflict.update",
            entity="conflict_of_interest",
            entity_id=record.id,
            data={"changes": diff},
        )
        session.commit()
    return record


def delete_conflict(*, session: Session, actor: User, conflict_id: uuid.UUID) -> None:
    record = get_conflict(session=session, actor=actor, conflict_id=conflict_id)
    access.authorize(actor, "conflict", access.WRITE, **_conflict_owner(session, record))
    audit.record(
        session=session,
        actor=actor,
        action="conflict.delete",
        entity="conflict_of_interest",
        entity_id=record.id,
        data=snapshot(record, ("inspector_id", "enterprise_id", "reason", "note")),
    )
    session.delete(record)
    session.commit()
