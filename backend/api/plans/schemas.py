"""Contracts for annual plans: drafting, approval, publication, filed adjustments."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate

from ...models.directory import ITEM_METHODS
from ...models.planning import PLAN_STATUSES
from ..schema_fields import ApiSchema, Bool, Day, Id, Int, Items, one_of, text
from ..schema_fields import count as max_items


class Ratio(fields.Field):
    """A ratio in (0, 1] as an exact decimal string ("0.03" = 3 %); numbers are accepted and kept exact."""

    default_error_messages = {"invalid": "应为 0 到 1 之间的小数，如 0.03 表示 3%", "null": "不能为空"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str | None:
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            raise self.make_error("invalid")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise self.make_error("invalid") from exc
        if not number.is_finite() or number <= 0 or number > 1:
            raise self.make_error("invalid")
        return format(number.normalize(), "f")

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else str(value)


class PlanInputSchema(ApiSchema):
    name = text(200, required=True)
    year = Int(
        required=True, validate=validate.Range(min=2000, max=2100, error="请填写 2000–2100 之间的年度")
    )
    item_ids = Items(Id(), validate=max_items(500), metadata={"description": "抽查事项（CheckItem）编号"})
    target_scope = text(2000, metadata={"description": "检查对象范围说明"})
    target_filters = fields.Dict(
        metadata={
            "description": "名录筛选条件：region_codes, industry_codes, special_libraries, "
            "statuses, abnormal_list, serious_violation, blacklist, flagged_only, "
            "min_risk_level"
        }
    )
    methods = Items(fields.String(validate=one_of(ITEM_METHODS)), validate=max_items(10))
    ratio = Ratio(
        allow_none=True, metadata={"description": "抽查比例（小数字符串，不超过 5%，重点领域按其上限）"}
    )
    count = Int(allow_none=True, validate=validate.Range(min=1, error="应为正整数"))
    lead_department_id = Id(metadata={"description": "牵头部门，默认本部门"})
    participating_department_ids = Items(Id(), validate=max_items(50))
    window_start = Day(allow_none=True)
    window_end = Day(allow_none=True)
    deadline = Day(allow_none=True, metadata={"description": "完成时限，默认当年 11 月 20 日"})
    is_key_area = Bool(metadata={"description": "重点领域、特殊行业或上级有具体要求"})
    key_area_cap = Ratio(allow_none=True, metadata={"description": "重点领域计划明确的抽查比例上限"})
    key_area_basis = text(1000)


class PlanPatchSchema(PlanInputSchema):
    """PlanInputSchema for PATCH and adjustments (always used with partial=True)."""


class PlanSchema(Schema):
    id = fields.UUID()
    name = fields.String()
    year = fields.Integer()
    item_ids = fields.List(fields.String())
    target_scope = fields.String()
    target_filters = fields.Dict()
    methods = fields.List(fields.String())
    ratio = fields.String(allow_none=True)
    count = fields.Integer(allow_none=True)
    lead_department_id = fields.UUID()
    participating_department_ids = fields.List(fields.String())
    window_start = fields.Date(allow_none=True)
    window_end = fields.Date(allow_none=True)
    deadline = fields.Date()
    is_key_area = fields.Boolean()
    key_area_cap = fields.String(allow_none=True)
    key_area_basis = fields.String()
    cap = fields.String(metadata={"description": "适用的抽查比例上限"})
    status = fields.String()
    status_label = fields.String()
    version = fields.Integer()
    created_by = fields.UUID()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    submitted_at = fields.DateTime(allow_none=True)
    rejected_at = fields.DateTime(allow_none=True)
    rejected_reason = fields.String()
    approved_at = fields.DateTime(allow_none=True)
    approved_by = fields.UUID(allow_none=True)
    content_digest = fields.String(allow_none=True)
    signature = fields.String(allow_none=True)
    signature_valid = fields.Boolean(allow_none=True)
    published_at = fields.DateTime(allow_none=True)


class PublicPlanSchema(Schema):
    id = fields.UUID()
    name = fields.String()
    year = fields.Integer()
    target_scope = fields.String()
    methods = fields.List(fields.String())
    ratio = fields.String(allow_none=True)
    count = fields.Integer(allow_none=True)
    window_start = fields.Date(allow_none=True)
    window_end = fields.Date(allow_none=True)
    deadline = fields.Date()
    is_key_area = fields.Boolean()
    key_area_cap = fields.String(allow_none=True)
    status = fields.String()
    version = fields.Integer()
    content_digest = fields.String(allow_none=True)
    approved_at = fields.DateTime(allow_none=True)
    published_at = fields.DateTime(allow_none=True)


class PlanQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    year = fields.Integer()
    status = fields.String(validate=one_of(PLAN_STATUSES))


class PlanReasonSchema(ApiSchema):
    reason = text(1000, required=True)


class PlanAdjustInputSchema(ApiSchema):
    reason = text(1000, required=True, metadata={"description": "调整理由（备案）"})
    changes = fields.Nested(PlanPatchSchema(partial=True), required=True)


class PlanAdjustmentSchema(Schema):
    id = fields.UUID()
    plan_id = fields.UUID()
    sequence = fields.Integer()
    reason = fields.String()
    diff = fields.Dict()
    content_digest_before = fields.String()
    content_digest_after = fields.String()
    filed_at = fields.DateTime()
    filed_by = fields.UUID()
