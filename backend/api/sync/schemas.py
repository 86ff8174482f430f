"""Contracts of the field sync API (pull and push); docs/sync-protocol.md explains the behaviour."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ...services.sync_payloads import OP_TYPES, PAYLOADS

PAYLOAD_REFS = [{"$ref": f"#/components/schemas/{schema.__name__}"} for schema in PAYLOADS.values()]


class PullArgs(Schema):
    cursor = fields.String(
        load_default=None,
        validate=validate.Length(max=200),
        metadata={"description": "上次拉取返回的不透明游标；省略则完整拉取"},
    )
    limit = fields.Integer(
        load_default=100, validate=validate.Range(1, 500), metadata={"description": "每页检查表数"}
    )


class TaskRef(Schema):
    id = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    code = fields.String(allow_none=True)


class EnterpriseFacts(Schema):
    id = fields.String()
    uscc = fields.String(allow_none=True, metadata={"description": "统一社会信用代码"})
    name = fields.String(allow_none=True)
    address = fields.String()
    legal_representative = fields.String()
    industry = fields.String()
    region_code = fields.String()
    lat = fields.Float(allow_none=True)
    lng = fields.Float(allow_none=True)


class TeamMember(Schema):
    inspector_id = fields.String()
    name = fields.String()
    department = fields.String()
    certificate_no = fields.String(metadata={"description": "执法证号"})
    is_lead = fields.Boolean()


class CheckpointOut(Schema):
    key = fields.String()
    question = fields.String()
    legal_basis = fields.String()
    department = fields.String()
    item_name = fields.String()
    answer_kind = fields.String(metadata={"description": "pass_fail | number | text | choice"})
    options = fields.List(fields.Raw())
    photo_required = fields.Boolean()


class AnswerOut(Schema):
    value = fields.Raw(allow_none=True)
    note = fields.String()
    inspector_id = fields.String()
    answered_at = fields.String(allow_none=True)


class CheckinOut(Schema):
    at = fields.String()
    lat = fields.Float(allow_none=True)
    lng = fields.Float(allow_none=True)
    accuracy_m = fields.Float(allow_none=True)
    no_fix_reason = fields.String(allow_none=True)
    inspector_id = fields.String()


class SignatureOut(Schema):
    id = fields.String()
    signer = fields.String(metadata={"description": "inspector | enterprise_rep"})
    name = fields.String()
    signed_at = fields.String()
    sha256 = fields.String()
    inspector_id = fields.String()


class EvidenceOut(Schema):
    id = fields.String()
    checkpoint_key = fields.String(allow_none=True)
    kind = fields.String()
    sha256 = fields.String()
    size = fields.Integer()
    filename = fields.String()
    captured_at = fields.String()
    status = fields.String(metadata={"description": "declared | received | rejected"})
    rejected_reason = fields.String(allow_none=True)


class ReviewCommentOut(Schema):
    id = fields.String()
    checkpoint_key = fields.String(allow_none=True)
    comment = fields.String()
    kind = fields.String()
    by = fields.String()
    at = fields.String()
    resolved = fields.Boolean()


class PreviousResult(Schema):
    date = fields.String(allow_none=True)
    category = fields.String(allow_none=True)
    summary = fields.String()


class FieldForm(Schema):
    """One 一企一表 form as a field client keeps it offline."""

    id = fields.String()
    code = fields.String()
    version = fields.Integer(metadata={"description": "每次服务器端修改都会递增"})
    status = fields.String(metadata={"description": "dispatched | in_progress | submitted | returned"})
    task = fields.Nested(TaskRef)
    deadline_start = fields.String(allow_none=True)
    deadline_complete = fields.String(allow_none=True)
    working_days_left = fields.Integer(allow_none=True)
    inspection_date = fields.String(allow_none=True)
    enterprise = fields.Nested(EnterpriseFacts)
    team = fields.List(fields.Nested(TeamMember))
    checkpoints = fields.List(fields.Nested(CheckpointOut))
    answers = fields.Dict(keys=fields.String(), values=fields.Nested(AnswerOut))
    checkin = fields.Nested(CheckinOut, allow_none=True, metadata={"description": "最近一次签到"})
    checkins = fields.List(fields.Nested(CheckinOut))
    signatures = fields.List(fields.Nested(SignatureOut), metadata={"description": "每个签名人的最新签名"})
    evidence = fields.List(fields.Nested(EvidenceOut))
    confirmations = fields.List(
        fields.String(), metadata={"description": "对当前内容有效的确认（检查人员 id）"}
    )
    proposed_result = fields.String(allow_none=True)
    proposed_details = fields.String()
    review_comments = fields.List(fields.Nested(ReviewCommentOut))
    previous_results = fields.List(fields.Nested(PreviousResult))
    updated_at = fields.String()


class PullResponse(Schema):
    cursor = fields.String(metadata={"description": "下次拉取时带上的游标"})
    has_more = fields.Boolean(metadata={"description": "为 true 时立即带新游标再拉一页"})
    forms = fields.List(fields.Nested(FieldForm))
    removed = fields.List(
        fields.String(), metadata={"description": "不再分派给本人的检查表 id：从设备上移除"}
    )


class PushOperation(Schema):
    op_id = fields.UUID(required=True, metadata={"description": "客户端生成的操作 UUID（幂等键）"})
    type = fields.String(required=True, validate=validate.OneOf(OP_TYPES))
    form_id = fields.UUID(required=True)
    base_version = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=0),
        metadata={"description": "客户端做出修改时所见的检查表版本"},
    )
    payload = fields.Dict(
        load_default=dict,
        metadata={"description": "按 type 不同而不同，见 oneOf", "oneOf": PAYLOAD_REFS},
    )


class PushRequest(Schema):
    device_id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    operations = fields.List(
        fields.Nested(PushOperation), required=True, validate=validate.Length(min=1, max=200)
    )


class OpResult(Schema):
    op_id = fields.String()
    status = fields.String(metadata={"description": "applied | duplicate | conflict | rejected"})
    code = fields.Integer(metadata={"description": "200 | 409 | 422 | 403 | 404 | 413"})
    message = fields.String()
    errors = fields.Dict()
    form_version = fields.Integer(allow_none=True)
    server_copy = fields.Nested(FieldForm, metadata={"description": "冲突时服务器上的检查表"})
    evidence = fields.Dict(metadata={"description": "evidence 操作：{id, status}"})
    signature = fields.Dict(metadata={"description": "signature 操作：{id, sha256}"})


class PushResponse(Schema):
    results = fields.List(fields.Nested(OpResult))
