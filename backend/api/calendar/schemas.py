"""Contracts for working-day overrides."""

from __future__ import annotations

from marshmallow import Schema

from ..schema_fields import ApiSchema, Bool, Day, Int, between, text


class OverrideSchema(ApiSchema):
    day = Day(required=True)
    is_workday = Bool(required=True, metadata={"description": "true = 调休上班，false = 放假"})
    note = text(200)


class OverrideUpdateSchema(ApiSchema):
    is_workday = Bool()
    note = text(200)


class OverrideQuery(Schema):
    class Meta:
        unknown = "exclude"

    year = Int(strict=False, validate=between(2000, 2100))
