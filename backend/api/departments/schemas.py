"""Contracts for departments."""

from __future__ import annotations

from marshmallow import fields

from ...models.directory import DEPARTMENT_LEVELS, Department
from ..schema_fields import ApiSchema, Bool, Id, Text, max_len, one_of, region_code, text


class DepartmentSchema(ApiSchema):
    id = Id(dump_only=True)
    code = text(max_len(Department, "code"), required=True, metadata={"description": "部门编码（唯一）"})
    name = text(max_len(Department, "name"), required=True)
    region_code = region_code(required=True)
    level = Text(required=True, validate=one_of(DEPARTMENT_LEVELS), metadata={"description": "省/市/县/所"})
    parent_id = Id(allow_none=True)
    active = Bool()
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class DepartmentUpdateSchema(DepartmentSchema):
    """PATCH body: every field optional (used with partial=True)."""


class DepartmentQuery(ApiSchema):
    class Meta:
        unknown = "exclude"

    active = Bool()
