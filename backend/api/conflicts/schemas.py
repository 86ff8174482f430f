"""Contracts for 回避 records."""

from __future__ import annotations

from marshmallow import Schema, fields

from ...services.inspectors import CONFLICT_REASONS
from ..schema_fields import ApiSchema, Id, Text, one_of, text


class ConflictSchema(ApiSchema):
    id = Id(dump_only=True)
    inspector_id = Id(required=True)
    enterprise_id = Id(required=True)
    reason = Text(
        validate=one_of(CONFLICT_REASONS),
        load_default="other",
        metadata={"description": "relative 亲属 / former_employer 曾任职 / recent_pairing 近期检查过 / other 其他"},
    )
    note = text(500)
    created_at = fields.DateTime(dump_only=True)
    created_by = Id(dump_only=True)


class ConflictUpdateSchema(ApiSchema):
    reason = Text(validate=one_of(CONFLICT_REASONS))
    note = text(500)


class ConflictQuery(Schema):
    class Meta:
        unknown = "exclude"

    inspector_id = Id()
    enterprise_id = Id()
