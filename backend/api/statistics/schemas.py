"""Contracts of statistics and report downloads."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields

from ...services.statistics import GROUPS
from ..results.schemas import ResultQuerySchema
from ..schema_fields import one_of


class StatsQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    group_by = fields.String(
        load_default="department",
        validate=one_of(GROUPS),
        metadata={"description": "department 部门 | plan 抽查计划 | item 抽查事项"},
    )
    department_id = fields.UUID()
    plan_id = fields.UUID()
    year = fields.Integer(metadata={"description": "计划年度（无计划的按派发年度）"})


class StatsExportQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    department_id = fields.UUID()
    plan_id = fields.UUID()
    year = fields.Integer()


class StatsCategoryCountSchema(Schema):
    code = fields.String()
    label = fields.String()
    count = fields.Integer()


class StatsRowSchema(Schema):
    key = fields.String()
    label = fields.String()
    drawn = fields.Integer(metadata={"description": "抽取（派发）户数"})
    started = fields.Integer()
    started_on_time = fields.Integer(metadata={"description": "派发后 5 个工作日内开始检查"})
    completed = fields.Integer(metadata={"description": "已完成检查（已提交）"})
    overdue = fields.Integer(metadata={"description": "超过任务完成时限未完成或逾期完成"})
    entered = fields.Integer()
    problems = fields.Integer()
    problem_rate = fields.Float(allow_none=True)
    entry_rate = fields.Float(allow_none=True)
    published = fields.Integer()
    published_on_time = fields.Integer()
    withheld = fields.Integer()
    publication_rate = fields.Float(allow_none=True)
    publication_overdue = fields.Integer()
    categories = fields.List(fields.Nested(StatsCategoryCountSchema))


class StatsSchema(Schema):
    group_by = fields.String()
    year = fields.Integer(allow_none=True)
    generated_at = fields.String()
    rows = fields.List(fields.Nested(StatsRowSchema))
    total = fields.Nested(StatsRowSchema)


class ResultExportQuerySchema(ResultQuerySchema):
    pass
