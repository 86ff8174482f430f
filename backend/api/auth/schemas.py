"""Contracts for sign-in, refresh and the current user."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class LoginSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=256))


class RefreshSchema(Schema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=10, max=4096))


class UserSchema(Schema):
    id = fields.UUID(dump_only=True)
    username = fields.String()
    display_name = fields.String()
    roles = fields.List(fields.String())
    department_id = fields.UUID(allow_none=True)
    inspector_id = fields.UUID(allow_none=True)


class TokenSchema(Schema):
    access_token = fields.String()
    refresh_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()
    user = fields.Nested(UserSchema)
