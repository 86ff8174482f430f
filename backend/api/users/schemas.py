"""Contracts for user accounts managed by the system administrator."""

from __future__ import annotations

from marshmallow import fields, validate

from ...models.accounts import ROLE_LABELS, ROLES, User
from ..schema_fields import ApiSchema, Bool, Id, Items, ListQuery, Text, count, length, max_len, one_of, text


class AccountSchema(ApiSchema):
    id = Id(dump_only=True)
    username = Text(
        required=True,
        validate=[
            length(3, max_len(User, "username")),
            validate.Regexp(r"^[A-Za-z0-9_.@-]+$", error="用户名只能包含字母、数字和 _ . @ -"),
        ],
    )
    display_name = text(max_len(User, "display_name"), required=True)
    password = fields.String(
        required=True,
        load_only=True,
        validate=length(8, 256),
        error_messages={"required": "必填", "null": "不能为空", "invalid": "应为字符串"},
    )
    roles = Items(
        Text(validate=one_of(ROLES)),
        required=True,
        validate=[count(len(ROLES)), validate.Length(min=1, error="至少需要一个角色")],
    )
    role_labels = fields.Method("_labels", dump_only=True)
    department_id = Id(allow_none=True)
    inspector_id = Id(allow_none=True, metadata={"description": "执法检查人员账号关联的人员记录"})
    active = Bool()
    created_at = fields.DateTime(dump_only=True)
    last_login_at = fields.DateTime(dump_only=True)

    def _labels(self, obj: User) -> list[str]:
        return [ROLE_LABELS.get(r, r) for r in obj.roles]


class AccountUpdateSchema(AccountSchema):
    class Meta:
        exclude = ("username",)


class AccountQuery(ListQuery):
    role = Text(validate=one_of(ROLES))
    department_id = Id()
    active = Bool()
