"""Contracts for bulk import requests and reports."""

from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import Schema, fields

from ...services.tables import FORMATS
from ..schema_fields import Bool, Text, one_of


class ImportQuery(Schema):
    class Meta:
        unknown = "exclude"

    dry_run = Bool(load_default=False, metadata={"description": "试运行：完整校验并统计，但不写入"})
    valid_only = Bool(load_default=False, metadata={"description": "只导入正确的行（默认有错误则全部不导入）"})
    format = Text(validate=one_of(FORMATS), metadata={"description": "省略时按文件名或内容判断"})


class ImportFileSchema(Schema):
    file = Upload(required=True, metadata={"description": "CSV（UTF-8/GBK）或 XLSX 文件"})


class RowErrorSchema(Schema):
    row = fields.Integer(metadata={"description": "行号（与 Excel 中看到的一致，表头为第 1 行）"})
    column = fields.String()
    message = fields.String()


class ChangeSchema(Schema):
    row = fields.Integer()
    key = fields.String()
    action = fields.String(metadata={"description": "created / updated"})


class ImportReportSchema(Schema):
    kind = fields.String()
    format = fields.String()
    encoding = fields.String(allow_none=True)
    filename = fields.String(allow_none=True)
    sha256 = fields.String()
    dry_run = fields.Boolean()
    valid_only = fields.Boolean()
    rows = fields.Integer()
    created = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    invalid = fields.Integer()
    applied = fields.Boolean()
    seconds = fields.Float()
    errors = fields.List(fields.Nested(RowErrorSchema))
    errors_total = fields.Integer()
    changes = fields.List(fields.Nested(ChangeSchema))
    changes_total = fields.Integer()
