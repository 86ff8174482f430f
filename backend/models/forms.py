"""一企一表: one joint inspection form per drawn enterprise, its inspector team and review comments."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from .base import created_field, id_field, ts_field

FORM_STATUSES = ("draft", "dispatched", "in_progress", "submitted", "returned", "approved", "closed")
FORM_STATUS_LABELS = {
    "draft": "待派发",
    "dispatched": "已派发",
    "in_progress": "检查中",
    "submitted": "待审核",
    "returned": "退回修改",
    "approved": "已审核",
    "closed": "已办结",
}


class InspectionForm(SQLModel, table=True):
    """The joint form. `checkpoints` merges every participating department's 检查要点 at dispatch time."""

    __tablename__ = "inspection_form"

    id: uuid.UUID = id_field()
    code: str = Field(max_length=64, unique=True, index=True)
    task_id: uuid.UUID | None = Field(default=None, index=True)
    enterprise_id: uuid.UUID = Field(foreign_key="enterprise.id", index=True)
    lead_department_id: uuid.UUID = Field(foreign_key="department.id", index=True)
    department_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="draft", max_length=16, index=True)
    version: int = 1
    # [{key, question, legal_basis, item_code, item_name, item_version_id, department_id, department,
    #   answer_kind, options, photo_required, merged_from: [{item_code, department_id, legal_basis}]}]
    checkpoints: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    enterprise_snapshot: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    inspection_date: date | None = None
    deadline_start: date | None = None
    deadline_complete: date | None = None
    proposed_result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    dispatched_at: datetime | None = ts_field()
    submitted_at: datetime | None = ts_field()
    completed_at: datetime | None = ts_field()
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


class FormAssignment(SQLModel, table=True):
    """One inspector on a form's team for one department; replaced members stay with a reason (调整执法人员)."""

    __tablename__ = "form_assignment"
    __table_args__ = (UniqueConstraint("form_id", "inspector_id"),)

    id: uuid.UUID = id_field()
    form_id: uuid.UUID = Field(foreign_key="inspection_form.id", index=True)
    inspector_id: uuid.UUID = Field(foreign_key="inspector.id", index=True)
    department_id: uuid.UUID = Field(foreign_key="department.id")
    is_lead: bool = False
    active: bool = True
    assigned_at: datetime = created_field()
    replaced_at: datetime | None = ts_field()
    replaced_reason: str = ""


class ReviewComment(SQLModel, table=True):
    """A supervisor's comment on a form or one checkpoint; reaches the inspector on the next pull."""

    __tablename__ = "review_comment"

    id: uuid.UUID = id_field()
    form_id: uuid.UUID = Field(foreign_key="inspection_form.id", index=True)
    checkpoint_key: str | None = Field(default=None, max_length=64)
    comment: str = Field(max_length=2000)
    kind: str = Field(default="revise", max_length=16)  # revise | more_evidence | note
    author_id: uuid.UUID = Field(foreign_key="app_user.id")
    created_at: datetime = created_field()
    resolved_at: datetime | None = ts_field()
