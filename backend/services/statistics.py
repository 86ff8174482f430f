"""Statistics per department, plan or check item: drawn, started on time, completed, overdue, problem rate,
entry rate and publication rate — for staff (their scope) and, restricted to published figures, the public.

Definitions (all counted per 一企一表 form):
- drawn: dispatched forms; started on time: first check-in (or answer) by the 5-working-day start date;
- completed: submitted at least once; overdue: not completed by the task's deadline, or completed after it;
- problem rate: results in a problem category / results entered (per item: the item's own category);
- entry rate: results entered / completed; publication rate: published / (entered − withheld with approval).
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from ..errors import Invalid
from ..models.accounts import User
from ..models.base import utcnow
from ..models.directory import CheckItem, CheckItemVersion, Department
from ..models.fieldwork import FormAnswer, FormCheckin
from ..models.forms import InspectionForm
from ..models.results import (
    CATEGORY_BY_CODE,
    CATEGORY_CODES,
    CATEGORY_LABELS,
    InspectionResult,
    InspectionResultItem,
)
from . import result_scope
from .results import COMPLETED_STATUSES, china_date, first_submissions, today_china

GROUPS = ("department", "plan", "item")
NO_PLAN = "none"


@dataclass
class _FormRow:
    id: uuid.UUID
    task_id: uuid.UUID | None
    department_id: uuid.UUID
    status: str
    deadline_start: date | None
    deadline_complete: date | None
    completed_on: date | None = None
    started_on: date | None = None
    checkpoints: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Group:
    key: str
    label: str
    drawn: int = 0
    started: int = 0
    started_on_time: int = 0
    completed: int = 0
    overdue: int = 0
    entered: int = 0
    problems: int = 0
    published: int = 0
    published_on_time: int = 0
    withheld: int = 0
    publication_overdue: int = 0
    published_problems: int = 0
    categories: Counter[str] = field(default_factory=Counter)
    published_categories: Counter[str] = field(default_factory=Counter)

    def view(self, *, public: bool = False) -> dict[str, Any]:
        to_publish = self.entered - self.withheld
        if public:
            return {
                "key": self.key,
                "label": self.label,
                "drawn": self.drawn,
                "completed": self.completed,
                "published": self.published,
                "published_problems": self.published_problems,
                "problem_rate": _rate(self.published_problems, self.published),
                "publication_rate": _rate(self.published, to_publish),
                "categories": [
                    {"code": c, "label": CATEGORY_LABELS[c], "count": self.published_categories[c]}
                    for c in CATEGORY_CODES
                    if self.published_categories[c]
                ],
            }
        return {
            "key": self.key,
            "label": self.label,
            "drawn": self.drawn,
            "started": self.started,
            "started_on_time": self.started_on_time,
            "completed": self.completed,
            "overdue": self.overdue,
            "entered": self.entered,
            "problems": self.problems,
            "problem_rate": _rate(self.problems, self.entered),
            "entry_rate": _rate(self.entered, self.completed),
            "published": self.published,
            "published_on_time": self.published_on_time,
            "withheld": self.withheld,
            "publication_rate": _rate(self.published, to_publish),
            "publication_overdue": self.publication_overdue,
            "categories": [
                {"code": c, "label": CATEGORY_LABELS[c], "count": self.categories[c]}
                for c in CATEGORY_CODES
                if self.categories[c]
            ],
        }


def _rate(n: int, d: int) -> float | None:
    return round(n / d, 4) if d else None


def _problem(code: str | None) -> bool:
    cat = CATEGORY_BY_CODE.get(code or "")
    return bool(cat and cat.problem)


def _chunks(ids: list[Any], size: int = 1000) -> Iterable[list[Any]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def compute(
    session: Session,
    *,
    group_by: str,
    department_cond: Any = None,
    department_id: uuid.UUID | None = None,
    plan_id: uuid.UUID | None = None,
    year: int | None = None,
    today: date | None = None,
) -> list[_Group]:
    if group_by not in GROUPS:
        raise Invalid("分组方式无效", errors={"group_by": [f"可选值：{', '.join(GROUPS)}"]})
    today = today or today_china()
    from ..models.planning import AnnualPlan, InspectionTask

    stmt = select(
        InspectionForm.id,
        InspectionForm.task_id,
        InspectionForm.lead_department_id,
        InspectionForm.status,
        InspectionForm.deadline_start,
        InspectionForm.deadline_complete,
        InspectionForm.completed_at,
        InspectionForm.dispatched_at,
        InspectionForm.created_at,
    ).where(InspectionForm.status != "draft")
    if department_cond is not None:
        stmt = stmt.where(department_cond)
    if department_id is not None:
        stmt = stmt.where(InspectionForm.lead_department_id == department_id)
    tasks: dict[uuid.UUID, Any] = {}
    plans: dict[uuid.UUID, Any] = {}
    for task, plan in session.execute(
        select(InspectionTask, AnnualPlan).join(AnnualPlan, AnnualPlan.id == InspectionTask.plan_id)
    ).all():
        tasks[task.id] = task
        plans[plan.id] = plan
    if plan_id is not None:
        task_ids = [t.id for t in tasks.values() if t.plan_id == plan_id]
        stmt = stmt.where(InspectionForm.task_id.in_(task_ids))  # type: ignore[union-attr]
    rows: dict[uuid.UUID, _FormRow] = {}
    for (
        fid,
        task_id,
        dept,
        status,
        dstart,
        dcomplete,
        completed_at,
        dispatched_at,
        created_at,
    ) in session.execute(stmt):
        if year is not None:
            task = tasks.get(task_id) if task_id else None
            form_year = (
                plans[task.plan_id].year
                if task is not None and task.plan_id in plans
                else china_date(dispatched_at or created_at).year
            )
            if form_year != year:
                continue
        rows[fid] = _FormRow(
            fid,
            task_id,
            dept,
            status,
            dstart,
            dcomplete,
            completed_on=china_date(completed_at) if completed_at else None,
        )
    ids = list(rows)
    _fill_started(session, rows, ids)
    _fill_completed(session, rows)
    results: dict[uuid.UUID, InspectionResult] = {}
    for chunk in _chunks(ids):
        for r in session.execute(
            select(InspectionResult).where(InspectionResult.form_id.in_(chunk))
        ).scalars():  # type: ignore[attr-defined]
            results[r.form_id] = r
    item_categories: dict[uuid.UUID, dict[str, str]] = defaultdict(dict)  # form -> item key -> category
    version_item: dict[uuid.UUID, str] = {}
    if group_by == "item":
        version_item = _version_items(session)
        _fill_item_data(session, rows, results, item_categories, version_item)
    groups: dict[str, _Group] = {}

    def group(key: str, label: str) -> _Group:
        if key not in groups:
            groups[key] = _Group(key, label)
        return groups[key]

    labels = _labels(session, group_by, rows, plans, version_item)
    for row in rows.values():
        result = results.get(row.id)
        for key in _keys(group_by, row, tasks, version_item):
            g = group(key, labels.get(key, key))
            category = result.category if result else None
            if group_by == "item" and result is not None:
                category = item_categories.get(row.id, {}).get(key, result.category)
            _count(g, row, result, category, today)
    return sorted(groups.values(), key=lambda g: (g.label, g.key))


def _fill_started(session: Session, rows: dict[uuid.UUID, _FormRow], ids: list[uuid.UUID]) -> None:
    for chunk in _chunks(ids):
        for fid, at in session.execute(
            select(FormCheckin.form_id, func.min(FormCheckin.at))
            .where(FormCheckin.form_id.in_(chunk))
            .group_by(FormCheckin.form_id)
        ):  # type: ignore[attr-defined]
            rows[fid].started_on = china_date(at)
        for fid, at in session.execute(
            select(FormAnswer.form_id, func.min(FormAnswer.answered_at))
            .where(FormAnswer.form_id.in_(chunk))
            .group_by(FormAnswer.form_id)
        ):  # type: ignore[attr-defined]
            day = china_date(at)
            if rows[fid].started_on is None or day < rows[fid].started_on:  # type: ignore[operator]
                rows[fid].started_on = day


def _fill_completed(session: Session, rows: dict[uuid.UUID, _FormRow]) -> None:
    missing = [r.id for r in rows.values() if r.status in COMPLETED_STATUSES and r.completed_on is None]
    for chunk in _chunks(missing):
        forms = list(session.execute(select(InspectionForm).where(InspectionForm.id.in_(chunk))).scalars())  # type: ignore[attr-defined]
        for fid, at in first_submissions(session, forms).items():
            rows[fid].completed_on = china_date(at)


def _fill_item_data(
    session: Session,
    rows: dict[uuid.UUID, _FormRow],
    results: dict[uuid.UUID, InspectionResult],
    item_categories: dict[uuid.UUID, dict[str, str]],
    version_item: dict[uuid.UUID, str],
) -> None:
    no_task = [r.id for r in rows.values() if r.task_id is None]
    for chunk in _chunks(no_task):
        for fid, checkpoints in session.execute(
            select(InspectionForm.id, InspectionForm.checkpoints).where(InspectionForm.id.in_(chunk))
        ):  # type: ignore[attr-defined]
            rows[fid].checkpoints = checkpoints or []
    by_result = {r.id: r.form_id for r in results.values()}
    for chunk in _chunks(list(by_result)):
        for it in session.execute(
            select(InspectionResultItem).where(InspectionResultItem.result_id.in_(chunk))
        ).scalars():  # type: ignore[attr-defined]
            key = _item_key(it.item_version_id, it.item_code, it.item_name, version_item)
            item_categories[by_result[it.result_id]][key] = it.category


def _version_items(session: Session) -> dict[uuid.UUID, str]:
    return {
        vid: str(iid) for vid, iid in session.execute(select(CheckItemVersion.id, CheckItemVersion.item_id))
    }


def _item_key(version_id: Any, code: str | None, name: str | None, version_item: dict[uuid.UUID, str]) -> str:
    """A check item's group key: its CheckItem id when the version is known, else what the form recorded."""
    if version_id:
        try:
            found = version_item.get(uuid.UUID(str(version_id)))
        except ValueError:
            found = None
        return found or f"version:{version_id}"
    return f"code:{code}" if code else f"name:{name or ''}"


def _keys(
    group_by: str, row: _FormRow, tasks: dict[uuid.UUID, Any], version_item: dict[uuid.UUID, str]
) -> list[str]:
    if group_by == "department":
        return [str(row.department_id)]
    task = tasks.get(row.task_id) if row.task_id else None
    if group_by == "plan":
        return [str(task.plan_id) if task is not None else NO_PLAN]
    if task is not None and task.item_ids:
        return [str(i) for i in task.item_ids]
    keys = []
    for cp in row.checkpoints:
        for src in cp.get("merged_from") or [cp]:
            key = _item_key(
                src.get("item_version_id") or cp.get("item_version_id"),
                src.get("item_code") or cp.get("item_code"),
                src.get("item_name") or cp.get("item_name"),
                version_item,
            )
            if key not in keys:
                keys.append(key)
    return keys or [NO_PLAN]


def _labels(
    session: Session,
    group_by: str,
    rows: dict[uuid.UUID, _FormRow],
    plans: dict[uuid.UUID, Any],
    version_item: dict[uuid.UUID, str],
) -> dict[str, str]:
    if group_by == "department":
        ids = {r.department_id for r in rows.values()}
        return (
            {
                str(d.id): d.name
                for d in session.execute(select(Department).where(Department.id.in_(ids))).scalars()
            }
            if ids
            else {}
        )  # type: ignore[attr-defined]
    if group_by == "plan":
        out = {str(p.id): f"{p.name}（{p.year}）" for p in plans.values()}
        out[NO_PLAN] = "未关联抽查计划"
        return out
    out = {NO_PLAN: "未关联抽查事项"}
    latest: dict[uuid.UUID, CheckItemVersion] = {}
    for version in session.execute(select(CheckItemVersion).order_by(CheckItemVersion.version)).scalars():
        latest[version.item_id] = version
    for item in session.execute(select(CheckItem)).scalars():
        v = latest.get(item.id)
        out[str(item.id)] = f"{item.code} {v.name}" if v else item.code
    for row in rows.values():
        for cp in row.checkpoints:
            for src in cp.get("merged_from") or [cp]:
                code = src.get("item_code") or cp.get("item_code") or ""
                name = src.get("item_name") or cp.get("item_name") or ""
                key = _item_key(
                    src.get("item_version_id") or cp.get("item_version_id"), code, name, version_item
                )
                out.setdefault(key, f"{code} {name}".strip() or "检查事项")
    return out


def _count(
    g: _Group, row: _FormRow, result: InspectionResult | None, category: str | None, today: date
) -> None:
    g.drawn += 1
    if row.started_on is not None:
        g.started += 1
        if row.deadline_start is None or row.started_on <= row.deadline_start:
            g.started_on_time += 1
    completed = row.status in COMPLETED_STATUSES
    if completed:
        g.completed += 1
    if row.deadline_complete is not None:
        if completed and row.completed_on is not None and row.completed_on > row.deadline_complete:
            g.overdue += 1
        elif not completed and today > row.deadline_complete:
            g.overdue += 1
    if result is None:
        return
    g.entered += 1
    if category:
        g.categories[category] += 1
    if _problem(category):
        g.problems += 1
    if result.publication_status == "published":
        g.published += 1
        if category:
            g.published_categories[category] += 1
        if _problem(category):
            g.published_problems += 1
        if result.published_at and china_date(result.published_at) <= result.publication_deadline:
            g.published_on_time += 1
    elif result.publication_status == "withheld":
        g.withheld += 1
    elif result.publication_deadline < today:
        g.publication_overdue += 1


def statistics(
    *,
    session: Session,
    actor: User,
    group_by: str = "department",
    department_id: uuid.UUID | None = None,
    plan_id: uuid.UUID | None = None,
    year: int | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    cond = result_scope.lead_department_filter(actor, InspectionForm.lead_department_id, department_id)
    groups = compute(
        session, group_by=group_by, department_cond=cond, plan_id=plan_id, year=year, today=today
    )
    total = _Group("total", "合计")
    for g in groups:
        for name in (
            "drawn",
            "started",
            "started_on_time",
            "completed",
            "overdue",
            "entered",
            "problems",
            "published",
            "published_on_time",
            "withheld",
            "publication_overdue",
            "published_problems",
        ):
            setattr(total, name, getattr(total, name) + getattr(g, name))
        total.categories.update(g.categories)
        total.published_categories.update(g.published_categories)
    if group_by == "item":
        total = _total_over_forms(session, cond, plan_id, year, today)
    return {
        "group_by": group_by,
        "year": year,
        "generated_at": utcnow().isoformat(timespec="seconds"),
        "rows": [g.view() for g in groups],
        "total": total.view(),
    }


def _total_over_forms(
    session: Session, cond: Any, plan_id: uuid.UUID | None, year: int | None, today: date | None
) -> _Group:
    """Per item a joint form counts once for each item; the total counts it once."""
    groups = compute(
        session, group_by="department", department_cond=cond, plan_id=plan_id, year=year, today=today
    )
    total = _Group("total", "合计")
    for g in groups:
        for name in (
            "drawn",
            "started",
            "started_on_time",
            "completed",
            "overdue",
            "entered",
            "problems",
            "published",
            "published_on_time",
            "withheld",
            "publication_overdue",
            "published_problems",
        ):
            setattr(total, name, getattr(total, name) + getattr(g, name))
        total.categories.update(g.categories)
        total.published_categories.update(g.published_categories)
    return total


def public_statistics(*, session: Session, year: int | None = None) -> dict[str, Any]:
    """Published aggregate figures per department for the portal (no unpublished result counts).

    Plain GROUP BY counts, so the public pages stay fast on a large directory. The year is the dispatch year
    of a form and the completion year of a result (the staff statistics use the plan's year).
    """
    from sqlalchemy import case

    dispatched = func.coalesce(InspectionForm.dispatched_at, InspectionForm.created_at)
    form_stmt = select(
        InspectionForm.lead_department_id,
        func.count(),
        func.sum(case((InspectionForm.status.in_(COMPLETED_STATUSES), 1), else_=0)),  # type: ignore[attr-defined]
    ).where(InspectionForm.status != "draft")
    result_stmt = select(
        InspectionResult.department_id,
        InspectionResult.publication_status,
        InspectionResult.category,
        func.count(),
    )
    if year is not None:
        from .results import CHINA

        start, end = datetime(year, 1, 1, tzinfo=CHINA), datetime(year + 1, 1, 1, tzinfo=CHINA)
        form_stmt = form_stmt.where(dispatched >= start, dispatched < end)
        result_stmt = result_stmt.where(
            InspectionResult.completed_on >= date(year, 1, 1),
            InspectionResult.completed_on <= date(year, 12, 31),
        )
    groups: dict[Any, _Group] = {}

    def group(dept_id: Any) -> _Group:
        if dept_id not in groups:
            groups[dept_id] = _Group(str(dept_id), "")
        return groups[dept_id]

    for dept_id, drawn, completed in session.execute(form_stmt.group_by(InspectionForm.lead_department_id)):
        g = group(dept_id)
        g.drawn, g.completed = int(drawn), int(completed or 0)
    for dept_id, status, category, n in session.execute(
        result_stmt.group_by(
            InspectionResult.department_id, InspectionResult.publication_status, InspectionResult.category
        )
    ):
        g = group(dept_id)
        g.entered += n
        if status == "withheld":
            g.withheld += n
        elif status == "published":
            g.published += n
            g.published_categories[category] += n
            if _problem(category):
                g.published_problems += n
    if groups:
        for d in session.execute(select(Department).where(Department.id.in_(list(groups)))).scalars():  # type: ignore[attr-defined]
            groups[d.id].label = d.name
    rows = sorted(groups.values(), key=lambda g: (g.label, g.key))
    total = _Group("total", "合计")
    for g in rows:
        for name in ("drawn", "completed", "entered", "withheld", "published", "published_problems"):
            setattr(total, name, getattr(total, name) + getattr(g, name))
        total.published_categories.update(g.published_categories)
    return {"year": year, "rows": [g.view(public=True) for g in rows], "total": total.view(public=True)}
