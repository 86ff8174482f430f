"""Contracts of credit linkage: rules per result category, flag proposals, an enterprise's credit record."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from ...models.results import CREDIT_FLAGS, PROPOSAL_STATUSES
from ..schema_fields import ApiSchema, Bool, Int, text


class CreditRuleSchema(Schema):
    category = fields.String()
    category_label = fields.String()
    risk_level_delta = fields.Integer(metadata={"description": "风险等级调整（1 低 … 4 高，结果封顶）"})
    propose_flag = fields.String(
        allow_none=True,
        metadata={
            "description": "abnormal_list | serious_violation | blacklist：提议列入（须部门负责人审批）"
        },
    )
    active = fields.Boolean()
    note = fields.String()
    source = fields.String(metadata={"description": "default 默认规则 | configured 已配置"})
    updated_at = fields.DateTime(allow_none=True)


class CreditRuleInputSchema(ApiSchema):
    risk_level_delta = Int(required=True, validate=validate.Range(min=-3, max=3, error="应在 -3 到 3 之间"))
    propose_flag = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(CREDIT_FLAGS))
    active = Bool(load_default=True)
    note = text(500)


class CreditEnterpriseRefSchema(Schema):
    id = fields.UUID()
    name = fields.String()
    uscc = fields.String()


class CreditProposalSchema(Schema):
    id = fields.UUID()
    enterprise = fields.Nested(CreditEnterpriseRefSchema)
    flag = fields.String()
    flag_label = fields.String()
    result_id = fields.UUID()
    department_id = fields.UUID()
    category = fields.String()
    category_label = fields.String()
    status = fields.String(metadata={"description": "pending | approved | rejected"})
    proposed_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    decided_by = fields.UUID(allow_none=True)
    decision_note = fields.String()


class CreditProposalQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    status = fields.String(load_default="pending", validate=validate.OneOf(PROPOSAL_STATUSES))
    department_id = fields.UUID()


class CreditDecisionSchema(ApiSchema):
    approve = Bool(required=True)
    note = text(1000, metadata={"description": "审批意见；驳回时必填"})


class CreditEnterpriseSchema(Schema):
    id = fields.UUID()
    name = fields.String()
    uscc = fields.String()
    risk_level = fields.Integer()
    abnormal_list = fields.Boolean()
    serious_violation = fields.Boolean()
    blacklist = fields.Boolean()
    complaints_count = fields.Integer()


class CreditRecordSchema(Schema):
    id = fields.UUID()
    kind = fields.String(
        metadata={
            "description": "inspection_result | risk_level | flag_proposed | flag_listed | flag_rejected"
        }
    )
    result_id = fields.UUID(allow_none=True)
    department_id = fields.UUID(allow_none=True)
    category = fields.String(allow_none=True)
    category_label = fields.String(allow_none=True)
    summary = fields.String()
    public = fields.Boolean(metadata={"description": "是否在公示门户展示"})
    occurred_on = fields.Date()
    data = fields.Dict()
    created_at = fields.DateTime()


class CreditTimelineSchema(Schema):
    enterprise = fields.Nested(CreditEnterpriseSchema)
    records = fields.List(fields.Nested(CreditRecordSchema))
