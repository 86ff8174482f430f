"""Payload contracts of the push operations; the sync service validates each operation (per-op 422)."""

from __future__ import annotations

import base64
import binascii
import re

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from ..models.fieldwork import EVIDENCE_KINDS, SIGNER_KINDS

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
MAX_SIGNATURE_BYTES = 1024 * 1024


class _Strict(Schema):
    class Meta:
        unknown = "raise"


class AnswerPayload(_Strict):
    checkpoint_key = fields.String(required=True, validate=validate.Length(min=1, max=64))
    value = fields.Raw(
        required=True, allow_none=True, metadata={"description": "pass|fail|na, 数值, 文本或选项"}
    )
    note = fields.String(validate=validate.Length(max=2000), allow_none=True)
    answered_at = fields.AwareDateTime(required=True, metadata={"description": "设备时间 (RFC 3339)"})


class NotePayload(_Strict):
    text = fields.String(required=True, validate=validate.Length(max=4000))
    checkpoint_key = fields.String(validate=validate.Length(min=1, max=64), allow_none=True)


class CheckinPayload(_Strict):
    at = fields.AwareDateTime(required=True)
    lat = fields.Float(validate=validate.Range(-90, 90), allow_none=True)
    lng = fields.Float(validate=validate.Range(-180, 180), allow_none=True)
    accuracy_m = fields.Float(validate=validate.Range(min=0), allow_none=True)
    no_fix_reason = fields.String(validate=validate.Length(min=1, max=200), allow_none=True)

    @validates_schema
    def _fix_or_reason(self, data: dict, **_kw: object) -> None:
        has_fix = data.get("lat") is not None and data.get("lng") is not None
        if not has_fix and not data.get("no_fix_reason"):
            raise ValidationError("没有定位时必须说明原因", "no_fix_reason")


class SignaturePayload(_Strict):
    signer = fields.String(required=True, validate=validate.OneOf(SIGNER_KINDS))
    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    image_png_base64 = fields.String(
        required=True, metadata={"description": "PNG 签名图片，base64，不超过 1 MiB"}
    )
    signed_at = fields.AwareDateTime(required=True)

    @validates("image_png_base64")
    def _png(self, value: str, **_kw: object) -> None:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError("签名图片不是有效的 base64") from None
        if not raw.startswith(b"\x89PNG\r\n\x1a\n"):
            raise ValidationError("签名图片必须是 PNG")
        if len(raw) > MAX_SIGNATURE_BYTES:
            raise ValidationError("签名图片不能超过 1 MiB")


class EvidencePayload(_Strict):
    evidence_id = fields.UUID(required=True, metadata={"description": "设备生成的证据 UUID"})
    checkpoint_key = fields.String(validate=validate.Length(min=1, max=64), allow_none=True)
    kind = fields.String(required=True, validate=validate.OneOf(EVIDENCE_KINDS))
    sha256 = fields.String(
        required=True, metadata={"description": "设备拍摄时计算的 SHA-256（64 位小写十六进制）"}
    )
    size = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    mime = fields.String(load_default="", validate=validate.Length(max=128))
    filename = fields.String(load_default="", validate=validate.Length(max=255))
    captured_at = fields.AwareDateTime(required=True)
    lat = fields.Float(validate=validate.Range(-90, 90), allow_none=True)
    lng = fields.Float(validate=validate.Range(-180, 180), allow_none=True)
    accuracy_m = fields.Float(validate=validate.Range(min=0), allow_none=True)

    @validates("sha256")
    def _sha(self, value: str, **_kw: object) -> None:
        if not SHA256_HEX.match(value):
            raise ValidationError("SHA-256 必须是 64 位小写十六进制")


class EmptyPayload(_Strict):
    pass


class ProposeResultPayload(_Strict):
    category = fields.String(required=True, validate=validate.Length(min=1, max=64))
    details = fields.String(validate=validate.Length(max=4000), allow_none=True)


PAYLOADS: dict[str, type[Schema]] = {
    "answer": AnswerPayload,
    "note": NotePayload,
    "checkin": CheckinPayload,
    "signature": SignaturePayload,
    "evidence": EvidencePayload,
    "confirm": EmptyPayload,
    "propose_result": ProposeResultPayload,
    "submit": EmptyPayload,
}
OP_TYPES = tuple(PAYLOADS)
