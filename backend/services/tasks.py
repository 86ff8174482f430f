"""Inspection tasks (抽查任务) under a plan in force: scope, strata, weights, teams, deadlines."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlmodel import Session

from ..draw import verify_draw as algorithm
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..models.accounts import User
from ..models.base import utcnow
from ..models.directory import CalendarOverride, CheckItem, CheckItemVersion, Department
from ..models.planning import PLAN_IN_FORCE, STRATA_KEYS, AnnualPlan, InspectionTask
from . import audit, workdays
from .plans import DEPARTMENT_ROLES, can_read_plan, get_plan, plan_cap, plan_content, plan_departments
from .population import (
    Exclusions,
    PopulationSpec,
    check_cap,
    count_eligible,
    normalize_filters,
    parse_ratio,
    ratio_text,
)
from .querying import json_list_contains

TASK_NOT_FOUND = "抽查任务不存在"
TASK_FIELDS = (
    "name",
    "item_version_ids",
    "department_ids",
    "target_filters",
    "ratio",
    "count",
    "strata_key",
    "weight_rule",
    "exclude_inspected_months",
    "pairing_lookback_months",
    "inspectors_per_target",
    "workload_cap",
    "inspection_date",
    "window_end",
)
START_WITHIN_WORKDAYS = 5  # 完成随机抽取和选派后 5 个工作日内组织实施
RESULTS_WITHIN_WORKDAYS = 20  # 任务完成之日起 20 个工作日内录入并公示结果


# ----------------------------------------------------------------------------------------- workdays


def calendar_overrides(session: Session) -> dict[date, bool]:
    """Local working-day overrides (地方调休) an admin has entered; they win over the national calendar."""
    return {row.day: row.is_workday for row in session.execute(select(CalendarOverride)).scalars()}


def add_workdays(session: Session, start: date, days: int) -> date:
    """The statutory calendar with local overrides; a year it does not cover is a clear 422, never a guess."""
    return workdays.add_workdays(start, days, calendar_overrides(session))


def results_due(session: Session, completed_on: date) -> date:
    """Results are entered and published within 20 工作日 of the task's completion."""
    return add_workdays(session, completed_on, RESULTS_WITHIN_WORKDAYS)


# ------------------------------------------------------------------------------------------- access


def can_read_task(user: User, plan: AnnualPlan, task: InspectionTask) -> bool:
    if user.has_role("admin"):
        return True
    if (
        user.has_role(*DEPARTMENT_ROLES)
        and user.department_id
        and (
            str(user.department_id) in plan_departments(plan)
            or str(user.department_id) in (task.department_ids or [])
        )
    ):
        return True
    # 监督员 watch draws: every task that has reached its public notice.
    return user.has_role("witness") and task.status != "draft"


def get_task(*, session: Session, actor: User, task_id: uuid.UUID) -> tuple[InspectionTask, AnnualPlan]:
    task = session.get(InspectionTask, task_id)
    plan = session.get(AnnualPlan, task.plan_id) if task else None
    if task is None or plan is None or not can_read_task(actor, plan, task):
        raise NotFound(TASK_NOT_FOUND)
    return task, plan


def require_task_planner(user: User, plan: AnnualPlan, what: str) -> None:
    if not (user.has_role("planner") and user.department_id == plan.lead_department_id):
        raise Forbidden(f"只有牵头部门的部门管理员可以{what}")


def list_tasks(
    *,
    session: Session,
    actor: User,
    plan_id: uuid.UUID | None = None,
    status: str | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[InspectionTask], int]:
    stmt = select(InspectionTask).join(AnnualPlan, AnnualPlan.id == InspectionTask.plan_id)
    if not actor.has_role("admin"):
        terms: list[Any] = []
        if actor.has_role(*DEPARTMENT_ROLES) and actor.department_id:
            dept = str(actor.department_id)
            terms += [
                AnnualPlan.lead_department_id == actor.department_id,
                json_list_contains(session, AnnualPlan.participating_department_ids, dept),
                json_list_contains(session, InspectionTask.department_ids, dept),
            ]
        if actor.has_role("witness"):
            terms.append(InspectionTask.status != "draft")
        if not terms:
            raise Forbidden("当前角色无权查看抽查任务")
        stmt = stmt.where(or_(*terms))
    if plan_id is not None:
        stmt = stmt.where(InspectionTask.plan_id == plan_id)
    if status is not None:
        stmt = stmt.where(InspectionTask.status == status)
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = (
        session.execute(
            stmt.order_by(InspectionTask.created_at.desc()).limit(page_size).offset((page - 1) * page_size)  # type: ignore[attr-defined]
        )
        .scalars()
        .all()
    )
    return list(rows), int(total)


# ---------------------------------------------------------------------------------------- validation


def population_spec(task: InspectionTask, *, today: date | None = None) -> PopulationSpec:
    return PopulationSpec(
        filters=task.target_filters or {},
        strata_key=task.strata_key,
        weight_rule=task.weight_rule,
        exclusions=Exclusions(
            item_ids=list(task.item_ids or []), months=task.exclude_inspected_months, today=today
        ),
    )


def _uuid(value: Any, field: str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError as exc:
        raise Invalid("编号格式无效", errors={field: ["不是有效的编号"]}) from exc


def _pinned_items(
    session: Session, plan: AnnualPlan, version_ids: list[Any]
) -> tuple[list[str], list[str], dict[str, str]]:
    """Validate pinned item versions (published, in the plan's list); returns (versions, items, owners)."""
    if not version_ids:
        raise Invalid(
            "请选择本次抽查的事项", errors={"item_version_ids": ["至少选择一个已公布的抽查事项版本"]}
        )
    ids = [_uuid(v, "item_version_ids") for v in version_ids]
    rows = session.execute(
        select(
            CheckItemVersion.id,
            CheckItemVersion.status,
            CheckItem.id,
            CheckItem.code,
            CheckItem.department_id,
        )
        .join(CheckItem, CheckItem.id == CheckItemVersion.item_id)
        .where(CheckItemVersion.id.in_(ids))  # type: ignore[attr-defined]
    ).all()
    found = {r[0]: r for r in rows}
    errors = []
    for vid in ids:
        row = found.get(vid)
        if row is None:
            errors.append(f"{vid} 不存在")
        elif row[1] != "published":
            errors.append(f"{row[3]} 的该版本未公布（清单外的事项不得检查）")
        elif str(row[2]) not in set(plan.item_ids or []):
            errors.append(f"{row[3]} 不在年度计划的抽查事项中")
    if errors:
        raise Invalid("抽查事项无效", errors={"item_version_ids": errors})
    item_ids = [str(found[v][2]) for v in ids]
    if len(set(item_ids)) != len(item_ids):
        raise Invalid("同一事项只能选择一个版本", errors={"item_version_ids": ["同一事项选择了多个版本"]})
    owners = {str(found[v][0]): str(found[v][4]) for v in ids}
    return sorted(map(str, ids)), sorted(item_ids), owners


def _normalize(session: Session, plan: AnnualPlan, task: InspectionTask, values: Mapping[str, Any]) -> None:
    owners: dict[str, str] = {}
    if "item_version_ids" in values:
        task.item_version_ids, task.item_ids, owners = _pinned_items(
            session, plan, list(values["item_version_ids"])
        )
    if "name" in values:
        name = (values["name"] or "").strip()
        if not name:
            raise Invalid("任务名称不能为空", errors={"name": ["不能为空"]})
        task.name = name
    if "target_filters" in values:
        task.target_filters = (
            normalize_filters(values["target_filters"])
            if values["target_filters"]
            else dict(plan.target_filters or {})
        )
    if "ratio" in values or "count" in values:
        ratio = values.get("ratio", task.ratio)
        count = values.get("count", task.count)
        if "ratio" in values and values["ratio"] not in (None, "") and "count" not in values:
            count = None
        if "count" in values and values["count"] is not None and "ratio" not in values:
            ratio = None
        if (ratio in (None, "")) == (count is None):
            raise Invalid("请填写抽查比例或抽查数量（二选一）", errors={"ratio": ["比例与数量只能填一个"]})
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise Invalid("抽查数量无效", errors={"count": ["必须是正整数"]})
        task.ratio = None if ratio in (None, "") else ratio_text(parse_ratio(ratio, "ratio"))
        task.count = count
    if "strata_key" in values:
        if values["strata_key"] not in STRATA_KEYS:
            raise Invalid("分层方式无效", errors={"strata_key": [f"可选：{'、'.join(STRATA_KEYS)}"]})
        task.strata_key = values["strata_key"]
    if "weight_rule" in values:
        rule = values["weight_rule"] or None
        if rule is not None:
            try:
                rule = algorithm.normalize_parameters(
                    {"mode": "ratio", "ratio": "0.01", "weight_rule": rule}
                )["weight_rule"]
            except algorithm.DrawError as exc:
                raise Invalid(f"权重规则无效：{exc}", errors={"weight_rule": [str(exc)]}) from exc
        task.weight_rule = rule
    for key, low, high in (
        ("exclude_inspected_months", 1, 60),
        ("pairing_lookback_months", 0, 120),
        ("workload_cap", 1, 100000),
    ):
        if key in values:
            value = values[key]
            if value is None and key != "pairing_lookback_months":
                setattr(task, key, None)
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise Invalid("参数超出范围", errors={key: [f"应为 {low}–{high} 的整数"]})
            setattr(task, key, value)
    plan_depts = [str(plan.lead_department_id), *sorted(map(str, plan.participating_department_ids or []))]
    if "department_ids" in values and values["department_ids"]:
        wanted = []
        for value in values["department_ids"]:
            dept = str(_uuid(value, "department_ids"))
            if dept not in plan_depts:
                raise Invalid(
                    "检查部门必须是计划的牵头或参与部门", errors={"department_ids": [f"{dept} 不在计划中"]}
                )
            if dept not in wanted:
                wanted.append(dept)
        lead = str(plan.lead_department_id)
        task.department_ids = [lead, *sorted(d for d in wanted if d != lead)]
    elif not task.department_ids or "item_version_ids" in values:
        item_owners = set(owners.values()) if owners else set()
        if not owners and task.item_version_ids:
            item_owners = set(_item_owners(session, task).values())
        lead = str(plan.lead_department_id)
        task.department_ids = [lead, *sorted(d for d in item_owners if d != lead and d in plan_depts)]
    if "inspectors_per_target" in values or not task.inspectors_per_target or "department_ids" in values:
        raw = values.get("inspectors_per_target", task.inspectors_per_target)
        task.inspectors_per_target = _per_department(raw, task.department_ids)
    if "inspection_date" in values:
        task.inspection_date = values["inspection_date"]
    if "window_end" in values:
        task.window_end = values["window_end"]
    if task.window_end is None:
        task.window_end = plan.deadline
    errors: dict[str, list[str]] = {}
    if task.window_end and task.window_end > plan.deadline:
        errors["window_end"] = [f"不能晚于年度计划的完成时限 {plan.deadline.isoformat()}"]
    if task.inspection_date:
        if task.inspection_date > (task.window_end or plan.deadline):
            errors["inspection_date"] = ["检查日期不能晚于任务完成时限"]
        if plan.window_start and task.inspection_date < plan.window_start:
            errors["inspection_date"] = [f"检查日期不能早于计划开始日期 {plan.window_start.isoformat()}"]
    if errors:
        raise Invalid("任务日期有误", errors=errors)
    dept_of_items = _item_owners(session, task)
    missing = [d for d in task.department_ids if d not in dept_of_items.values()]
    if missing:
        names = [_dept_name(session, d) for d in missing]
        raise Invalid(
            "每个检查部门至少要有一个本部门的抽查事项",
            errors={"department_ids": [f"{'、'.join(names)} 在本任务中没有抽查事项"]},
        )
    required_specialties(session, task)  # refuses what the algorithm cannot express yet


def _dept_name(session: Session, dept_id: str) -> str:
    dept = session.get(Department, uuid.UUID(dept_id))
    return dept.name if dept else dept_id


def _item_owners(session: Session, task: InspectionTask) -> dict[str, str]:
    if not task.item_version_ids:
        return {}
    rows = session.execute(
        select(CheckItemVersion.id, CheckItem.department_id)
        .join(CheckItem, CheckItem.id == CheckItemVersion.item_id)
        .where(CheckItemVersion.id.in_([uuid.UUID(v) for v in task.item_version_ids]))  # type: ignore[attr-defined]
    ).all()
    return {str(v): str(d) for v, d in rows}


def _per_department(raw: Any, department_ids: list[str]) -> dict[str, int]:
    if raw is None or raw == {}:
        raw = algorithm.DEFAULT_INSPECTORS_PER_TARGET
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = {d: raw for d in department_ids}
    if not isinstance(raw, Mapping):
        raise Invalid("每户检查人数格式无效", errors={"inspectors_per_target": ["应为整数或 {部门: 人数}"]})
    out = {}
    for dept in department_ids:
        n = raw.get(dept, algorithm.DEFAULT_INSPECTORS_PER_TARGET)
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise Invalid(
                "每户检查对象每个部门至少需要 2 名执法检查人员",
                errors={"inspectors_per_target": [f"部门 {dept}：{n}（至少 2 人）"]},
            )
        out[dept] = n
    extra = set(raw) - set(department_ids)
    if extra:
        raise Invalid("每户检查人数含非检查部门", errors={"inspectors_per_target": sorted(extra)})
    if len(set(out.values())) > 1:
        # The draw algorithm v1 takes one number for every department (docs/draw-requests.md R2).
        raise Invalid(
            "当前摇号算法版本要求各部门每户人数相同",
            errors={"inspectors_per_target": ["各部门每户检查人数需一致（已提出算法改进请求）"]},
        )
    return out


def required_specialties(session: Session, task: InspectionTask) -> dict[str, str]:
    """{department id: specialty} that the pinned items require of that department's inspectors."""
    if not task.item_version_ids:
        return {}
    rows = session.execute(
        select(CheckItem.department_id, CheckItemVersion.specialty, CheckItem.code)
        .join(CheckItem, CheckItem.id == CheckItemVersion.item_id)
        .where(CheckItemVersion.id.in_([uuid.UUID(v) for v in task.item_version_ids]))  # type: ignore[attr-defined]
    ).all()
    out: dict[str, str] = {}
    for dept, specialty, code in rows:
        if not specialty:
            continue
        if str(dept) in out and out[str(dept)] != specialty:
            raise Invalid(
                "同一部门的事项要求了不同专长，当前摇号算法每个部门只支持一种专长要求",
                errors={"item_version_ids": [f"{code} 要求“{specialty}”，另一事项要求“{out[str(dept)]}”"]},
            )
        out[str(dept)] = specialty
    return out


def enforce_task_cap(
    session: Session, plan: AnnualPlan, task: InspectionTask, *, today: date | None = None
) -> int:
    """count / eligible population <= the plan's cap (5 % unless a key area); returns the population size."""
    spec = population_spec(task, today=today)
    size = count_eligible(session, spec.filters, spec.exclusions)
    check_cap(
        ratio=Decimal(task.ratio) if task.ratio else None,
        count=task.count,
        cap=plan_cap(plan),
        population_size=size,
        is_key_area=plan.is_key_area,
    )
    return size


# ---------------------------------------------------------------------------------------- operations


def _next_code(session: Session, plan: AnnualPlan) -> str:
    n = session.execute(
        select(func.count()).select_from(InspectionTask).where(InspectionTask.plan_id == plan.id)
    ).scalar_one()
    prefix = f"RW{plan.year}-{str(plan.id)[:4].upper()}"
    while True:
        n += 1
        code = f"{prefix}-{n:03d}"
        if session.execute(select(InspectionTask.id).where(InspectionTask.code == code)).first() is None:
            return code


def create_task(
    *, session: Session, actor: User, values: Mapping[str, Any], today: date | None = None
) -> InspectionTask:
    plan = get_plan(session=session, actor=actor, plan_id=_uuid(values.get("plan_id"), "plan_id"))
    require_task_planner(actor, plan, "创建抽查任务")
    if plan.status not in PLAN_IN_FORCE:
        raise Conflict(
            "只能在已公布的年度计划下创建抽查任务", errors={"plan_id": [f"计划状态：{plan.status}"]}
        )
    code = (values.get("code") or "").strip() or _next_code(session, plan)
    if session.execute(select(InspectionTask.id).where(InspectionTask.code == code)).first() is not None:
        raise Conflict("任务编号已存在", errors={"code": ["任务编号已存在"]})
    task = InspectionTask(plan_id=plan.id, code=code, name="", created_by=actor.id, status="draft")
    given = {k: v for k, v in values.items() if k in TASK_FIELDS}
    given.setdefault("name", "")
    if "target_filters" not in given:
        given["target_filters"] = None
    if "ratio" not in given and "count" not in given:
        given["ratio"] = plan.ratio
        given["count"] = None if plan.ratio else plan.count
    given.setdefault("strata_key", "region_code")
    _normalize(session, plan, task, given)
    size = enforce_task_cap(session, plan, task, today=today)
    session.add(task)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="task.created",
        entity="inspection_task",
        entity_id=task.id,
        data={**task_content(task), "eligible_population": size},
    )
    session.commit()
    return task


def update_task(
    *, session: Session, actor: User, task_id: uuid.UUID, values: Mapping[str, Any], today: date | None = None
) -> InspectionTask:
    task, plan = get_task(session=session, actor=actor, task_id=task_id)
    require_task_planner(actor, plan, "修改抽查任务")
    if task.status != "draft":
        raise Conflict("任务公告已发布，任务内容不可再修改", errors={"status": [task.status]})
    before = task_content(task)
    _normalize(session, plan, task, {k: v for k, v in values.items() if k in TASK_FIELDS})
    enforce_task_cap(session, plan, task, today=today)
    after = task_content(task)
    diff = {k: [before[k], after[k]] for k in after if before.get(k) != after[k]}
    if diff:
        task.updated_at = utcnow()
        audit.record(
            session=session,
            actor=actor,
            action="task.updated",
            entity="inspection_task",
            entity_id=task.id,
            data={"diff": diff},
        )
    session.commit()
    return task


def task_content(task: InspectionTask) -> dict[str, Any]:
    out: dict[str, Any] = {"code": task.code}
    for key in TASK_FIELDS:
        value = getattr(task, key)
        if isinstance(value, date):
            value = value.isoformat()
        out[key] = value
    return out


def deadlines(session: Session, task: InspectionTask, plan: AnnualPlan) -> dict[str, Any]:
    """The task's dates; the results date needs the completion year's calendar (a note if not covered)."""
    complete = task.deadline_complete or task.window_end or plan.deadline
    out: dict[str, Any] = {
        "start_by": task.deadline_start,
        "complete_by": complete,
        "plan_deadline": plan.deadline,
        "results_by": None,
        "results_note": "",
    }
    try:
        out["results_by"] = results_due(session, complete)
    except Invalid as exc:
        out["results_note"] = exc.message
    return out


__all__ = [
    "add_workdays",
    "can_read_plan",
    "create_task",
    "deadlines",
    "get_task",
    "list_tasks",
    "plan_content",
    "results_due",
    "update_task",
]
