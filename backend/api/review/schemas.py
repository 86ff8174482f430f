"""Contracts of the review console: queue rows, the per-form review detail, and the review actions."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from ..results.schemas import (
    FollowUpInputSchema,
    ResultCategoryRefSchema,
    ResultEnterpriseRefSchema,
    ResultItemInputSchema,
    ResultRefSchema,
    ResultSchema,
)
from ..schema_fields import ApiSchema, Int, Items, one_of, text


class ReviewQueueQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    status = fields.String(
        load_default="submitted",
        validate=one_of(("submitted", "returned", "approved")),
        metadata={"description": "submitted 待审核（默认）| returned 已退回 | approved 已通过"},
    )
    department_id = fields.UUID(metadata={"description": "系统管理员按部门查看"})


class ReviewTaskSchema(Schema):
    id = fields.UUID()
    code = fields.String()
    name = fields.String()
    plan_id = fields.UUID()
    plan_name = fields.String()
    plan_year = fields.Integer()


class ReviewTeamMemberSchema(Schema):
    inspector_id = fields.UUID()
    name = fields.String()
    is_lead = fields.Boolean()


class ReviewEvidenceCountSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    total = fields.Integer()
    declared = fields.Integer()
    received = fields.Integer()
    rejected = fields.Integer()


class ReviewEnterpriseRefSchema(ResultEnterpriseRefSchema):
    address = fields.String()


class ReviewQueueItemSchema(Schema):
    id = fields.UUID()
    code = fields.String()
    status = fields.String()
    status_label = fields.String()
    version = fields.Integer()
    enterprise = fields.Nested(ReviewEnterpriseRefSchema)
    department = fields.Nested(ResultRefSchema)
    task = fields.Nested(ReviewTaskSchema, allow_none=True)
    team = fields.List(fields.Nested(ReviewTeamMemberSchema))
    inspection_date = fields.Date(allow_none=True)
    deadline_complete = fields.Date(allow_none=True)
    submitted_at = fields.DateTime(allow_none=True)
    first_submitted_at = fields.DateTime(allow_none=True, metadata={"description": "首次提交 = 检查完成"})
    submission_round = fields.Integer(metadata={"description": "第几次提交（退回后重新提交递增）"})
    entry_deadline = fields.Date(
        allow_none=True, metadata={"description": "结果录入期限（完成后 20 个工作日）"}
    )
    deadline_estimated = fields.Boolean()
    workdays_left = fields.Integer(allow_none=True)
    overdue = fields.Boolean()
    proposed_result = fields.Nested(ResultCategoryRefSchema, allow_none=True)
    evidence = fields.Nested(ReviewEvidenceCountSchema)
    open_comments = fields.Integer()


class ReviewAnswerSchema(Schema):
    value = fields.Raw(allow_none=True, metadata={"description": "pass | fail | na | 数值 | 文本 | 选项"})
    note = fields.String()
    inspector_id = fields.UUID()
    inspector_name = fields.String()
    device_id = fields.String()
    answered_at = fields.DateTime(metadata={"description": "设备时间"})
    received_at = fields.DateTime(metadata={"description": "服务器时间"})
    version = fields.Integer()


class ReviewNoteSchema(Schema):
    id = fields.UUID()
    text = fields.String()
    inspector_name = fields.String()
    device_id = fields.String()
    received_at = fields.DateTime()


class ReviewCommentSchema(Schema):
    id = fields.UUID()
    checkpoint_key = fields.String(allow_none=True)
    kind = fields.String(metadata={"description": "revise | more_evidence | note"})
    comment = fields.String()
    author = fields.Nested(ResultRefSchema)
    created_at = fields.DateTime()
    resolved_at = fields.DateTime(allow_none=True)


class ReviewCheckpointSchema(Schema):
    key = fields.String()
    question = fields.String()
    legal_basis = fields.String()
    item_code = fields.String()
    item_name = fields.String()
    item_version_id = fields.String(allow_none=True)
    department = fields.String()
    answer_kind = fields.String()
    options = fields.List(fields.Raw())
    photo_required = fields.Boolean()
    answer = fields.Nested(ReviewAnswerSchema, allow_none=True)
    notes = fields.List(fields.Nested(ReviewNoteSchema))
    evidence_ids = fields.List(fields.String())
    missing_photo = fields.Boolean()
    comments = fields.List(fields.Nested(ReviewCommentSchema))


class ReviewCheckinSchema(Schema):
    at = fields.DateTime()
    received_at = fields.DateTime()
    lat = fields.Float(allow_none=True)
    lng = fields.Float(allow_none=True)
    accuracy_m = fields.Float(allow_none=True)
    no_fix_reason = fields.String(allow_none=True)
    inspector_id = fields.UUID()
    inspector_name = fields.String()
    device_id = fields.String()
    distance_to_enterprise_m = fields.Float(allow_none=True)


class ReviewSignatureSchema(Schema):
    id = fields.UUID()
    signer = fields.String(metadata={"description": "inspector | enterprise_rep"})
    name = fields.String()
    signed_at = fields.DateTime()
    received_at = fields.DateTime()
    sha256 = fields.String()
    inspector_id = fields.UUID()
    inspector_name = fields.String()
    device_id = fields.String()
    image_url = fields.String(metadata={"description": "签名 PNG（需登录）"})


class ReviewProvenanceSchema(Schema):
    inspector_name = fields.String()
    certificate_no = fields.String()
    device_id = fields.String()
    captured_at_device = fields.DateTime()
    declared_at_server = fields.DateTime()
    received_at_server = fields.DateTime(allow_none=True)
    receive_lag_seconds = fields.Float(allow_none=True)
    clock_suspect = fields.Boolean(metadata={"description": "设备拍摄时间晚于服务器接收时间 5 分钟以上"})
    lat = fields.Float(allow_none=True)
    lng = fields.Float(allow_none=True)
    accuracy_m = fields.Float(allow_none=True)
    distance_to_enterprise_m = fields.Float(allow_none=True)
    distance_to_checkin_m = fields.Float(allow_none=True)
    hash_verified = fields.Boolean()


class ReviewEvidenceLinksSchema(Schema):
    provenance = fields.String(
        metadata={"description": "完整监管链 GET /api/v1/evidence/<id>（?verify=true 复核哈希）"}
    )
    thumbnail = fields.String(allow_none=True)
    display = fields.String(allow_none=True, metadata={"description": "加水印的展示图"})
    content = fields.String(
        allow_none=True, metadata={"description": "原件（仅本表检查人员、本部门审核人、系统管理员）"}
    )


class ReviewEvidenceSchema(Schema):
    id = fields.String()
    form_id = fields.String()
    checkpoint_key = fields.String(allow_none=True)
    kind = fields.String()
    status = fields.String()
    rejected_reason = fields.String(allow_none=True)
    sha256 = fields.String()
    size = fields.Integer()
    mime = fields.String()
    filename = fields.String()
    captured_at = fields.DateTime()
    received_at = fields.DateTime(allow_none=True)
    inspector_id = fields.String()
    inspector_name = fields.String()
    has_thumbnail = fields.Boolean()
    has_display = fields.Boolean()
    provenance = fields.Nested(ReviewProvenanceSchema)
    links = fields.Nested(ReviewEvidenceLinksSchema)


class ReviewAuditSchema(Schema):
    seq = fields.Integer()
    at = fields.DateTime()
    actor = fields.String()
    actor_id = fields.UUID(allow_none=True)
    action = fields.String()
    action_label = fields.String()
    entity = fields.String()
    entity_id = fields.String()
    data = fields.Dict()
    hash = fields.String()


class ReviewWarningSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    code = fields.String(
        metadata={
            "description": "unanswered | missing_photo | evidence_pending | evidence_rejected | "
            "far_from_enterprise | checkin_far | no_checkin | "
            "no_enterprise_signature | proposed_not_standard"
        }
    )
    message = fields.String()
    checkpoint_key = fields.String()
    evidence_id = fields.String()


class ReviewActionsSchema(Schema):
    approve = fields.Boolean()
    return_ = fields.Boolean(attribute="return", data_key="return")
    request_evidence = fields.Boolean()
    comment = fields.Boolean()
    download_originals = fields.Boolean()


class ReviewFormInfoSchema(Schema):
    id = fields.UUID()
    code = fields.String()
    status = fields.String()
    status_label = fields.String()
    version = fields.Integer(metadata={"description": "操作时回传，防止覆盖他人的处理"})
    task = fields.Nested(ReviewTaskSchema, allow_none=True)
    lead_department = fields.Nested(ResultRefSchema)
    departments = fields.List(fields.Nested(ResultRefSchema))
    inspection_date = fields.Date(allow_none=True)
    deadline_start = fields.Date(allow_none=True)
    deadline_complete = fields.Date(allow_none=True)
    dispatched_at = fields.DateTime(allow_none=True)
    submitted_at = fields.DateTime(allow_none=True)
    first_submitted_at = fields.DateTime(allow_none=True)
    submission_round = fields.Integer()
    entry_deadline = fields.Date(allow_none=True)
    deadline_estimated = fields.Boolean()
    workdays_left = fields.Integer(allow_none=True)


class ReviewEnterpriseSchema(Schema):
    id = fields.UUID()
    name = fields.String()
    uscc = fields.String()
    entity_type = fields.String()
    legal_representative = fields.String()
    phone = fields.String()
    registered_address = fields.String()
    business_address = fields.String()
    region_code = fields.String()
    industry_code = fields.String()
    status = fields.String()
    lat = fields.Float(allow_none=True)
    lng = fields.Float(allow_none=True)
    risk_level = fields.Integer(allow_none=True)
    abnormal_list = fields.Boolean(allow_none=True)
    serious_violation = fields.Boolean(allow_none=True)
    snapshot = fields.Dict(metadata={"description": "派发时的企业信息快照"})


class ReviewTeamSchema(Schema):
    inspector_id = fields.UUID()
    name = fields.String()
    certificate_no = fields.String()
    department = fields.String()
    is_lead = fields.Boolean()
    active = fields.Boolean()
    replaced_reason = fields.String()
    confirmed = fields.Boolean(metadata={"description": "已确认当前内容"})


class ReviewProposedSchema(Schema):
    category = fields.Nested(ResultCategoryRefSchema, allow_none=True)
    raw = fields.String(allow_none=True)
    details = fields.String()
    inspector_id = fields.String(allow_none=True)
    inspector_name = fields.String()
    at = fields.String(allow_none=True)


class ReviewItemSchema(Schema):
    item_key = fields.String()
    item_version_id = fields.UUID(allow_none=True)
    item_code = fields.String()
    item_name = fields.String()
    department_id = fields.UUID(allow_none=True)
    checkpoint_keys = fields.List(fields.String())


class ReviewDetailSchema(Schema):
    form = fields.Nested(ReviewFormInfoSchema)
    enterprise = fields.Nested(ReviewEnterpriseSchema)
    team = fields.List(fields.Nested(ReviewTeamSchema))
    checkpoints = fields.List(fields.Nested(ReviewCheckpointSchema))
    notes = fields.List(fields.Nested(ReviewNoteSchema), metadata={"description": "整表的现场记录"})
    checkins = fields.List(fields.Nested(ReviewCheckinSchema))
    signatures = fields.List(fields.Nested(ReviewSignatureSchema))
    evidence = fields.List(fields.Nested(ReviewEvidenceSchema))
    proposed_result = fields.Nested(ReviewProposedSchema, allow_none=True)
    items = fields.List(
        fields.Nested(ReviewItemSchema), metadata={"description": "本表的抽查事项（分事项结果用）"}
    )
    review_comments = fields.List(fields.Nested(ReviewCommentSchema))
    result = fields.Nested(ResultSchema, allow_none=True)
    warnings = fields.List(fields.Nested(ReviewWarningSchema), metadata={"description": "审核提示"})
    actions = fields.Nested(ReviewActionsSchema, metadata={"description": "当前用户可执行的操作"})
    audit = fields.List(fields.Nested(ReviewAuditSchema), metadata={"description": "本表审计时间线"})


class ReviewCommentInputSchema(ApiSchema):
    checkpoint_key = text(64, allow_none=True, metadata={"description": "针对某个检查要点；不填为整表意见"})
    comment = text(2000, required=True)


class ReviewSendBackSchema(ApiSchema):
    version = Int(metadata={"description": "审核详情中的 form.version（乐观锁）"})
    comments = Items(
        fields.Nested(ReviewCommentInputSchema), required=True, validate=validate.Length(min=1, max=100)
    )


class ReviewNoteInputSchema(ApiSchema):
    checkpoint_key = text(64, allow_none=True)
    comment = text(2000, required=True)


class ReviewApproveSchema(ApiSchema):
    version = Int(metadata={"description": "审核详情中的 form.version（乐观锁）"})
    category = text(64, metadata={"description": "结果类别代码或标准名称；不填则采用检查人员拟定的类别"})
    details = text(4000, metadata={"description": "情况说明（公示时自动遮蔽个人信息）；不填则采用拟定说明"})
    items = Items(
        fields.Nested(ResultItemInputSchema), metadata={"description": "分事项结果；不填按规则推定"}
    )
    follow_ups = Items(fields.Nested(FollowUpInputSchema), validate=validate.Length(max=20))
    comment = text(2000, metadata={"description": "审核意见（记入本表）"})


class ReviewSendBackResultSchema(Schema):
    id = fields.UUID()
    status = fields.String()
    version = fields.Integer()
