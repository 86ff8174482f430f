"""Annual plans (年度抽查计划): drafting, approval with a signature, publication and filed adjustments.

State machine: draft -> submitted -> approved (signed by an approver of the lead department) -> published
-> adjusted (every adjustment filed with a reason and kept). A rejected plan goes back to the planner
(status rejected, editable like a draft). Only planners of the lead department draft, submit, publish and
adjust; only approvers of the lead department approve or reject.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import false, func, or_, select
from sqlmodel import Session

from ..config import Settings
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..models.accounts import User
from ..models.base import utcnow
from ..models.directory import ITEM_METHODS, CheckItem, Department
from ..models.planning import PLAN_EDITABLE, PLAN_IN_FORCE, AnnualPlan, PlanAdjustment
from . import audit
from .population import (
    CAP_RULE,
    check_cap,
    count_eligible,
    normalize_filters,
    parse_ratio,
    percent,
    ratio_text,
)
from .querying import json_list_contains

DEPARTMENT_ROLES = ("planner", "approver", "supervisor")
CONTENT_FIELDS = (
    "name",
    "year",
    "item_ids",
    "target_scope",
    "target_filters",
    "methods",
    "ratio",
    "count",
    "lead_department_id",
    "participating_department_ids",
    "window_start",
    "window_end",
    "deadline",
    "is_key_area",
    "key_area_cap",
    "key_area_basis",
)
EDITABLE_FIELDS = tuple(f for f in CONTENT_FIELDS if f != "lead_department_id")
PLAN_NOT_FOUND = "抽查计划不存在"


# --------------------------------------------------------------------------------------------- keys


def server_key(settings: Settings, purpose: str) -> bytes:
    """A key for one purpose derived from the server secret (HMAC as a PRF, so purposes never collide)."""
    return hmac.new(settings.jwt_secret.encode(), f"shuangsui/{purpose}".encode(), hashlib.sha256).digest()


def canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


# ------------------------------------------------------------------------------------------- access


def plan_departments(plan: AnnualPlan) -> set[str]:
    return {str(plan.lead_department_id), *map(str, plan.participating_department_ids or [])}


def can_read_plan(user: User, plan: AnnualPlan) -> bool:
    if user.has_role("admin"):
        return True
    if (
        user.has_role(*DEPARTMENT_ROLES)
        and user.department_id
        and str(user.department_id) in plan_departments(plan)
    ):
        return True
    # 监督员 audit draws: plans in force are public documents anyway.
    return user.has_role("witness") and plan.status in PLAN_IN_FORCE


def is_lead(user: User, role: str, plan: AnnualPlan) -> bool:
    return (
        user.has_role(role)
        and user.department_id is not None
        and user.department_id == plan.lead_department_id
    )


def require_lead_planner(user: User, plan: AnnualPlan, what: str = "执行此操作") -> None:
    if not is_lead(user, "planner", plan):
        raise Forbidden(f"只有牵头部门的部门管理员可以{what}")


def get_plan(*, session: Session, actor: User, plan_id: uuid.UUID) -> AnnualPlan:
    plan = session.get(AnnualPlan, plan_id)
    if plan is None or not can_read_plan(actor, plan):
        raise NotFound(PLAN_NOT_FOUND)
    return plan


def list_plans(
    *,
    session: Session,
    actor: User,
    year: int | None = None,
    status: str | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[AnnualPlan], int]:
    stmt = select(AnnualPlan)
    if not actor.has_role("admin"):
        terms: list[Any] = []
        if actor.has_role(*DEPARTMENT_ROLES) and actor.department_id:
            terms.append(AnnualPlan.lead_department_id == actor.department_id)
            terms.append(
                json_list_contains(session, AnnualPlan.participating_department_ids, str(actor.department_id))
            )
        if actor.has_role("witness"):
            terms.append(AnnualPlan.status.in_(PLAN_IN_FORCE))  # type: ignore[attr-defined]
        if not terms:
            raise Forbidden("当前角色无权查看抽查计划")
        stmt = stmt.where(or_(*terms) if terms else false())
    if year is not None:
        stmt = stmt.where(AnnualPlan.year == year)
    if status is not None:
        stmt = stmt.where(AnnualPlan.status == status)
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = (
        session.execute(
            stmt.order_by(AnnualPlan.year.desc(), AnnualPlan.created_at.desc())  # type: ignore[attr-defined]
            .limit(page_size)
            .offset((page - 1) * page_size)
        )
        .scalars()
        .all()
    )
    return list(rows), int(total)


def list_public_plans(*, session: Session, year: int | None = None) -> list[AnnualPlan]:
    stmt = select(AnnualPlan).where(AnnualPlan.status.in_(PLAN_IN_FORCE))  # type: ignore[attr-defined]
    if year is not None:
        stmt = stmt.where(AnnualPlan.year == year)
    return list(session.execute(stmt.order_by(AnnualPlan.year.desc(), AnnualPlan.name)).scalars().all())


# ------------------------------------------------------------------------------------------ content


def plan_content(plan: AnnualPlan) -> dict[str, Any]:
    """The signed content of a plan, in canonical JSON-ready form."""
    out: dict[str, Any] = {}
    for field in CONTENT_FIELDS:
        value = getattr(plan, field)
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, date | datetime):
            value = value.isoformat()
        elif isinstance(value, list) and field in ("item_ids", "participating_department_ids", "methods"):
            value = sorted(map(str, value))
        out[field] = value
    return out


def content_digest(plan: AnnualPlan) -> str:
    return hashlib.sha256(canonical(plan_content(plan))).hexdigest()


def plan_signature(settings: Settings, plan: AnnualPlan) -> str:
    body = {
        "plan_id": str(plan.id),
        "content_digest": plan.content_digest,
        "approved_by": str(plan.approved_by),
        "approved_at": plan.approved_at.isoformat() if plan.approved_at else None,
    }
    return hmac.new(server_key(settings, "plan-approval"), canonical(body), hashlib.sha256).hexdigest()


def signature_valid(settings: Settings, plan: AnnualPlan) -> bool | None:
    """None before approval; otherwise whether the stored signature still matches the approval."""
    if plan.signature is None:
        return None
    return hmac.compare_digest(plan.signature, plan_signature(settings, plan))


def _uuid(value: Any, field: str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError as exc:
        raise Invalid("编号格式无效", errors={field: ["不是有效的编号"]}) from exc


def _normalize_values(
    session: Session, values: Mapping[str, Any], *, year: int, lead_id: uuid.UUID
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in ("name", "target_scope", "key_area_basis"):
            value = (value or "").strip()
            if key == "name" and not value:
                raise Invalid("计划名称不能为空", errors={"name": ["不能为空"]})
        elif key == "year":
            if not isinstance(value, int) or not 2000 <= value <= 2100:
                raise Invalid("年度无效", errors={"year": ["请填写 2000–2100 之间的年度"]})
        elif key == "item_ids":
            ids = sorted({str(_uuid(v, "item_ids")) for v in value or []})
            if ids:
                found = session.execute(
                    select(CheckItem.id, CheckItem.active).where(
                        CheckItem.id.in_([uuid.UUID(i) for i in ids])
                    )  # type: ignore[attr-defined]
                ).all()
                known = {str(r[0]) for r in found if r[1]}
                missing = [i for i in ids if i not in known]
                if missing:
                    raise Invalid(
                        "抽查事项不存在或已停用", errors={"item_ids": [f"无效事项：{'、'.join(missing)}"]}
                    )
            value = ids
        elif key == "target_filters":
            value = normalize_filters(value)
        elif key == "methods":
            bad = [m for m in value or [] if m not in ITEM_METHODS]
            if bad:
                raise Invalid("检查方式无效", errors={"methods": [f"可选：{'、'.join(ITEM_METHODS)}"]})
            value = sorted(set(value or []))
        elif key in ("ratio", "key_area_cap"):
            value = None if value in (None, "") else ratio_text(parse_ratio(value, key))
        elif key == "count":
            if value is not None and (not isinstance(value, int) or value < 1):
                raise Invalid("抽查数量无效", errors={"count": ["必须是正整数"]})
        elif key == "participating_department_ids":
            ids = []
            for v in value or []:
                dept_id = _uuid(v, key)
                if dept_id == lead_id:
                    continue
                if session.get(Department, dept_id) is None:
                    raise Invalid("参与部门不存在", errors={key: [f"部门 {dept_id} 不存在"]})
                if str(dept_id) not in ids:
                    ids.append(str(dept_id))
            value = sorted(ids)
        elif key in ("window_start", "window_end", "deadline"):
            if value is not None and not isinstance(value, date):
                raise Invalid("日期格式无效", errors={key: ["请使用 YYYY-MM-DD"]})
        elif key == "is_key_area":
            value = bool(value)
        out[key] = value
    return out


def _check_consistency(session: Session, plan: AnnualPlan) -> None:
    errors: dict[str, list[str]] = {}
    if plan.window_start and plan.window_end and plan.window_start > plan.window_end:
        errors["window_end"] = ["结束日期不能早于开始日期"]
    for field in ("window_start", "window_end", "deadline"):
        day = getattr(plan, field)
        if day is not None and day.year != plan.year:
            errors.setdefault(field, []).append(f"应在 {plan.year} 年度内")
    if plan.window_start and plan.deadline and plan.deadline < plan.window_start:
        errors["deadline"] = ["完成时限不能早于检查开始日期"]
    if plan.is_key_area:
        if not plan.key_area_cap:
            errors["key_area_cap"] = [f"重点领域计划必须明确抽查比例上限。依据：“{CAP_RULE}”"]
        if not plan.key_area_basis:
            errors.setdefault("key_area_basis", []).append("请说明列为重点领域、特殊行业或上级要求的依据")
    elif plan.key_area_cap:
        errors["key_area_cap"] = ["只有重点领域计划可以设定自己的上限；一般计划上限为 5%"]
    if plan.item_ids:
        depts = plan_departments(plan)
        owners = session.execute(
            select(CheckItem.code, CheckItem.department_id).where(
                CheckItem.id.in_([uuid.UUID(i) for i in plan.item_ids])  # type: ignore[attr-defined]
            )
        ).all()
        outside = [code for code, dept in owners if str(dept) not in depts]
        if outside:
            errors["item_ids"] = [f"事项 {'、'.join(outside)} 的抽查主体不是牵头或参与部门"]
    if errors:
        raise Invalid("抽查计划内容有误", errors=errors)


def _plan_cap(plan: AnnualPlan) -> Decimal:
    from .population import cap_for

    return cap_for(is_key_area=plan.is_key_area, key_area_cap=plan.key_area_cap)


def enforce_ratio_cap(session: Session, plan: AnnualPlan) -> int:
    """The 5 % rule (or the key area's own cap) against the eligible directory; returns its size."""
    cap = _plan_cap(plan)
    size = count_eligible(session, plan.target_filters or {})
    check_cap(
        ratio=Decimal(plan.ratio) if plan.ratio else None,
        count=plan.count,
        cap=cap,
        population_size=size,
        is_key_area=plan.is_key_area,
    )
    return size


def _require_complete(plan: AnnualPlan) -> None:
    errors: dict[str, list[str]] = {}
    if not plan.item_ids:
        errors["item_ids"] = ["请选择抽查事项"]
    if not plan.methods:
        errors["methods"] = ["请选择检查方式"]
    if plan.ratio is None and plan.count is None:
        errors["ratio"] = ["请填写抽查比例或抽查数量"]
    if errors:
        raise Invalid("计划内容不完整，不能提交", errors=errors)


# ---------------------------------------------------------------------------------------- transitions


def create_plan(*, session: Session, actor: User, values: Mapping[str, Any]) -> AnnualPlan:
    lead_id = _uuid(values.get("lead_department_id") or actor.department_id, "lead_department_id")
    if not actor.has_role("planner") or actor.department_id != lead_id:
        raise Forbidden(
            "只有牵头部门的部门管理员可以编制抽查计划",
            errors={"lead_department_id": ["只能以本部门为牵头部门编制计划"]},
        )
    year = values.get("year")
    if not isinstance(year, int):
        raise Invalid("年度无效", errors={"year": ["请填写年度"]})
    clean = _normalize_values(
        session, {k: v for k, v in values.items() if k in EDITABLE_FIELDS}, year=year, lead_id=lead_id
    )
    if clean.get("deadline") is None:
        clean["deadline"] = date(year, 11, 20)  # 原则上所有联合抽查检查事项应在当年 11 月 20 日前完成
    plan = AnnualPlan(lead_department_id=lead_id, created_by=actor.id, status="draft", **clean)
    _check_consistency(session, plan)
    session.add(plan)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="plan.created",
        entity="annual_plan",
        entity_id=plan.id,
        data=plan_content(plan),
    )
    session.commit()
    return plan


def update_plan(
    *, session: Session, actor: User, plan_id: uuid.UUID, values: Mapping[str, Any]
) -> AnnualPlan:
    plan = get_plan(session=session, actor=actor, plan_id=plan_id)
    require_lead_planner(actor, plan, "修改抽查计划")
    if plan.status not in PLAN_EDITABLE:
        raise Conflict(
            f"计划当前状态为“{plan.status}”，不能直接修改；已公布的计划请通过调整（备案）修改",
            errors={"status": [plan.status]},
        )
    diff = _apply(session, plan, values)
    if diff:
        audit.record(
            session=session,
            actor=actor,
            action="plan.updated",
            entity="annual_plan",
            entity_id=plan.id,
            data={"diff": diff},
        )
    session.commit()
    return plan


def _apply(session: Session, plan: AnnualPlan, values: Mapping[str, Any]) -> dict[str, list[Any]]:
    if (
        "lead_department_id" in values
        and _uuid(values["lead_department_id"], "lead_department_id") != plan.lead_department_id
    ):
        raise Invalid("牵头部门不能更改", errors={"lead_department_id": ["请以新的牵头部门另行编制计划"]})
    year = values.get("year", plan.year)
    clean = _normalize_values(
        session,
        {k: v for k, v in values.items() if k in EDITABLE_FIELDS},
        year=year,
        lead_id=plan.lead_department_id,
    )
    before = plan_content(plan)
    for key, value in clean.items():
        setattr(plan, key, value)
    if "year" in clean and "deadline" not in clean and plan.deadline.year != plan.year:
        plan.deadline = date(plan.year, 11, 20)
    _check_consistency(session, plan)
    after = plan_content(plan)
    diff = {k: [before[k], after[k]] for k in CONTENT_FIELDS if before[k] != after[k]}
    if diff:
        plan.updated_at = utcnow()
    return diff


def submit_plan(*, session: Session, actor: User, plan_id: uuid.UUID) -> AnnualPlan:
    plan = get_plan(session=session, actor=actor, plan_id=plan_id)
    require_lead_planner(actor, plan, "提交抽查计划")
    if plan.status not in PLAN_EDITABLE:
        raise Conflict(f"只有草稿或已退回的计划可以提交审批（当前：{plan.status}）")
    _require_complete(plan)
    enforce_ratio_cap(session, plan)
    plan.status = "submitted"
    plan.submitted_at = utcnow()
    plan.submitted_by = actor.id
    plan.updated_at = plan.submitted_at
    audit.record(
        session=session,
        actor=actor,
        action="plan.submitted",
        entity="annual_plan",
        entity_id=plan.id,
        data={"content_digest": content_digest(plan)},
    )
    session.commit()
    return plan


def approve_plan(*, session: Session, actor: User, settings: Settings, plan_id: uuid.UUID) -> AnnualPlan:
    plan = get_plan(session=session, actor=actor, plan_id=plan_id)
    if not is_lead(actor, "approver", plan):
        raise Forbidden("只有牵头部门的局领导可以审批抽查计划")
    if plan.status != "submitted":
        raise Conflict(f"只有待审批的计划可以批准（当前：{plan.status}）")
    size = enforce_ratio_cap(session, plan)
    now = utcnow()
    plan.status = "approved"
    plan.approved_at = now
    plan.approved_by = actor.id
    plan.content_digest = content_digest(plan)
    plan.signature = plan_signature(settings, plan)
    plan.updated_at = now
    audit.record(
        session=session,
        actor=actor,
        action="plan.approved",
        entity="annual_plan",
        entity_id=plan.id,
        data={
            "content_digest": plan.content_digest,
            "signature": plan.signature,
            "eligible_directory": size,
            "cap": percent(_plan_cap(plan)),
        },
    )
    session.commit()
    return plan


def reject_plan(*, session: Session, actor: User, plan_id: uuid.UUID, reason: str) -> AnnualPlan:
    plan = get_plan(session=session, actor=actor, plan_id=plan_id)
    if not is_lead(actor, "approver", plan):
        raise Forbidden("只有牵头部门的局领导可以退回抽查计划")
    if plan.status != "submitted":
        raise Conflict(f"只有待审批的计划可以退回（当前：{plan.status}）")
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("退回须说明理由", errors={"reason": ["不能为空"]})
    plan.status = "rejected"
    plan.rejected_at = utcnow()
    plan.rejected_by = actor.id
    plan.rejected_reason = reason
    plan.updated_at = plan.rejected_at
    audit.record(
        session=session,
        actor=actor,
        action="plan.rejected",
        entity="annual_plan",
        entity_id=plan.id,
        data={"reason": reason},
    )
    session.commit()
    return plan


def publish_plan(*, session: Session, actor: User, settings: Settings, plan_id: uuid.UUID) -> AnnualPlan:
    plan = get_plan(session=session, actor=actor, plan_id=plan_id)
    require_lead_planner(actor, plan, "公布抽查计划")
    if plan.status != "approved":
        raise Conflict(f"只有已批准的计划可以公布（当前：{plan.status}）")
    if content_digest(plan) != plan.content_digest or not signature_valid(settings, plan):
        raise Conflict("计划内容与批准时的签名不符，不能公布；请重新提交审批")
    plan.status = "published"
    plan.published_at = utcnow()
    plan.published_by = actor.id
    plan.updated_at = plan.published_at
    audit.record(
        session=session,
        actor=actor,
        action="plan.published",
        entity="annual_plan",
        entity_id=plan.id,
        data={"content_digest": plan.content_digest},
    )
    session.commit()
    return plan


def adjust_plan(
    *, session: Session, actor: User, plan_id: uuid.UUID, reason: str, changes: Mapping[str, Any]
) -> PlanAdjustment:
    """动态调整: change a plan in force; the adjustment is filed (备案) with its reason and diff, and kept."""
    plan = get_plan(session=session, actor=actor, plan_id=plan_id)
    require_lead_planner(actor, plan, "调整抽查计划")
    if plan.status not in PLAN_IN_FORCE:
        raise Conflict(f"只有已公布的计划可以调整；未公布的计划请直接修改（当前：{plan.status}）")
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("调整计划须说明理由", errors={"reason": ["不能为空"]})
    digest_before = content_digest(plan)
    diff = _apply(session, plan, changes)
    if not diff:
        raise Invalid("调整内容与现行计划相同", errors={"changes": ["没有变化"]})
    _require_complete(plan)
    enforce_ratio_cap(session, plan)
    sequence = (
        session.execute(
            select(func.max(PlanAdjustment.sequence)).where(PlanAdjustment.plan_id == plan.id)
        ).scalar()
        or 0
    ) + 1
    adjustment = PlanAdjustment(
        plan_id=plan.id,
        sequence=sequence,
        reason=reason,
        diff=json.loads(canonical(diff)),
        content_digest_before=digest_before,
        content_digest_after=content_digest(plan),
        filed_by=actor.id,
    )
    plan.status = "adjusted"
    plan.version += 1
    session.add(adjustment)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="plan.adjusted",
        entity="annual_plan",
        entity_id=plan.id,
        data={
            "sequence": sequence,
            "reason": reason,
            "diff": adjustment.diff,
            "content_digest_before": digest_before,
            "content_digest_after": adjustment.content_digest_after,
        },
    )
    session.commit()
    return adjustment


def list_adjustments(*, session: Session, actor: User, plan_id: uuid.UUID) -> list[PlanAdjustment]:
    plan = get_plan(session=session, actor=actor, plan_id=plan_id)
    return list(
        session.execute(
            select(PlanAdjustment).where(PlanAdjustment.plan_id == plan.id).order_by(PlanAdjustment.sequence)
        ).scalars()
    )


def plan_cap(plan: AnnualPlan) -> Decimal:
    return _plan_cap(plan)
