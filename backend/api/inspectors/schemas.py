"""Contracts for inspectors, their certificate validity and list filters."""

from __future__ import annotations

from marshmallow import Schema, fields

from ...models.directory import Inspector
from ...services.inspectors import SORTS
from ..schema_fields import (
    ApiSchema,
    Bool,
    Day,
    Id,
    Int,
    Items,
    ListQuery,
    Text,
    between,
    count,
    max_len,
    one_of,
    region_code,
    text,
    text_list,
)


def _len(name: str) -> int:
    return max_len(Inspector, name)


class InspectorSchema(ApiSchema):
    id = Id(dump_only=True)
    staff_no = text(_len("staff_no"), required=True, metadata={"description": "工号（唯一）"})
    name = text(_len("name"), required=True)
    department_id = Id(metadata={"description": "省略时为当前用户所在部门"})
    certificate_no = text(_len("certificate_no"), required=True, metadata={"description": "执法证号（唯一）"})
    certificate_type = text(_len("certificate_type"))
    certificate_valid_until = Day(allow_none=True, metadata={"description": "执法证有效期至"})
    specialties = text_list(32, 20, metadata={"description": "专业领域"})
    region_codes = Items(region_code(), validate=count(50), metadata={"description": "负责区域"})
    years_of_service = Int(validate=between(0, 60))
    phone = text(_len("phone"))
    active = Bool()
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class InspectorUpdateSchema(InspectorSchema):
    """PATCH body: every field optional (used with partial=True)."""


class InspectorQuery(ListQuery):
    department_id = Id()
    specialty = Text()
    region_code = Text()
    valid_on = Day(metadata={"description": "只列出该日持有效执法证的人员"})
    active = Bool(load_default=True)
    sort = Text(validate=one_of([*SORTS, *(f"-{k}" for k in SORTS)]))


class CertificateQuery(Schema):
    on = Day(metadata={"description": "日期（默认今天）"})


class CertificateSchema(Schema):
    inspector_id = fields.UUID()
    on = fields.Date()
    valid = fields.Boolean()
    certificate_no = fields.String()
    certificate_type = fields.String()
    valid_until = fields.Date(allow_none=True)
    days_remaining = fields.Integer(allow_none=True)
    reason = fields.String()
