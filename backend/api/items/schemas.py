"""Contracts for check items, their versions and checkpoints, and the public list."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ...models.directory import ANSWER_KINDS, ITEM_CATEGORIES, ITEM_METHODS, CheckItem, CheckItemVersion, Checkpoint
from ..schema_fields import ApiSchema, Bool, Id, Items, ListQuery, Text, count, length, max_len, one_of, text, text_list

# Long texts have no column limit in the table; these keep a request from storing megabytes.
BASIS_MAX, CONTENT_MAX, SCOPE_MAX, NOTE_MAX, CLAUSE_MAX = 2000, 5000, 2000, 1000, 1000


class CheckpointSchema(ApiSchema):
    id = Id(dump_only=True)
    position = fields.Integer(dump_only=True, metadata={"description": "顺序（按提交顺序编号）"})
    key = Text(
        validate=[length(None, max_len(Checkpoint, "key")), validate.Regexp(r"^\S+$", error="编号不能含空白")],
        metadata={"description": "要点编号（版本内唯一，省略时为 cp1、cp2…）"},
    )
    question = text(max_len(Checkpoint, "question"), required=True, metadata={"description": "检查要点"})
    legal_clause = text(CLAUSE_MAX, metadata={"description": "法律条款"})
    answer_kind = Text(validate=one_of(ANSWER_KINDS), metadata={"description": "pass_fail/number/text/choice"})
    options = text_list(100, 20)
    photo_required = Bool()


class VersionSchema(ApiSchema):
    id = Id(dump_only=True)
    item_id = Id(dump_only=True)
    version = fields.Integer(dump_only=True)
    status = fields.String(dump_only=True, metadata={"description": "draft 草稿 / published 已发布 / retired 已停用"})
    name = text(max_len(CheckItemVersion, "name"), required=True, metadata={"description": "事项名称"})
    basis = text(BASIS_MAX, metadata={"description": "抽查依据"})
    methods = Items(Text(validate=one_of(ITEM_METHODS)), validate=count(len(ITEM_METHODS)))
    content = text(CONTENT_MAX, metadata={"description": "抽查内容"})
    category = Text(validate=one_of(ITEM_CATEGORIES), metadata={"description": "key 重点 / general 一般"})
    target_scope = text(SCOPE_MAX, metadata={"description": "检查对象范围"})
    specialty = Text(
        allow_none=True,
        validate=length(None, max_len(CheckItemVersion, "specialty")),
        metadata={"description": "要求检查人员具备的专业"},
    )
    change_note = text(NOTE_MAX, metadata={"description": "本版变更说明"})
    checkpoints = fields.List(
        fields.Nested(CheckpointSchema), validate=count(200), metadata={"description": "有序的检查要点（整体替换）"}
    )
    created_at = fields.DateTime(dump_only=True)
    published_at = fields.DateTime(dump_only=True)
    published_by = Id(dump_only=True)


class VersionUpdateSchema(VersionSchema):
    """PATCH body for a draft: every field optional (used with partial=True)."""


class ItemCreateSchema(VersionSchema):
    code = Text(
        required=True,
        validate=[length(1, max_len(CheckItem, "code")), validate.Regexp(r"^\S+$", error="编码不能含空白")],
        metadata={"description": "事项编码（唯一）"},
    )
    department_id = Id(metadata={"description": "省略时为当前用户所在部门"})


class ItemSchema(Schema):
    id = fields.UUID()
    code = fields.String()
    department_id = fields.UUID()
    active = fields.Boolean()
    created_at = fields.DateTime()
    latest_version = fields.Nested(VersionSchema, allow_none=True)
    published_version = fields.Integer(allow_none=True)
    published_version_id = fields.UUID(allow_none=True)
    draft_version_id = fields.UUID(allow_none=True)


class ItemUpdateSchema(ApiSchema):
    active = Bool(required=True)


class NewVersionSchema(ApiSchema):
    change_note = text(NOTE_MAX)


class ItemQuery(ListQuery):
    department_id = Id()
    active = Bool(load_default=True)


class PublicItemQuery(ListQuery):
    department_id = Id()
    category = Text(validate=one_of(ITEM_CATEGORIES))


class PublicItemSchema(VersionSchema):
    code = fields.String()
    department_id = fields.UUID()
    department_name = fields.String()
