"""The append-only, hash-chained audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from .base import created_field


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"

    seq: int | None = Field(default=None, primary_key=True)
    at: datetime = created_field()
    actor_id: uuid.UUID | None = Field(default=None, index=True)
    actor: str = Field(default="system", max_length=64)
    action: str = Field(max_length=64, index=True)
    entity: str = Field(max_length=64, index=True)
    entity_id: str = Field(default="", max_length=64, index=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)
