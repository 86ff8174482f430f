"""Inspection results (检查结果) and what follows: publication (一公开), follow-ups, credit and rules."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from .base import created_field, id_field, ts_field


@dataclass(frozen=True)
class ResultCategory:
    code: str
    label: str
    problem: bool  # counts towards the problem rate (发现问题率)
    whole_form: bool  # about the enterprise as a whole, so every item gets it (not found, refused, closed...)


# The standard categories (SAMR usage, DESIGN §2), in the order the national system lists them.
RESULT_CATEGORIES: tuple[ResultCategory, ...] = (
    ResultCategory("no_problem", "未发现问题", False, False),
    ResultCategory("info_not_disclosed", "未按规定公示应当公示的信息", True, False),
    ResultCategory("info_falsified", "公示信息隐瞒真实情况弄虚作假", True, False),
    ResultCategory("unreachable_at_address", "通过登记的住所（经营场所）无法联系", True, True),
    ResultCategory("problem_corrected", "发现问题已责令改正", True, False),
    ResultCategory("problem_pending", "发现问题待后续处理", True, False),
    ResultCategory("no_related_activity", "未发现开展本次抽查涉及的经营活动", False, True),
    ResultCategory("closed_or_liquidating", "已关闭停业或正在组织清算", False, True),
    ResultCategory("refused_inspection", "不配合检查情节严重", True, True),
    ResultCategory("deregistered", "检查对象已注销/被吊销/被撤销/已迁出", False, True),
)
CATEGORY_BY_CODE = {c.code: c for c in RESULT_CATEGORIES}
CATEGORY_CODES = tuple(CATEGORY_BY_CODE)
CATEGORY_LABELS = {c.code: c.label for c in RESULT_CATEGORIES}

PUBLICATION_STATUSES = ("pending", "published", "withheld")
PUBLICATION_STATUS_LABELS = {"pending": "待公示", "published": "已公示", "withheld": "不予公示（已存档）"}
WITHHOLD_STATUSES = ("none", "requested", "approved", "rejected")
WITHHOLD_STATUS_LABELS = {
    "none": "",
    "requested": "不予公示待审批",
    "approved": "不予公示已批准",
    "rejected": "不予公示申请被驳回",
}

FOLLOW_UP_KINDS = ("rectification", "case_filed", "transfer_department", "transfer_judicial")
FOLLOW_UP_KIND_LABELS = {
    "rectification": "责令整改",
    "case_filed": "立案查处",
    "transfer_department": "移送其他部门",
    "transfer_judicial": "移送司法机关",
}
FOLLOW_UP_STATUSES = ("open", "closed")
FOLLOW_UP_STATUS_LABELS = {"open": "办理中", "closed": "已办结"}

CREDIT_FLAGS = ("abnormal_list", "serious_violation", "blacklist")
CREDIT_FLAG_LABELS = {
    "abnormal_list": "经营异常名录",
    "serious_violation": "严重违法失信名单",
    "blacklist": "黑名单",
}
CREDIT_RECORD_KINDS = ("inspection_result", "risk_level", "flag_proposed", "flag_listed", "flag_rejected")
PROPOSAL_STATUSES = ("pending", "approved", "rejected")


class InspectionResult(SQLModel, table=True):
    """The result of one 一企一表 form, entered at review; published within 20 工作日 or withheld."""

    __tablename__ = "inspection_result"
    __table_args__ = (
        Index("ix_inspection_result_dept_status", "department_id", "publication_status"),
        Index("ix_inspection_result_pub_deadline", "publication_status", "publication_deadline"),
    )

    id: uuid.UUID = id_field()
    form_id: uuid.UUID = Field(foreign_key="inspection_form.id", unique=True, index=True)
    enterprise_id: uuid.UUID = Field(foreign_key="enterprise.id", index=True)
    task_id: uuid.UUID | None = Field(
        default=None, index=True
    )  # no FK: planning is a sibling migration branch
    department_id: uuid.UUID = Field(
        foreign_key="department.id", index=True
    )  # the lead department (录入责任部门)
    department_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    category: str = Field(max_length=32, index=True)
    details: str = Field(default="", max_length=4000)
    completed_on: date  # the inspection was completed (first submission, China time)
    entry_deadline: date
    publication_deadline: date
    deadline_estimated: bool = False  # the holiday calendar did not cover the year: Mon–Fri were counted
    entered_at: datetime = created_field()
    entered_by: uuid.UUID = Field(foreign_key="app_user.id")
    publication_status: str = Field(default="pending", max_length=16)
    published_at: datetime | None = ts_field()
    published_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    withhold_status: str = Field(default="none", max_length=16)
    withheld_reason: str = Field(default="", max_length=2000)
    withhold_requested_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    withhold_requested_at: datetime | None = ts_field()
    withhold_approved_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    withhold_decided_at: datetime | None = ts_field()
    withhold_decision_note: str = Field(default="", max_length=2000)
    archived: bool = False  # withheld results are archived (存档备查), never deleted
    archived_at: datetime | None = ts_field()
    credit_applied_at: datetime | None = ts_field()
    version: int = 1
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


class InspectionResultItem(SQLModel, table=True):
    """The category for one check item (version) of the form: joint forms carry several departments' items."""

    __tablename__ = "inspection_result_item"
    __table_args__ = (UniqueConstraint("result_id", "item_key"),)

    id: uuid.UUID = id_field()
    result_id: uuid.UUID = Field(foreign_key="inspection_result.id", index=True)
    item_key: str = Field(max_length=80)  # item_version_id, else item code, else "form"
    item_version_id: uuid.UUID | None = Field(default=None, index=True)
    item_code: str = Field(default="", max_length=64)
    item_name: str = Field(default="", max_length=200)
    department_id: uuid.UUID | None = Field(default=None)
    category: str = Field(max_length=32)
    details: str = Field(default="", max_length=2000)


class FollowUp(SQLModel, table=True):
    """后续处置: 责令整改 (with a deadline), 立案, 移送 another department, 移送司法 — open until closed."""

    __tablename__ = "follow_up"

    id: uuid.UUID = id_field()
    result_id: uuid.UUID = Field(foreign_key="inspection_result.id", index=True)
    form_id: uuid.UUID = Field(foreign_key="inspection_form.id", index=True)
    enterprise_id: uuid.UUID = Field(foreign_key="enterprise.id", index=True)
    department_id: uuid.UUID = Field(foreign_key="department.id", index=True)
    kind: str = Field(max_length=32)
    status: str = Field(default="open", max_length=16, index=True)
    deadline: date | None = None
    target_department_id: uuid.UUID | None = Field(default=None, foreign_key="department.id")
    target_authority: str = Field(default="", max_length=200)  # 移送司法: the receiving organ
    description: str = Field(default="", max_length=2000)
    outcome: str = Field(default="", max_length=2000)
    created_by: uuid.UUID = Field(foreign_key="app_user.id")
    created_at: datetime = created_field()
    updated_at: datetime = created_field()
    closed_at: datetime | None = ts_field()
    closed_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")


class FollowUpEvent(SQLModel, table=True):
    """The history of a follow-up: opened, updated, closed, reopened, notes. Append-only."""

    __tablename__ = "follow_up_event"

    id: uuid.UUID = id_field()
    follow_up_id: uuid.UUID = Field(foreign_key="follow_up.id", index=True)
    at: datetime = created_field()
    actor_id: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    action: str = Field(max_length=32)
    note: str = Field(default="", max_length=2000)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class CreditRule(SQLModel, table=True):
    """A configured rule: a category raises (or lowers) the risk level and may propose a credit flag."""

    __tablename__ = "credit_rule"

    id: uuid.UUID = id_field()
    category: str = Field(max_length=32, unique=True)
    risk_level_delta: int = 0
    propose_flag: str | None = Field(default=None, max_length=32)
    active: bool = True
    note: str = Field(default="", max_length=500)
    updated_at: datetime = created_field()
    updated_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")


class CreditRecord(SQLModel, table=True):
    """One entry of an enterprise's credit timeline; only `public` entries ever reach the portal."""

    __tablename__ = "credit_record"
    __table_args__ = (Index("ix_credit_record_enterprise_on", "enterprise_id", "occurred_on"),)

    id: uuid.UUID = id_field()
    enterprise_id: uuid.UUID = Field(foreign_key="enterprise.id", index=True)
    kind: str = Field(max_length=32)
    result_id: uuid.UUID | None = Field(default=None, foreign_key="inspection_result.id", index=True)
    department_id: uuid.UUID | None = Field(default=None, foreign_key="department.id")
    category: str | None = Field(default=None, max_length=32)
    summary: str = Field(default="", max_length=1000)
    public: bool = False
    occurred_on: date
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = created_field()
    created_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")


class CreditFlagProposal(SQLModel, table=True):
    """A rule proposed a listing (e.g. 经营异常名录); the department head approves or rejects it."""

    __tablename__ = "credit_flag_proposal"

    id: uuid.UUID = id_field()
    enterprise_id: uuid.UUID = Field(foreign_key="enterprise.id", index=True)
    flag: str = Field(max_length=32)
    result_id: uuid.UUID = Field(foreign_key="inspection_result.id", index=True)
    department_id: uuid.UUID = Field(foreign_key="department.id", index=True)
    category: str = Field(max_length=32)
    status: str = Field(default="pending", max_length=16, index=True)
    proposed_at: datetime = created_field()
    decided_at: datetime | None = ts_field()
    decided_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    decision_note: str = Field(default="", max_length=1000)


__all__ = [
    "CATEGORY_BY_CODE",
    "CATEGORY_CODES",
    "CATEGORY_LABELS",
    "CREDIT_FLAGS",
    "CREDIT_FLAG_LABELS",
    "FOLLOW_UP_KINDS",
    "FOLLOW_UP_KIND_LABELS",
    "RESULT_CATEGORIES",
    "CreditFlagProposal",
    "CreditRecord",
    "CreditRule",
    "FollowUp",
    "FollowUpEvent",
    "InspectionResult",
    "InspectionResultItem",
    "ResultCategory",
]
