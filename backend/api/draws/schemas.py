"""Contracts for the verifiable draw: notice, entropy, perform, dispatch, witness signatures, public views."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ..schema_fields import ApiSchema, Int, Items, one_of, text
from ..schema_fields import count as max_items


class DrawEntropySourceSchema(ApiSchema):
    name = text(128, required=True, metadata={"description": "熵来源名称，如“见证人甲”或“福彩双色球”"})
    kind = fields.String(required=True, validate=one_of(("numbers", "beacon")))
    description = text(500)
    count = Int(allow_none=True, validate=validate.Range(min=1, max=100, error="应为 1–100"))


class DrawNoticeInputSchema(ApiSchema):
    entropy_sources = Items(
        fields.Nested(DrawEntropySourceSchema),
        validate=max_items(10),
        metadata={"description": "公告后录入的熵来源：见证号码（RFC 3797）和/或一个公共信标；默认一位见证人"},
    )


class DrawNoticeSchema(Schema):
    id = fields.UUID()
    task_id = fields.UUID()
    draw_id = fields.UUID()
    algorithm = fields.String()
    population_digest = fields.String()
    population_size = fields.Integer()
    total = fields.Integer()
    parameters = fields.Dict()
    commitment = fields.String()
    matching_digest = fields.String(allow_none=True)
    notice = fields.Dict(metadata={"description": "公告全文（规范 JSON 的对象形式），其摘要为 notice_digest"})
    notice_digest = fields.String()
    published_at = fields.DateTime()


class DrawEntropyInputSchema(ApiSchema):
    source = text(128, required=True)
    numbers = Items(Int(validate=validate.Range(min=0, error="应为非负整数")), validate=max_items(100))
    value = text(512, metadata={"description": "公共信标取值"})


class DrawSignatureSchema(Schema):
    id = fields.UUID()
    draw_id = fields.UUID()
    user_id = fields.UUID()
    signer_name = fields.String()
    role = fields.String()
    statement = fields.String()
    record_digest = fields.String()
    signature = fields.String()
    signed_at = fields.DateTime()


class DrawSignInputSchema(ApiSchema):
    statement = text(500)


class DrawSchema(Schema):
    id = fields.UUID()
    task_id = fields.UUID()
    notice_id = fields.UUID()
    status = fields.String()
    entropy_sources = fields.List(fields.Dict())
    entropy_log = fields.List(fields.Dict())
    missing_sources = fields.List(fields.String())
    witness_numbers = fields.Dict()
    beacon_name = fields.String(allow_none=True)
    beacon_value = fields.String(allow_none=True)
    commitment = fields.String()
    seed = fields.String(allow_none=True)
    record_digest = fields.String(allow_none=True)
    selected_count = fields.Integer(allow_none=True)
    performed_by = fields.UUID(allow_none=True)
    revealed_at = fields.DateTime(allow_none=True)
    signatures = fields.List(fields.Nested(DrawSignatureSchema))
    links = fields.Dict()


class DrawDispatchSchema(Schema):
    task_id = fields.UUID()
    status = fields.String()
    forms = fields.Integer()
    assignments = fields.Integer()
    deadline_start = fields.Date()
    deadline_complete = fields.Date()
    warnings = fields.List(fields.String())


class PublicDrawNoticeSchema(Schema):
    notice_id = fields.UUID()
    draw_id = fields.UUID()
    task_code = fields.String()
    task_name = fields.String()
    algorithm = fields.String()
    published_at = fields.DateTime()
    population_size = fields.Integer()
    population_digest = fields.String()
    total = fields.Integer()
    commitment = fields.String()
    notice_digest = fields.String()
    status = fields.String()
    record_digest = fields.String(allow_none=True)
    revealed_at = fields.DateTime(allow_none=True)
    links = fields.Dict()
    notice = fields.Dict()
