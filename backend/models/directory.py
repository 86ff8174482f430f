"""The one list and two directories (一单两库): departments, check items, enterprises, inspectors, 回避 records."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint, func
from sqlmodel import Field, SQLModel

from .base import created_field, id_field, ts_field

DEPARTMENT_LEVELS = ("province", "city", "county", "station")  # 省/市/县/所
ENTERPRISE_STATUSES = ("active", "operating", "cancelled", "revoked", "moved_out")
ENTERPRISE_STATUS_LABELS = {
    "active": "存续",
    "operating": "在业",
    "cancelled": "注销",
    "revoked": "吊销",
    "moved_out": "迁出",
}
INELIGIBLE_STATUSES = ("cancelled", "revoked", "moved_out")
ITEM_CATEGORIES = ("key", "general")  # 重点 / 一般
ITEM_METHODS = ("实地检查", "书面检查", "网络监测", "检验检测", "委托专业机构")
ANSWER_KINDS = ("pass_fail", "number", "text", "choice")
ITEM_VERSION_STATES = ("draft", "published", "retired")


class Department(SQLModel, table=True):
    __tablename__ = "department"

    id: uuid.UUID = id_field()
    code: str = Field(max_length=32, unique=True, index=True)
    name: str = Field(max_length=128)
    region_code: str = Field(max_length=6, index=True)
    level: str = Field(max_length=16)
    parent_id: uuid.UUID | None = Field(default=None, foreign_key="department.id")
    active: bool = True
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


class CheckItem(SQLModel, table=True):
    """The stable identity of a 抽查事项; its content lives in versions."""

    __tablename__ = "check_item"

    id: uuid.UUID = id_field()
    code: str = Field(max_length=64, unique=True, index=True)
    department_id: uuid.UUID = Field(foreign_key="department.id", index=True)
    active: bool = True
    created_at: datetime = created_field()


class CheckItemVersion(SQLModel, table=True):
    __tablename__ = "check_item_version"
    __table_args__ = (UniqueConstraint("item_id", "version"),)

    id: uuid.UUID = id_field()
    item_id: uuid.UUID = Field(foreign_key="check_item.id", index=True)
    version: int = 1
    status: str = Field(default="draft", max_length=16)
    name: str = Field(max_length=200)
    basis: str = ""  # 抽查依据
    methods: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    content: str = ""  # 抽查内容
    category: str = Field(default="general", max_length=16)
    target_scope: str = ""  # 检查对象范围 (description)
    specialty: str | None = Field(default=None, max_length=64)  # required inspector specialty
    change_note: str = ""
    created_at: datetime = created_field()
    published_at: datetime | None = ts_field()
    published_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")


class Checkpoint(SQLModel, table=True):
    """检查要点: one question of a check item version."""

    __tablename__ = "checkpoint"
    __table_args__ = (UniqueConstraint("item_version_id", "key"),)

    id: uuid.UUID = id_field()
    item_version_id: uuid.UUID = Field(foreign_key="check_item_version.id", index=True)
    position: int = 0
    key: str = Field(max_length=64)
    question: str = Field(max_length=500)
    legal_clause: str = ""
    answer_kind: str = Field(default="pass_fail", max_length=16)
    options: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    photo_required: bool = False


class Enterprise(SQLModel, table=True):
    """检查对象: a market entity keyed by its 统一社会信用代码.

    Indexed by its id and its USCC only: a directory import maintains every index for each of a million
    rows, and no query can use one on the name (searched by substring), the status (the draw keeps nearly
    every row) or the region and industry codes (filtered by prefix); see migration 0006.
    """

    __tablename__ = "enterprise"

    id: uuid.UUID = id_field()
    uscc: str = Field(max_length=18, unique=True, index=True)
    name: str = Field(max_length=200)
    entity_type: str = Field(default="", max_length=64)
    legal_representative: str = Field(default="", max_length=64)
    phone: str = Field(default="", max_length=32)
    registered_address: str = Field(default="", max_length=300)
    business_address: str = Field(default="", max_length=300)
    region_code: str = Field(default="", max_length=6)
    industry_code: str = Field(default="", max_length=8)
    status: str = Field(default="active", max_length=16)
    special_libraries: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    abnormal_list: bool = False  # 经营异常名录
    serious_violation: bool = False  # 严重违法失信名单
    blacklist: bool = False
    risk_level: int = 1  # 1 低 .. 4 高
    complaints_count: int = 0
    established_on: date | None = None
    lat: float | None = None
    lng: float | None = None
    active: bool = True
    # The server default lets a bulk COPY leave both stamps to PostgreSQL instead of sending (and having it
    # parse) two timestamps per row. PostgreSQL only: see migration 0006.
    created_at: datetime = created_field(server_default=func.now())
    updated_at: datetime = created_field(server_default=func.now())


class EnterpriseStatusChange(SQLModel, table=True):
    __tablename__ = "enterprise_status_change"

    id: uuid.UUID = id_field()
    enterprise_id: uuid.UUID = Field(foreign_key="enterprise.id", index=True)
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
    reason: str = ""
    changed_at: datetime = created_field()
    actor_id: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")


class Inspector(SQLModel, table=True):
    """执法检查人员 with their 执法证."""

    __tablename__ = "inspector"

    id: uuid.UUID = id_field()
    staff_no: str = Field(max_length=32, unique=True, index=True)
    name: str = Field(max_length=64, index=True)
    department_id: uuid.UUID = Field(foreign_key="department.id", index=True)
    certificate_no: str = Field(max_length=64, unique=True)
    certificate_type: str = Field(default="行政执法证", max_length=64)
    certificate_valid_until: date | None = None
    specialties: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    region_codes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    years_of_service: int = 0
    phone: str = Field(default="", max_length=32)
    active: bool = True
    created_at: datetime = created_field()
    updated_at: datetime = created_field()

    def certificate_valid_on(self, day: date) -> bool:
        return bool(self.active and self.certificate_valid_until and self.certificate_valid_until >= day)


class ConflictOfInterest(SQLModel, table=True):
    """回避: an inspector must not inspect this enterprise."""

    __tablename__ = "conflict_of_interest"
    __table_args__ = (UniqueConstraint("inspector_id", "enterprise_id"),)

    id: uuid.UUID = id_field()
    inspector_id: uuid.UUID = Field(foreign_key="inspector.id", index=True)
    enterprise_id: uuid.UUID = Field(foreign_key="enterprise.id", index=True)
    reason: str = Field(default="other", max_length=32)  # relative / former_employer / other
    note: str = ""
    created_at: datetime = created_field()
    created_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")


class CalendarOverride(SQLModel, table=True):
    """A local working-day override (地方调休) an admin adds on top of the statutory calendar."""

    __tablename__ = "calendar_override"

    day: date = Field(primary_key=True)
    is_workday: bool
    note: str = ""


def as_dict(obj: SQLModel) -> dict[str, Any]:
    return obj.model_dump()
