"""Contracts for inspection tasks, their forms and the audited adjustments after dispatch."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate

from ...models.planning import STRATA_KEYS, TASK_STATUSES
from ..plans.schemas import Ratio
from ..schema_fields import ApiSchema, Day, Id, Int, Items, one_of, text
from ..schema_fields import count as max_items


class PerDepartment(fields.Field):
    """每户检查人数: one integer for every department, or {department id: integer}."""

    default_error_messages = {"invalid": "应为整数（各部门相同）或 {部门编号: 人数}"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) for k, v in value.items()
        ):
            return value
        raise self.make_error("invalid")


class TaskInputSchema(ApiSchema):
    plan_id = Id(required=True)
    code = text(64, metadata={"description": "任务编号，留空自动生成"})
    name = text(200, required=True)
    item_version_ids = Items(
        Id(),
        required=True,
        validate=max_items(200),
        metadata={"description": "本次抽查的事项版本（已公布，且在年度计划内）"},
    )
    department_ids = Items(
        Id(), validate=max_items(50), metadata={"description": "检查部门，默认牵头部门及事项所属部门"}
    )
    target_filters = fields.Dict(allow_none=True, metadata={"description": "检查对象范围，默认沿用计划"})
    ratio = Ratio(allow_none=True)
    count = Int(allow_none=True, validate=validate.Range(min=1, error="应为正整数"))
    strata_key = fields.String(validate=one_of(STRATA_KEYS))
    weight_rule = fields.Dict(
        allow_none=True,
        metadata={
            "description": "权重规则，默认对列入经营异常名录、严重违法失信、高风险和被投诉的企业提高抽中概率"
        },
    )
    exclude_inspected_months = Int(
        allow_none=True, metadata={"description": "排除 N 个月内已就同一事项检查过的企业"}
    )
    pairing_lookback_months = Int(metadata={"description": "回避 N 个月内检查过同一企业的执法人员"})
    inspectors_per_target = PerDepartment(metadata={"description": "每户每部门检查人数（≥2）"})
    workload_cap = Int(allow_none=True, metadata={"description": "每名执法人员在办检查对象上限"})
    inspection_date = Day(allow_none=True)
    window_end = Day(allow_none=True, metadata={"description": "完成时限，不晚于计划完成时限"})


class TaskUpdateSchema(TaskInputSchema):
    class Meta:
        exclude = ("plan_id", "code")


class TaskDeadlinesSchema(Schema):
    start_by = fields.Date(allow_none=True, metadata={"description": "派发后 5 个工作日内组织实施"})
    complete_by = fields.Date()
    plan_deadline = fields.Date()
    results_by = fields.Date(
        allow_none=True, metadata={"description": "完成之日起 20 个工作日内录入公示结果"}
    )
    results_note = fields.String()


class TaskSchema(Schema):
    id = fields.UUID()
    plan_id = fields.UUID()
    code = fields.String()
    name = fields.String()
    item_version_ids = fields.List(fields.String())
    item_ids = fields.List(fields.String())
    department_ids = fields.List(fields.String())
    target_filters = fields.Dict()
    ratio = fields.String(allow_none=True)
    count = fields.Integer(allow_none=True)
    strata_key = fields.String()
    weight_rule = fields.Dict(allow_none=True)
    exclude_inspected_months = fields.Integer(allow_none=True)
    pairing_lookback_months = fields.Integer()
    inspectors_per_target = fields.Dict()
    workload_cap = fields.Integer(allow_none=True)
    inspection_date = fields.Date(allow_none=True)
    window_end = fields.Date(allow_none=True)
    status = fields.String()
    status_label = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    noticed_at = fields.DateTime(allow_none=True)
    drawn_at = fields.DateTime(allow_none=True)
    dispatched_at = fields.DateTime(allow_none=True)
    deadline_start = fields.Date(allow_none=True)
    deadline_complete = fields.Date(allow_none=True)
    draw_id = fields.UUID(allow_none=True)
    deadlines = fields.Nested(TaskDeadlinesSchema)


class TaskQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    plan_id = fields.UUID()
    status = fields.String(validate=one_of(TASK_STATUSES))


class TaskFormTeamMemberSchema(Schema):
    inspector_id = fields.UUID()
    department_id = fields.UUID()
    is_lead = fields.Boolean()
    active = fields.Boolean()
    assigned_at = fields.DateTime()
    replaced_at = fields.DateTime(allow_none=True)
    replaced_reason = fields.String()


class TaskFormSchema(Schema):
    id = fields.UUID()
    code = fields.String()
    enterprise_id = fields.UUID()
    enterprise = fields.Dict(metadata={"description": "检查对象快照（派发时）"})
    lead_department_id = fields.UUID()
    department_ids = fields.List(fields.String())
    status = fields.String()
    version = fields.Integer()
    checkpoints = fields.List(fields.Dict())
    inspection_date = fields.Date(allow_none=True)
    deadline_start = fields.Date(allow_none=True)
    deadline_complete = fields.Date(allow_none=True)
    dispatched_at = fields.DateTime(allow_none=True)
    team = fields.List(fields.Nested(TaskFormTeamMemberSchema))


class TaskFormReplaceInspectorSchema(ApiSchema):
    old_inspector_id = Id(required=True)
    new_inspector_id = Id(required=True)
    reason = text(1000, required=True, metadata={"description": "调整理由（不得随意更换执法检查人员）"})


class TaskFormAdjustSchema(ApiSchema):
    reason = text(1000, required=True, metadata={"description": "调整理由（不得随意更改检查内容）"})
    remove_checkpoint_keys = Items(fields.String(), validate=max_items(500))
    restore_checkpoint_keys = Items(fields.String(), validate=max_items(500))
    inspection_date = Day(allow_none=True)
