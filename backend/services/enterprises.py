"""检查对象名录库: enterprises keyed by USCC, with status history, flags, special libraries and risk level."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlmodel import Session

from ..errors import Conflict, Invalid, NotFound
from ..models.accounts import User
from ..models.base import utcnow
from ..models.directory import ENTERPRISE_STATUSES, Enterprise, EnterpriseStatusChange
from . import access, audit
from .changes import apply_changes, commit_or_conflict, snapshot
from .querying import Page, json_list_contains, like_pattern, order_by, paginate
from .uscc import uscc_problem

EDITABLE = (
    "uscc",
    "name",
    "entity_type",
    "legal_representative",
    "phone",
    "registered_address",
    "business_address",
    "region_code",
    "industry_code",
    "special_libraries",
    "abnormal_list",
    "serious_violation",
    "blacklist",
    "risk_level",
    "complaints_count",
    "established_on",
    "lat",
    "lng",
    "active",
)
FLAGS = ("abnormal_list", "serious_violation", "blacklist")
SORTS = {
    "name": Enterprise.name,
    "uscc": Enterprise.uscc,
    "risk_level": Enterprise.risk_level,
    "region_code": Enterprise.region_code,
    "industry_code": Enterprise.industry_code,
    "established_on": Enterprise.established_on,
    "created_at": Enterprise.created_at,
    "updated_at": Enterprise.updated_at,
}
DUPLICATE_USCC = "统一社会信用代码已存在"


@dataclass
class EnterpriseFilter:
    region_code: str | None = None  # prefix: "5108" = every county of 广元市
    industry_code: str | None = None  # prefix: "C13" = a whole GB/T 4754 division
    status: list[str] = field(default_factory=list)
    special_library: str | None = None
    flags: list[str] = field(default_factory=list)  # every named flag must be set
    flagged: bool | None = None  # any flag set
    risk_level: list[int] = field(default_factory=list)
    q: str | None = None  # name fragment or USCC prefix
    active: bool | None = True


def list_enterprises(
    *, session: Session, actor: User, filters: EnterpriseFilter, sort: str | None, page: int, page_size: int
) -> Page[Enterprise]:
    access.scope(actor, "enterprise", access.READ)
    stmt = select(Enterprise)
    f = filters
    if f.region_code:
        stmt = stmt.where(Enterprise.region_code.like(like_pattern(f.region_code, prefix=True), escape="\\"))
    if f.industry_code:
        stmt = stmt.where(Enterprise.industry_code.like(like_pattern(f.industry_code, prefix=True), escape="\\"))
    if f.status:
        stmt = stmt.where(Enterprise.status.in_(f.status))  # type: ignore[attr-defined]
    if f.special_library:
        stmt = stmt.where(json_list_contains(session, Enterprise.special_libraries, f.special_library))
    for flag in f.flags:
        stmt = stmt.where(getattr(Enterprise, flag).is_(True))
    if f.flagged is not None:
        any_flag = or_(*(getattr(Enterprise, flag).is_(True) for flag in FLAGS))
        stmt = stmt.where(any_flag if f.flagged else ~any_flag)
    if f.risk_level:
        stmt = stmt.where(Enterprise.risk_level.in_(f.risk_level))  # type: ignore[attr-defined]
    if f.q:
        term = f.q.strip()
        stmt = stmt.where(
            or_(
                Enterprise.name.like(like_pattern(term), escape="\\"),  # type: ignore[attr-defined]
                Enterprise.uscc.like(like_pattern(term.upper(), prefix=True), escape="\\"),  # type: ignore[attr-defined]
            )
        )
    if f.active is not None:
        stmt = stmt.where(Enterprise.active.is_(f.active))  # type: ignore[attr-defined]
    stmt = order_by(stmt, sort, SORTS, default="name", tiebreak=Enterprise.id)
    return paginate(session, stmt, page=page, page_size=page_size)


def get_enterprise(*, session: Session, actor: User, enterprise_id: uuid.UUID) -> Enterprise:
    access.scope(actor, "enterprise", access.READ)
    ent = session.get(Enterprise, enterprise_id)
    if ent is None:
        raise NotFound("检查对象不存在")
    return ent


def enterprise_by_uscc(*, session: Session, uscc: str) -> Enterprise | None:
    return session.execute(select(Enterprise).where(Enterprise.uscc == uscc)).scalar_one_or_none()


def _check_uscc(session: Session, uscc: str, current: Enterprise | None = None) -> None:
    problem = uscc_problem(uscc)
    if problem:
        raise Invalid(problem, errors={"uscc": [problem]})
    if current is not None and current.uscc == uscc:
        return
    if enterprise_by_uscc(session=session, uscc=uscc) is not None:
        raise Conflict(DUPLICATE_USCC, errors={"uscc": [DUPLICATE_USCC]})


def create_enterprise(*, session: Session, actor: User | None, values: dict[str, Any]) -> Enterprise:
    if actor is not None:
        access.authorize(actor, "enterprise", access.WRITE, existing=False)
    _check_uscc(session, values["uscc"])
    status = values.get("status", "active")
    if status not in ENTERPRISE_STATUSES:
        raise Invalid("登记状态不正确", errors={"status": ["登记状态不正确"]})
    ent = Enterprise(**values)
    session.add(ent)
    audit.record(
        session=session,
        actor=actor,
        action="enterprise.create",
        entity="enterprise",
        entity_id=ent.id,
        data=snapshot(ent, (*EDITABLE, "status")),
    )
    commit_or_conflict(session, field="uscc", message=DUPLICATE_USCC)
    return ent


def update_enterprise(*, session: Session, actor: User, enterprise_id: uuid.UUID, values: dict[str, Any]) -> Enterprise:
    ent = get_enterprise(session=session, actor=actor, enterprise_id=enterprise_id)
    access.authorize(actor, "enterprise", access.WRITE)
    if "status" in values:
        raise Invalid("登记状态须通过状态变更接口修改并填写原因", errors={"status": ["请使用状态变更接口"]})
    if "uscc" in values:
        _check_uscc(session, values["uscc"], ent)
    diff = apply_changes(ent, values)
    if diff:
        audit.record(
            session=session,
            actor=actor,
            action="enterprise.update",
            entity="enterprise",
            entity_id=ent.id,
            data={"uscc": ent.uscc, "changes": diff},
        )
        commit_or_conflict(session, field="uscc", message=DUPLICATE_USCC)
    return ent


def deactivate_enterprise(*, session: Session, actor: User, enterprise_id: uuid.UUID) -> None:
    """Take an entity out of the directory without losing it or its history (soft delete)."""
    ent = get_enterprise(session=session, actor=actor, enterprise_id=enterprise_id)
    access.authorize(actor, "enterprise", access.WRITE)
    if apply_changes(ent, {"active": False}):
        audit.record(
            session=session,
            actor=actor,
            action="enterprise.deactivate",
            entity="enterprise",
            entity_id=ent.id,
            data={"uscc": ent.uscc},
        )
        session.commit()


def change_status(
    *, session: Session, actor: User | None, enterprise_id: uuid.UUID, status: str, reason: str
) -> EnterpriseStatusChange:
    """Record a registration-status change (存续 → 注销 …) with its reason, keeping the history."""
    if actor is not None:
        ent = get_enterprise(session=session, actor=actor, enterprise_id=enterprise_id)
        access.authorize(actor, "enterprise", access.WRITE)
    else:
        ent = session.get(Enterprise, enterprise_id)  # type: ignore[assignment]
        if ent is None:
            raise NotFound("检查对象不存在")
    if status not in ENTERPRISE_STATUSES:
        raise Invalid("登记状态不正确", errors={"status": ["登记状态不正确"]})
    if not reason.strip():
        raise Invalid("请填写变更原因", errors={"reason": ["请填写变更原因"]})
    if ent.status == status:
        raise Conflict("登记状态未变化", errors={"status": ["与当前状态相同"]})
    change = EnterpriseStatusChange(
        enterprise_id=ent.id,
        from_status=ent.status,
        to_status=status,
        reason=reason.strip(),
        actor_id=actor.id if actor else None,
    )
    ent.status = status
    ent.updated_at = utcnow()
    session.add(change)
    audit.record(
        session=session,
        actor=actor,
        action="enterprise.status",
        entity="enterprise",
        entity_id=ent.id,
        data={"uscc": ent.uscc, "from": change.from_status, "to": status, "reason": change.reason},
    )
    session.commit()
    return change


def status_history(*, session: Session, actor: User, enterprise_id: uuid.UUID) -> list[EnterpriseStatusChange]:
    ent = get_enterprise(session=session, actor=actor, enterprise_id=enterprise_id)
    stmt = (
        select(EnterpriseStatusChange)
        .where(EnterpriseStatusChange.enterprise_id == ent.id)
        .order_by(EnterpriseStatusChange.changed_at.desc(), EnterpriseStatusChange.id)  # type: ignore[attr-defined]
    )
    return list(session.execute(stmt).scalars())
