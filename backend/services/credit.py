"""Credit linkage (信用监管联动): results into the enterprise's credit record, rules raising its risk level
and proposing listings (e.g. 通过登记的住所无法联系 → 经营异常名录) that the department head approves.

The enterprise fields these rules change (risk_level, abnormal_list, serious_violation, blacklist) are the
ones the draw weighs, so the next draw reflects them. Risk levels change directly (internal classification);
a listing is a legal act, so it only happens after the department head (approver) approves the proposal.
Rules are applied once per result, when it is finalised: published, or withheld with approval (withholding
hides the result from the public, not from supervision).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..models.accounts import User
from ..models.base import utcnow
from ..models.directory import Department, Enterprise
from ..models.results import (
    CATEGORY_CODES,
    CATEGORY_LABELS,
    CREDIT_FLAG_LABELS,
    CREDIT_FLAGS,
    CreditFlagProposal,
    CreditRecord,
    CreditRule,
    InspectionResult,
)
from . import audit, result_scope
from .results import china_date, jsonable

RISK_MIN, RISK_MAX = 1, 4
RISK_LABELS = {1: "低", 2: "较低", 3: "较高", 4: "高"}
PROPOSAL_NOT_FOUND = "信用惩戒提议不存在"


@dataclass(frozen=True)
class RuleSpec:
    risk_level_delta: int
    propose_flag: str | None
    note: str


# Defaults until an administrator configures a rule for the category (a configured row always wins).
DEFAULT_RULES: dict[str, RuleSpec] = {
    "no_problem": RuleSpec(0, None, ""),
    "info_not_disclosed": RuleSpec(
        1, "abnormal_list", "《企业经营异常名录管理暂行办法》：未按规定公示应当公示的信息"
    ),
    "info_falsified": RuleSpec(2, "abnormal_list", "公示信息隐瞒真实情况、弄虚作假的，列入经营异常名录"),
    "unreachable_at_address": RuleSpec(
        1, "abnormal_list", "通过登记的住所或者经营场所无法联系的，列入经营异常名录"
    ),
    "problem_corrected": RuleSpec(0, None, "已责令改正：记入信用记录，不调整风险等级"),
    "problem_pending": RuleSpec(1, None, "发现问题待后续处理：风险等级上调一级"),
    "no_related_activity": RuleSpec(0, None, ""),
    "closed_or_liquidating": RuleSpec(0, None, ""),
    "refused_inspection": RuleSpec(2, None, "不配合检查情节严重：风险等级上调两级"),
    "deregistered": RuleSpec(0, None, ""),
}


# ------------------------------------------------------------------------------------------------ rules


def rules(session: Session) -> dict[str, dict[str, Any]]:
    configured = {r.category: r for r in session.execute(select(CreditRule)).scalars()}
    out = {}
    for code in CATEGORY_CODES:
        row = configured.get(code)
        default = DEFAULT_RULES[code]
        if row is not None:
            out[code] = {
                "category": code,
                "category_label": CATEGORY_LABELS[code],
                "risk_level_delta": row.risk_level_delta,
                "propose_flag": row.propose_flag,
                "active": row.active,
                "note": row.note,
                "source": "configured",
                "updated_at": row.updated_at,
            }
        else:
            out[code] = {
                "category": code,
                "category_label": CATEGORY_LABELS[code],
                "risk_level_delta": default.risk_level_delta,
                "propose_flag": default.propose_flag,
                "active": True,
                "note": default.note,
                "source": "default",
                "updated_at": None,
            }
    return out


def list_rules(*, session: Session, actor: User) -> list[dict[str, Any]]:
    result_scope.require_any_role(actor, result_scope.READ_ROLES)
    return list(rules(session).values())


def set_rule(*, session: Session, actor: User, category: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Configure the rule of one category (system administrator; every change is audited)."""
    if not actor.has_role("admin"):
        raise Forbidden("只有系统管理员可以配置信用规则")
    if category not in CATEGORY_CODES:
        raise NotFound("检查结果类别不存在")
    flag = values.get("propose_flag")
    if flag not in (None, *CREDIT_FLAGS):
        raise Invalid("信用标记无效", errors={"propose_flag": [f"可选值：{', '.join(CREDIT_FLAGS)}"]})
    delta = int(values.get("risk_level_delta", 0))
    if not -3 <= delta <= 3:
        raise Invalid("风险等级调整幅度应在 -3 到 3 之间", errors={"risk_level_delta": ["超出范围"]})
    row = session.execute(select(CreditRule).where(CreditRule.category == category)).scalar_one_or_none()
    before = rules(session)[category]
    if row is None:
        row = CreditRule(category=category)
    row.risk_level_delta = delta
    row.propose_flag = flag
    row.active = bool(values.get("active", True))
    row.note = (values.get("note") or "").strip()
    row.updated_at = utcnow()
    row.updated_by = actor.id
    session.add(row)
    audit.record(
        session=session,
        actor=actor,
        action="credit_rule.set",
        entity="credit_rule",
        entity_id=category,
        data={
            "before": {k: before[k] for k in ("risk_level_delta", "propose_flag", "active", "note")},
            "after": {
                "risk_level_delta": delta,
                "propose_flag": flag,
                "active": row.active,
                "note": row.note,
            },
        },
    )
    session.commit()
    return rules(session)[category]


# ---------------------------------------------------------------------------------------------- applying


def _summary(result: InspectionResult, dept: Department | None) -> str:
    who = dept.name if dept else "检查部门"
    return f"{who}“双随机、一公开”抽查：{CATEGORY_LABELS.get(result.category, result.category)}"


def apply_result(session: Session, actor: User, result: InspectionResult) -> dict[str, Any]:
    """Record the finalised result in the credit record and apply its rule (caller's transaction)."""
    if result.credit_applied_at is not None:
        return {"applied": False}
    now = utcnow()
    ent = session.get(Enterprise, result.enterprise_id)
    assert ent is not None  # noqa: S101 - FK
    dept = session.get(Department, result.department_id)
    public = result.publication_status == "published"
    on = china_date(result.published_at or now)
    session.add(
        CreditRecord(
            enterprise_id=ent.id,
            kind="inspection_result",
            result_id=result.id,
            department_id=result.department_id,
            category=result.category,
            summary=_summary(result, dept),
            public=public,
            occurred_on=on,
            data={
                "completed_on": result.completed_on.isoformat(),
                "publication_status": result.publication_status,
            },
            created_by=actor.id,
        )
    )
    rule = rules(session)[result.category]
    outcome: dict[str, Any] = {"applied": True, "risk_level": None, "proposal": None}
    if rule["active"] and rule["risk_level_delta"]:
        old = ent.risk_level or RISK_MIN
        new = max(RISK_MIN, min(RISK_MAX, old + int(rule["risk_level_delta"])))
        if new != old:
            ent.risk_level = new
            ent.updated_at = now
            session.add(ent)
            session.add(
                CreditRecord(
                    enterprise_id=ent.id,
                    kind="risk_level",
                    result_id=result.id,
                    department_id=result.department_id,
                    category=result.category,
                    public=False,
                    occurred_on=on,
                    summary=f"风险等级由{RISK_LABELS[old]}（{old}）调整为{RISK_LABELS[new]}（{new}）",
                    data={"from": old, "to": new, "rule": result.category},
                    created_by=actor.id,
                )
            )
            audit.record(
                session=session,
                actor=actor,
                action="enterprise.risk_level",
                entity="enterprise",
                entity_id=ent.id,
                data={"from": old, "to": new, "result_id": str(result.id), "rule": result.category},
            )
            outcome["risk_level"] = {"from": old, "to": new}
    flag = rule["propose_flag"] if rule["active"] else None
    if flag and not getattr(ent, flag):
        already = session.execute(
            select(CreditFlagProposal.id).where(
                CreditFlagProposal.enterprise_id == ent.id,
                CreditFlagProposal.flag == flag,
                CreditFlagProposal.status == "pending",
            )
        ).first()
        if already is None:
            proposal = CreditFlagProposal(
                enterprise_id=ent.id,
                flag=flag,
                result_id=result.id,
                department_id=result.department_id,
                category=result.category,
                proposed_at=now,
            )
            session.add(proposal)
            session.flush()
            session.add(
                CreditRecord(
                    enterprise_id=ent.id,
                    kind="flag_proposed",
                    result_id=result.id,
                    department_id=result.department_id,
                    category=result.category,
                    public=False,
                    occurred_on=on,
                    summary=f"拟列入{CREDIT_FLAG_LABELS[flag]}（待部门负责人审批）",
                    data={"flag": flag, "proposal_id": str(proposal.id)},
                    created_by=actor.id,
                )
            )
            audit.record(
                session=session,
                actor=actor,
                action="credit.propose_flag",
                entity="credit_flag_proposal",
                entity_id=proposal.id,
                data={
                    "enterprise_id": str(ent.id),
                    "flag": flag,
                    "result_id": str(result.id),
                    "category": result.category,
                },
            )
            outcome["proposal"] = {"id": str(proposal.id), "flag": flag}
    result.credit_applied_at = now
    session.add(result)
    audit.record(
        session=session,
        actor=actor,
        action="credit.record",
        entity="inspection_result",
        entity_id=result.id,
        data={"enterprise_id": str(ent.id), "public": public, **jsonable(outcome)},
    )
    return outcome


# ---------------------------------------------------------------------------------------------- proposals


def list_proposals(
    *, session: Session, actor: User, status: str | None = "pending", department_id: uuid.UUID | None = None
) -> list[CreditFlagProposal]:
    stmt = select(CreditFlagProposal)
    cond = result_scope.lead_department_filter(actor, CreditFlagProposal.department_id, department_id)
    if cond is not None:
        stmt = stmt.where(cond)
    if status:
        stmt = stmt.where(CreditFlagProposal.status == status)
    return list(session.execute(stmt.order_by(CreditFlagProposal.proposed_at)).scalars())  # type: ignore[arg-type]


def proposal_views(session: Session, rows: list[CreditFlagProposal]) -> list[dict[str, Any]]:
    ents = (
        {
            e.id: e
            for e in session.execute(
                select(Enterprise).where(Enterprise.id.in_({r.enterprise_id for r in rows}))  # type: ignore[attr-defined]
            ).scalars()
        }
        if rows
        else {}
    )
    return [
        {
            "id": r.id,
            "enterprise": {
                "id": r.enterprise_id,
                "name": ents[r.enterprise_id].name,
                "uscc": ents[r.enterprise_id].uscc,
            },
            "flag": r.flag,
            "flag_label": CREDIT_FLAG_LABELS[r.flag],
            "result_id": r.result_id,
            "department_id": r.department_id,
            "category": r.category,
            "category_label": CATEGORY_LABELS.get(r.category, r.category),
            "status": r.status,
            "proposed_at": r.proposed_at,
            "decided_at": r.decided_at,
            "decided_by": r.decided_by,
            "decision_note": r.decision_note,
        }
        for r in rows
    ]


def decide_proposal(
    *,
    session: Session,
    actor: User,
    proposal_id: uuid.UUID,
    approve: bool,
    note: str,
) -> CreditFlagProposal:
    """The department head lists the enterprise (the draw then weighs the flag) or rejects the proposal."""
    proposal = session.get(CreditFlagProposal, proposal_id)
    if proposal is None:
        raise NotFound(PROPOSAL_NOT_FOUND)
    result_scope.require_lead(
        actor,
        proposal.department_id,
        (),
        result_scope.HEAD_ROLES,
        what="审批列入信用惩戒名单",
        message=PROPOSAL_NOT_FOUND,
    )
    if proposal.status != "pending":
        raise Conflict("该提议已审批")
    note = (note or "").strip()
    if not approve and not note:
        raise Invalid("驳回时必须说明理由", errors={"note": ["必填"]})
    now = utcnow()
    proposal.status = "approved" if approve else "rejected"
    proposal.decided_at, proposal.decided_by, proposal.decision_note = now, actor.id, note
    session.add(proposal)
    ent = session.get(Enterprise, proposal.enterprise_id)
    assert ent is not None  # noqa: S101 - FK
    label = CREDIT_FLAG_LABELS[proposal.flag]
    if approve:
        setattr(ent, proposal.flag, True)
        ent.updated_at = now
        session.add(ent)
    session.add(
        CreditRecord(
            enterprise_id=ent.id,
            kind="flag_listed" if approve else "flag_rejected",
            result_id=proposal.result_id,
            department_id=proposal.department_id,
            category=proposal.category,
            # A listing is itself public (列入经营异常名录 is announced); a rejected proposal is not.
            public=approve,
            occurred_on=china_date(now),
            summary=f"列入{label}" if approve else f"不予列入{label}：{note}",
            data={"flag": proposal.flag, "proposal_id": str(proposal.id)},
            created_by=actor.id,
        )
    )
    audit.record(
        session=session,
        actor=actor,
        action="credit.approve_flag" if approve else "credit.reject_flag",
        entity="credit_flag_proposal",
        entity_id=proposal.id,
        data={"enterprise_id": str(ent.id), "flag": proposal.flag, "note": note},
    )
    session.commit()
    return proposal


# ------------------------------------------------------------------------------------------------ timeline


def timeline(session: Session, enterprise_id: uuid.UUID, *, public_only: bool) -> list[CreditRecord]:
    stmt = select(CreditRecord).where(CreditRecord.enterprise_id == enterprise_id)
    if public_only:
        stmt = stmt.where(CreditRecord.public.is_(True))  # type: ignore[attr-defined]
    return list(
        session.execute(
            stmt.order_by(CreditRecord.occurred_on.desc(), CreditRecord.created_at.desc())  # type: ignore[attr-defined]
        ).scalars()
    )


def enterprise_timeline(*, session: Session, actor: User, enterprise_id: uuid.UUID) -> dict[str, Any]:
    """The full (internal) credit record: staff of any department with a result for the enterprise, admins."""
    result_scope.require_any_role(actor, result_scope.READ_ROLES)
    ent = session.get(Enterprise, enterprise_id)
    if ent is None:
        raise NotFound("检查对象不存在")
    records = timeline(session, enterprise_id, public_only=False)
    if not actor.has_role("admin"):
        mine = str(actor.department_id)
        visible_results = {
            r.id
            for r in session.execute(
                select(InspectionResult).where(InspectionResult.enterprise_id == enterprise_id)
            ).scalars()
            if result_scope.can_read(actor, r.department_id, r.department_ids)
        }
        records = [
            r for r in records if r.public or r.result_id in visible_results or str(r.department_id) == mine
        ]
    return {
        "enterprise": {
            "id": ent.id,
            "name": ent.name,
            "uscc": ent.uscc,
            "risk_level": ent.risk_level,
            "abnormal_list": ent.abnormal_list,
            "serious_violation": ent.serious_violation,
            "blacklist": ent.blacklist,
            "complaints_count": ent.complaints_count,
        },
        "records": [record_view(r) for r in records],
    }


def record_view(r: CreditRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "kind": r.kind,
        "result_id": r.result_id,
        "department_id": r.department_id,
        "category": r.category,
        "category_label": CATEGORY_LABELS.get(r.category or "", None),
        "summary": r.summary,
        "public": r.public,
        "occurred_on": r.occurred_on,
        "data": r.data,
        "created_at": r.created_at,
    }


def pending_proposals_count(session: Session, department_id: uuid.UUID) -> int:
    return int(
        session.execute(
            select(func.count())
            .select_from(CreditFlagProposal)
            .where(CreditFlagProposal.department_id == department_id, CreditFlagProposal.status == "pending")
        ).scalar_one()
    )
