"""Contracts of the evidence API: metadata, provenance (chain of custody) and the per-form list."""

from __future__ import annotations

from marshmallow import Schema, fields


class EvidenceArgs(Schema):
    verify = fields.Boolean(
        load_default=False,
        metadata={"description": "为 true 时从存储重新读取原件并计算 SHA-256（结果记入审计日志）"},
    )


class EvidenceSummary(Schema):
    id = fields.String()
    form_id = fields.String()
    checkpoint_key = fields.String(allow_none=True)
    kind = fields.String(metadata={"description": "photo | video | audio | document"})
    status = fields.String(metadata={"description": "declared | received | rejected"})
    rejected_reason = fields.String(allow_none=True)
    sha256 = fields.String(metadata={"description": "设备拍摄时声明的 SHA-256"})
    size = fields.Integer()
    mime = fields.String(metadata={"description": "由文件内容识别的类型"})
    filename = fields.String()
    captured_at = fields.DateTime(metadata={"description": "设备时间"})
    received_at = fields.DateTime(allow_none=True, metadata={"description": "服务器校验通过的时间"})
    inspector_id = fields.String()
    inspector_name = fields.String()
    has_thumbnail = fields.Boolean()
    has_display = fields.Boolean()


class CapturedBy(Schema):
    inspector_id = fields.String()
    name = fields.String()
    certificate_no = fields.String(metadata={"description": "执法证号"})
    user_id = fields.String()
    username = fields.String()


class Location(Schema):
    lat = fields.Float(allow_none=True)
    lng = fields.Float(allow_none=True)
    accuracy_m = fields.Float(allow_none=True)
    distance_to_enterprise_m = fields.Float(
        allow_none=True, metadata={"description": "与企业登记坐标的距离（米）"}
    )
    distance_to_checkin_m = fields.Float(allow_none=True, metadata={"description": "与签到位置的距离（米）"})


class HashCheck(Schema):
    ok = fields.Boolean()
    sha256 = fields.String()
    size = fields.Integer()
    checked_at = fields.DateTime()


class HashInfo(Schema):
    algorithm = fields.String()
    declared = fields.String()
    computed_at_upload = fields.String(allow_none=True)
    verified = fields.Boolean(metadata={"description": "上传完成时服务器计算的 SHA-256 与声明一致"})
    recheck = fields.Nested(HashCheck, allow_none=True)


class ObjectInfoOut(Schema):
    key = fields.String(allow_none=True, metadata={"description": "内容寻址的对象键 sha256/ab/cd/<hash>"})
    size = fields.Integer()
    stored = fields.Boolean()


class UploadInfo(Schema):
    id = fields.String()
    state = fields.String()
    offset = fields.Integer()
    length = fields.Integer()
    created_at = fields.DateTime()
    completed_at = fields.DateTime(allow_none=True)
    error = fields.String(allow_none=True)


class AuditItem(Schema):
    seq = fields.Integer()
    at = fields.DateTime()
    action = fields.String()
    actor = fields.String()
    hash = fields.String(metadata={"description": "审计链中该条记录的哈希"})
    data = fields.Dict()


class Provenance(Schema):
    captured_by = fields.Nested(CapturedBy)
    device_id = fields.String()
    captured_at_device = fields.DateTime()
    declared_at_server = fields.DateTime()
    received_at_server = fields.DateTime(allow_none=True)
    location = fields.Nested(Location)
    hash = fields.Nested(HashInfo)
    object = fields.Nested(ObjectInfoOut)
    uploads = fields.List(fields.Nested(UploadInfo))
    audit = fields.List(fields.Nested(AuditItem))


class EvidenceDetail(EvidenceSummary):
    media = fields.Dict(
        metadata={"description": "识别结果：kind, mime, width, height, duration_s, flags, watermark"}
    )
    provenance = fields.Nested(Provenance)
