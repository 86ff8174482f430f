"""Annual plans, tasks and the verifiable draw: notices, draws, public artifacts, witness signatures."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary, UniqueConstraint, event
from sqlmodel import Field, SQLModel

from .base import created_field, id_field, ts_field

PLAN_STATUSES = ("draft", "submitted", "rejected", "approved", "published", "adjusted")
PLAN_STATUS_LABELS = {
    "draft": "草稿",
    "submitted": "待审批",
    "rejected": "已退回",
    "approved": "已批准",
    "published": "已公布",
    "adjusted": "已调整（已备案）",
}
PLAN_EDITABLE = ("draft", "rejected")
PLAN_IN_FORCE = ("published", "adjusted")  # tasks may be created under these

TASK_STATUSES = ("draft", "noticed", "drawn", "dispatched")
TASK_STATUS_LABELS = {"draft": "草稿", "noticed": "已公告", "drawn": "已抽取", "dispatched": "已派发"}
STRATA_KEYS = ("region_code", "industry_code", "none")

DRAW_STATUSES = ("awaiting_entropy", "performed")
ARTIFACT_KINDS = ("population", "matching_side", "record")


class AnnualPlan(SQLModel, table=True):
    """年度抽查计划. Ratios are decimal strings ("0.03"): the draw refuses floats."""

    __tablename__ = "annual_plan"

    id: uuid.UUID = id_field()
    name: str = Field(max_length=200)
    year: int = Field(index=True)
    item_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # CheckItem ids
    target_scope: str = ""  # 检查对象 (description)
    target_filters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    methods: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    ratio: str | None = Field(default=None, max_length=16)
    count: int | None = None
    lead_department_id: uuid.UUID = Field(foreign_key="department.id", index=True)
    participating_department_ids: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    window_start: date | None = None
    window_end: date | None = None
    deadline: date  # 完成时限, default 11-20 of the year
    is_key_area: bool = False  # 重点领域、特殊行业: may exceed 5 % but must state its own cap
    key_area_cap: str | None = Field(default=None, max_length=16)
    key_area_basis: str = ""  # why the plan is a key area (上级要求、特殊行业…)
    status: str = Field(default="draft", max_length=16, index=True)
    version: int = 1  # bumps with every filed adjustment
    created_by: uuid.UUID = Field(foreign_key="app_user.id")
    created_at: datetime = created_field()
    updated_at: datetime = created_field()
    submitted_at: datetime | None = ts_field()
    submitted_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    rejected_at: datetime | None = ts_field()
    rejected_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    rejected_reason: str = ""
    approved_at: datetime | None = ts_field()
    approved_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    content_digest: str | None = Field(default=None, max_length=64)  # SHA-256 of the approved content
    signature: str | None = Field(default=None, max_length=64)  # HMAC over digest + approver + time
    published_at: datetime | None = ts_field()
    published_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")


class PlanAdjustment(SQLModel, table=True):
    """One filed adjustment (动态调整，备案) of a published plan; never edited or deleted."""

    __tablename__ = "plan_adjustment"
    __table_args__ = (UniqueConstraint("plan_id", "sequence"),)

    id: uuid.UUID = id_field()
    plan_id: uuid.UUID = Field(foreign_key="annual_plan.id", index=True)
    sequence: int  # 1, 2, ... per plan
    reason: str
    diff: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )  # {field: [old, new]}
    content_digest_before: str = Field(max_length=64)
    content_digest_after: str = Field(max_length=64)
    filed_at: datetime = created_field()
    filed_by: uuid.UUID = Field(foreign_key="app_user.id")


class InspectionTask(SQLModel, table=True):
    """抽查任务: one draw under a plan with its scope, strata, weights, exclusions and team rules."""

    __tablename__ = "inspection_task"

    id: uuid.UUID = id_field()
    plan_id: uuid.UUID = Field(foreign_key="annual_plan.id", index=True)
    code: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=200)
    item_version_ids: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )  # pinned
    item_ids: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )  # their CheckItems
    department_ids: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )  # lead first
    # {region_codes: [prefix], industry_codes: [prefix], special_libraries: [any of], statuses: [...],
    #  abnormal_list: bool, serious_violation: bool, blacklist: bool, min_risk_level: int}
    target_filters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    ratio: str | None = Field(default=None, max_length=16)
    count: int | None = None
    strata_key: str = Field(default="region_code", max_length=16)
    weight_rule: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    exclude_inspected_months: int | None = None  # same item within N months
    pairing_lookback_months: int = 12  # previous pairings with the same enterprise are avoided
    inspectors_per_target: dict[str, int] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    workload_cap: int | None = None
    inspection_date: date | None = None
    window_end: date | None = None  # must be done by (<= the plan's deadline)
    status: str = Field(default="draft", max_length=16, index=True)
    created_by: uuid.UUID = Field(foreign_key="app_user.id")
    created_at: datetime = created_field()
    updated_at: datetime = created_field()
    noticed_at: datetime | None = ts_field()
    drawn_at: datetime | None = ts_field()
    dispatched_at: datetime | None = ts_field()
    dispatched_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    deadline_start: date | None = None  # 5 工作日 after dispatch
    deadline_complete: date | None = None


class DrawNotice(SQLModel, table=True):
    """The task notice published before the draw. Immutable: the ORM and a database trigger refuse changes."""

    __tablename__ = "draw_notice"

    id: uuid.UUID = id_field()
    task_id: uuid.UUID = Field(foreign_key="inspection_task.id", unique=True, index=True)
    algorithm: str = Field(max_length=64)
    population_digest: str = Field(max_length=64)
    population_size: int
    total: int  # enterprises to draw
    parameters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    commitment: str = Field(max_length=64)
    matching_digest: str | None = Field(default=None, max_length=64)
    notice: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )  # as published
    notice_digest: str = Field(max_length=64)
    published_at: datetime = created_field()
    published_by: uuid.UUID = Field(foreign_key="app_user.id")


class Draw(SQLModel, table=True):
    """The draw of one notice: entropy entered after the notice, the sealed secret, the seed and the record.

    Created with the notice (it holds the secret sealed until the draw); frozen once performed.
    """

    __tablename__ = "draw"

    id: uuid.UUID = id_field()
    task_id: uuid.UUID = Field(foreign_key="inspection_task.id", unique=True, index=True)
    notice_id: uuid.UUID = Field(foreign_key="draw_notice.id", unique=True)
    status: str = Field(default="awaiting_entropy", max_length=16)
    secret_sealed: str = Field(max_length=200)  # encrypted at rest; revealed only inside the record
    witness_numbers: dict[str, list[int]] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    beacon_name: str | None = Field(default=None, max_length=128)
    beacon_value: str | None = Field(default=None, max_length=512)
    # [{source, kind, entered_by, entered_by_name, entered_at}]
    entropy_log: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    entered_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")  # last entry
    seed: str | None = Field(default=None, max_length=64)
    record_digest: str | None = Field(default=None, max_length=64)
    selected_count: int | None = None
    performed_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    revealed_at: datetime | None = ts_field()
    created_at: datetime = created_field()


class DrawArtifact(SQLModel, table=True):
    """Published bytes of a draw (population CSV, inspector side, record JSON): compressed (Zstandard, or zlib
    for those stored before it), write-once."""

    __tablename__ = "draw_artifact"
    __table_args__ = (UniqueConstraint("notice_id", "kind"),)

    id: uuid.UUID = id_field()
    notice_id: uuid.UUID = Field(foreign_key="draw_notice.id", index=True)
    kind: str = Field(max_length=32)
    sha256: str = Field(max_length=64)  # of the uncompressed bytes
    size: int
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = created_field()


class DrawWitnessSignature(SQLModel, table=True):
    """A witness (监督员) attests that the draw they watched produced this record."""

    __tablename__ = "draw_witness_signature"
    __table_args__ = (UniqueConstraint("draw_id", "user_id"),)

    id: uuid.UUID = id_field()
    draw_id: uuid.UUID = Field(foreign_key="draw.id", index=True)
    user_id: uuid.UUID = Field(foreign_key="app_user.id")
    signer_name: str = Field(max_length=64)
    role: str = Field(max_length=16)
    statement: str = Field(default="", max_length=500)
    record_digest: str = Field(max_length=64)
    signature: str = Field(max_length=64)  # HMAC over draw, record digest, user and time
    signed_at: datetime = created_field()


class ImmutableRecord(RuntimeError):
    """An attempt to change a published notice, an artifact or a performed draw."""


@event.listens_for(DrawNotice, "before_update")
@event.listens_for(DrawArtifact, "before_update")
@event.listens_for(DrawNotice, "before_delete")
@event.listens_for(DrawArtifact, "before_delete")
def _refuse_change(_mapper: Any, _connection: Any, target: Any) -> None:
    raise ImmutableRecord(f"{type(target).__name__} 已公布，不可修改或删除")


@event.listens_for(Draw, "before_update")
def _freeze_performed_draw(_mapper: Any, _connection: Any, target: Draw) -> None:
    from sqlalchemy import inspect

    history = inspect(target).attrs.record_digest.history
    before = (history.deleted or history.unchanged or [None])[0]
    if before is not None:
        raise ImmutableRecord("摇号已完成，记录不可修改")
