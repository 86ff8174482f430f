"""Contracts for enterprises, their status changes and list filters."""

from __future__ import annotations

from marshmallow import fields

from ...models.directory import ENTERPRISE_STATUS_LABELS, ENTERPRISE_STATUSES, Enterprise
from ...services.enterprises import FLAGS, SORTS
from ..schema_fields import (
    USCC,
    ApiSchema,
    Bool,
    Day,
    Id,
    Int,
    Items,
    ListQuery,
    Num,
    Text,
    between,
    industry_code,
    max_len,
    one_of,
    region_code,
    text,
    text_list,
)


def _len(name: str) -> int:
    return max_len(Enterprise, name)


class EnterpriseSchema(ApiSchema):
    id = Id(dump_only=True)
    uscc = USCC(required=True, metadata={"description": "统一社会信用代码（18 位，校验位按 GB 32100-2015）"})
    name = text(_len("name"), required=True)
    entity_type = text(_len("entity_type"), metadata={"description": "市场主体类型"})
    legal_representative = text(_len("legal_representative"))
    phone = text(_len("phone"))
    registered_address = text(_len("registered_address"), metadata={"description": "住所"})
    business_address = text(_len("business_address"), metadata={"description": "经营场所"})
    region_code = region_code()
    industry_code = industry_code(metadata={"description": "GB/T 4754 行业代码"})
    status = Text(
        validate=one_of(ENTERPRISE_STATUSES),
        metadata={"description": "登记状态；创建后须通过 POST …/status 变更并填写原因"},
    )
    status_label = fields.Method("_status_label", dump_only=True)
    special_libraries = text_list(32, 20, metadata={"description": "专项库，如 食品、特种设备、药品"})
    abnormal_list = Bool(metadata={"description": "经营异常名录"})
    serious_violation = Bool(metadata={"description": "严重违法失信名单"})
    blacklist = Bool()
    risk_level = Int(validate=between(1, 4), metadata={"description": "风险等级 1 低 … 4 高"})
    complaints_count = Int(validate=between(0, 1_000_000))
    established_on = Day(allow_none=True)
    lat = Num(allow_none=True, validate=between(-90, 90))
    lng = Num(allow_none=True, validate=between(-180, 180))
    active = Bool()
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)

    def _status_label(self, obj: Enterprise) -> str:
        return ENTERPRISE_STATUS_LABELS.get(obj.status, obj.status)


class EnterpriseUpdateSchema(EnterpriseSchema):
    """PATCH body: every field optional (used with partial=True); status changes via …/status."""


class EnterpriseQuery(ListQuery):
    region_code = Text(metadata={"description": "行政区划代码或其前缀（5108 = 广元市全部区县）"})
    industry_code = Text(metadata={"description": "行业代码或其前缀（C13 = 农副食品加工业）"})
    status = Items(Text(), metadata={"description": f"可重复或逗号分隔：{', '.join(ENTERPRISE_STATUSES)}"})
    special_library = Text()
    flags = Items(Text(), metadata={"description": f"须同时具备的标记：{', '.join(FLAGS)}"})
    flagged = Bool(metadata={"description": "true = 任一信用标记；false = 无标记"})
    risk_level = Items(Text(), metadata={"description": "1–4，可重复或逗号分隔"})
    active = Bool(load_default=True, metadata={"description": "默认只列出在库的对象"})
    sort = Text(
        validate=one_of([*SORTS, *(f"-{k}" for k in SORTS)]),
        metadata={"description": "排序字段，前加 - 为降序"},
    )


class StatusChangeSchema(ApiSchema):
    id = Id(dump_only=True)
    enterprise_id = Id(dump_only=True)
    from_status = Text(dump_only=True)
    to_status = Text(dump_only=True)
    status = Text(required=True, load_only=True, validate=one_of(ENTERPRISE_STATUSES))
    reason = text(500, required=True, metadata={"description": "变更原因（必填）"})
    changed_at = fields.DateTime(dump_only=True)
    actor_id = Id(dump_only=True)
