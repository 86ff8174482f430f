"""User accounts, roles with department scope, and refresh-token families."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from .base import created_field, id_field, ts_field

ROLES = ("admin", "planner", "approver", "supervisor", "inspector", "witness")
ROLE_LABELS = {
    "admin": "系统管理员",
    "planner": "部门管理员",
    "approver": "局领导",
    "supervisor": "审核人",
    "inspector": "执法检查人员",
    "witness": "监督员",
}


class User(SQLModel, table=True):
    __tablename__ = "app_user"

    id: uuid.UUID = id_field()
    username: str = Field(max_length=64, unique=True, index=True)
    display_name: str = Field(max_length=64)
    password_hash: str = Field(max_length=256)
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    department_id: uuid.UUID | None = Field(default=None, foreign_key="department.id")
    inspector_id: uuid.UUID | None = Field(default=None, foreign_key="inspector.id", unique=True)
    active: bool = True
    created_at: datetime = created_field()
    last_login_at: datetime | None = ts_field()

    def has_role(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)


class RefreshToken(SQLModel, table=True):
    """One issued refresh token; tokens of one login form a family revoked together on reuse."""

    __tablename__ = "refresh_token"

    jti: str = Field(primary_key=True, max_length=64)
    family_id: str = Field(max_length=64, index=True)
    user_id: uuid.UUID = Field(foreign_key="app_user.id", index=True)
    issued_at: datetime = created_field()
    expires_at: datetime = ts_field(nullable=False)
    used_at: datetime | None = ts_field()
    revoked_at: datetime | None = ts_field()
