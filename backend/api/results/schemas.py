"""Contracts of results, follow-ups and publication: views, amendments, withholding, deadlines, rates."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from ...models.results import FOLLOW_UP_KINDS, PUBLICATION_STATUSES, WITHHOLD_STATUSES
from ..schema_fields import ApiSchema, Bool, Day, Id, Int, Items, one_of, text


class ResultCategorySchema(Schema):
    code = fields.String(metadata={"description": "类别代码"})
    label = fields.String(metadata={"description": "标准类别名称"})
    problem = fields.Boolean(metadata={"description": "计入问题发现率"})
    whole_form = fields.Boolean(
        metadata={"description": "针对整户（无法联系、拒绝检查、注销等），各事项同此类别"}
    )


class ResultCategoryRefSchema(Schema):
    code = fields.String()
    label = fields.String()
    problem = fields.Boolean()


class ResultRefSchema(Schema):
    id = fields.UUID()
    name = fields.String()


class ResultEnterpriseRefSchema(Schema):
    id = fields.UUID()
    name = fields.String()
    uscc = fields.String()


class ResultItemSchema(Schema):
    item_key = fields.String()
    item_version_id = fields.UUID(allow_none=True)
    item_code = fields.String()
    item_name = fields.String()
    department_id = fields.UUID(allow_none=True)
    category = fields.Nested(ResultCategoryRefSchema)
    details = fields.String()


class FollowUpEventSchema(Schema):
    at = fields.DateTime()
    action = fields.String(metadata={"description": "opened | updated | closed | reopened"})
    actor_id = fields.UUID(allow_none=True)
    note = fields.String()
    data = fields.Dict()


class FollowUpSchema(Schema):
    id = fields.UUID()
    result_id = fields.UUID()
    form_id = fields.UUID()
    enterprise_id = fields.UUID()
    department_id = fields.UUID()
    kind = fields.String(
        metadata={
            "description": "rectification 责令整改 | case_filed 立案 | "
            "transfer_department 移送其他部门 | transfer_judicial 移送司法"
        }
    )
    kind_label = fields.String()
    status = fields.String(metadata={"description": "open | closed"})
    status_label = fields.String()
    deadline = fields.Date(allow_none=True)
    overdue = fields.Boolean()
    target_department_id = fields.UUID(allow_none=True)
    target_authority = fields.String()
    description = fields.String()
    outcome = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)
    history = fields.List(fields.Nested(FollowUpEventSchema))


class ResultWithholdSchema(Schema):
    status = fields.String(metadata={"description": "none | requested | approved | rejected"})
    status_label = fields.String()
    reason = fields.String()
    requested_by = fields.Nested(ResultRefSchema, allow_none=True)
    requested_at = fields.DateTime(allow_none=True)
    decided_by = fields.Nested(ResultRefSchema, allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    decision_note = fields.String()


class ResultSchema(Schema):
    id = fields.UUID()
    form_id = fields.UUID()
    form_code = fields.String()
    task_id = fields.UUID(allow_none=True)
    enterprise = fields.Nested(ResultEnterpriseRefSchema)
    department = fields.Nested(ResultRefSchema, metadata={"description": "牵头（录入责任）部门"})
    department_ids = fields.List(fields.String())
    category = fields.Nested(ResultCategoryRefSchema)
    details = fields.String()
    items = fields.List(fields.Nested(ResultItemSchema), metadata={"description": "分事项结果"})
    follow_ups = fields.List(fields.Nested(FollowUpSchema))
    completed_on = fields.Date(metadata={"description": "检查完成日期（首次提交，北京时间）"})
    entry_deadline = fields.Date(metadata={"description": "录入期限：完成之日起 20 个工作日"})
    publication_deadline = fields.Date(metadata={"description": "公示期限：完成之日起 20 个工作日"})
    deadline_estimated = fields.Boolean(metadata={"description": "节假日数据未覆盖该年度，按周一至周五估算"})
    workdays_left = fields.Integer(allow_none=True)
    overdue = fields.Boolean()
    entered_at = fields.DateTime()
    entered_by = fields.Nested(ResultRefSchema, allow_none=True)
    publication_status = fields.String(metadata={"description": "pending | published | withheld"})
    publication_status_label = fields.String()
    published_at = fields.DateTime(allow_none=True)
    published_by = fields.Nested(ResultRefSchema, allow_none=True)
    published_on_time = fields.Boolean(allow_none=True)
    withhold = fields.Nested(ResultWithholdSchema)
    archived = fields.Boolean()
    archived_at = fields.DateTime(allow_none=True)
    credit_applied_at = fields.DateTime(allow_none=True)
    public_url = fields.String(allow_none=True, metadata={"description": "公示后门户上的地址"})
    version = fields.Integer()
    updated_at = fields.DateTime()


class ResultQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    department_id = fields.UUID()
    publication_status = fields.String(validate=one_of(PUBLICATION_STATUSES))
    withhold_status = fields.String(validate=one_of(WITHHOLD_STATUSES))
    category = fields.String(metadata={"description": "类别代码或名称"})
    task_id = fields.UUID()
    q = fields.String(
        validate=validate.Length(max=100), metadata={"description": "企业名称或统一社会信用代码"}
    )
    year = fields.Integer(metadata={"description": "检查完成年度"})
    overdue = fields.Boolean(metadata={"description": "只看已超过公示期限仍未公示的"})


class ResultItemInputSchema(ApiSchema):
    item_key = text(80, required=True, metadata={"description": "审核详情 items[].item_key（或事项编码）"})
    category = text(64, required=True, metadata={"description": "类别代码或标准名称"})
    details = text(2000)


class FollowUpInputSchema(ApiSchema):
    kind = fields.String(required=True, validate=one_of(FOLLOW_UP_KINDS))
    deadline = Day(allow_none=True, metadata={"description": "责令整改必填：整改期限"})
    target_department_id = Id(allow_none=True, metadata={"description": "移送其他部门必填"})
    target_authority = text(200, metadata={"description": "移送司法必填：接收机关"})
    description = text(2000)


class FollowUpPatchSchema(ApiSchema):
    action = fields.String(load_default="update", validate=one_of(("update", "close", "reopen")))
    deadline = Day(allow_none=True)
    target_department_id = Id(allow_none=True)
    target_authority = text(200)
    description = text(2000)
    outcome = text(2000, metadata={"description": "办结（close）时必填：处置结果"})
    note = text(2000, metadata={"description": "办理说明；重新开启（reopen）时必填"})


class FollowUpQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    status = fields.String(validate=one_of(("open", "closed")))
    overdue = fields.Boolean()
    department_id = fields.UUID()


class ResultPatchSchema(ApiSchema):
    version = Int(metadata={"description": "乐观锁：读取时的 version"})
    category = text(64)
    details = text(4000)
    items = Items(fields.Nested(ResultItemInputSchema))


class WithholdRequestSchema(ApiSchema):
    reason = text(2000, required=True, metadata={"description": "不予公开的理由（依据和具体情形）"})


class DecisionSchema(ApiSchema):
    approve = Bool(required=True)
    note = text(2000, metadata={"description": "审批意见；驳回时必填"})


class PublishManySchema(ApiSchema):
    result_ids = Items(Id(), required=True, validate=validate.Length(min=1, max=500))


class PublishOutcomeSchema(Schema):
    id = fields.UUID()
    status = fields.String(metadata={"description": "published | rejected"})
    code = fields.Integer()
    message = fields.String()


class PublishManyResponseSchema(Schema):
    results = fields.List(fields.Nested(PublishOutcomeSchema))


class PendingSchema(Schema):
    kind = fields.String(
        metadata={"description": "entry 待录入 | publication 待公示 | withhold_approval 不予公示待审批"}
    )
    kind_label = fields.String()
    form_id = fields.UUID()
    form_code = fields.String()
    form_status = fields.String()
    result_id = fields.UUID(allow_none=True)
    enterprise = fields.Nested(ResultEnterpriseRefSchema)
    department = fields.Nested(ResultRefSchema)
    completed_on = fields.Date()
    deadline = fields.Date()
    deadline_estimated = fields.Boolean()
    workdays_left = fields.Integer(allow_none=True)
    overdue = fields.Boolean()


class WarningQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    within = fields.Integer(
        load_default=5,
        validate=validate.Range(min=0, max=20),
        metadata={"description": "提前多少个工作日预警"},
    )
    department_id = fields.UUID()


class RateQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    department_id = fields.UUID()
    year = fields.Integer()


class BlockersSchema(Schema):
    not_entered = fields.List(
        fields.Nested(PendingSchema), metadata={"description": "已完成检查、未录入结果"}
    )
    not_published = fields.List(fields.Nested(PendingSchema), metadata={"description": "已录入、未公示"})
    withhold_awaiting_approval = fields.List(fields.Nested(PendingSchema))


class BlockerCountsSchema(Schema):
    not_entered = fields.Integer()
    not_published = fields.Integer()
    withhold_awaiting_approval = fields.Integer()
    overdue = fields.Integer()


class RateSchema(Schema):
    department = fields.Nested(ResultRefSchema)
    completed = fields.Integer(metadata={"description": "已完成检查（应录入）"})
    entered = fields.Integer()
    entry_rate = fields.Float(allow_none=True, metadata={"description": "录入率 = 已录入 / 应录入"})
    published = fields.Integer()
    withheld = fields.Integer(metadata={"description": "经批准不予公示（存档）"})
    to_publish = fields.Integer(metadata={"description": "应公示 = 已录入 − 经批准不予公示"})
    publication_rate = fields.Float(allow_none=True, metadata={"description": "公示率 = 已公示 / 应公示"})
    blockers = fields.Nested(BlockersSchema, metadata={"description": "未达 100% 的原因（每类最多 200 条）"})
    blocker_counts = fields.Nested(BlockerCountsSchema)
    pending_credit_proposals = fields.Integer()
