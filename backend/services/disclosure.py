"""What the public sees (一公开): published results, enterprises' public credit timelines, the item list,
plans and task notices, and the same as open data — persons masked, nothing unpublished or withheld reachable.

Every query here filters on publication itself (publication_status = published, CreditRecord.public); no
function takes a user, so no role can widen what the portal shows.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlmodel import Session

from ..errors import NotFound
from ..models.directory import ENTERPRISE_STATUS_LABELS, Department, Enterprise
from ..models.fieldwork import FormSignature
from ..models.forms import InspectionForm
from ..models.results import (
    CATEGORY_LABELS,
    FOLLOW_UP_KIND_LABELS,
    FOLLOW_UP_STATUS_LABELS,
    CreditRecord,
    FollowUp,
    InspectionResult,
    InspectionResultItem,
)
from .masking import mask_name, mask_text
from .querying import like_pattern
from .results import china_date

RESULT_NOT_PUBLIC = "该检查结果不存在或尚未公示"
PUBLISHED = InspectionResult.publication_status == "published"


def _published() -> Any:
    return select(InspectionResult).where(PUBLISHED, InspectionResult.archived.is_(False))  # type: ignore[attr-defined]


def published_results(
    *,
    session: Session,
    q: str | None = None,
    department_id: uuid.UUID | None = None,
    category: str | None = None,
    year: int | None = None,
    enterprise_id: uuid.UUID | None = None,
    page: int = 1,
    page_size: int = 20,
) -> tuple[list[dict[str, Any]], int]:
    stmt = _published().join(Enterprise, Enterprise.id == InspectionResult.enterprise_id)
    if q and q.strip():
        term = q.strip()
        stmt = stmt.where(
            or_(
                Enterprise.name.like(like_pattern(term), escape="\\"),  # type: ignore[attr-defined]
                Enterprise.uscc == term.upper(),
            )
        )
    if department_id:
        stmt = stmt.where(InspectionResult.department_id == department_id)
    if category and category in CATEGORY_LABELS:
        stmt = stmt.where(InspectionResult.category == category)
    if year:
        stmt = stmt.where(
            InspectionResult.completed_on >= date(year, 1, 1),
            InspectionResult.completed_on <= date(year, 12, 31),
        )
    if enterprise_id:
        stmt = stmt.where(InspectionResult.enterprise_id == enterprise_id)
    total = session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    rows = list(
        session.execute(
            stmt.order_by(InspectionResult.published_at.desc(), InspectionResult.id)  # type: ignore[union-attr]
            .limit(page_size)
            .offset((page - 1) * page_size)
        ).scalars()
    )
    return public_views(session, rows), int(total)


def public_result(*, session: Session, result_id: uuid.UUID) -> dict[str, Any]:
    row = session.execute(_published().where(InspectionResult.id == result_id)).scalar_one_or_none()
    if row is None:
        raise NotFound(RESULT_NOT_PUBLIC)
    return public_views(session, [row])[0]


def _natural_names(
    session: Session,
    forms: dict[uuid.UUID, InspectionForm],
    ents: dict[uuid.UUID, Enterprise],
) -> dict[uuid.UUID, set[str]]:
    """Per form: natural persons named in its case (legal representative, the representative who signed)."""
    names: dict[uuid.UUID, set[str]] = defaultdict(set)
    for form in forms.values():
        ent = ents.get(form.enterprise_id)
        for n in (
            ent.legal_representative if ent else None,
            (form.enterprise_snapshot or {}).get("legal_representative"),
        ):
            if n:
                names[form.id].add(n)
    if forms:
        for form_id, name in session.execute(
            select(FormSignature.form_id, FormSignature.name).where(
                FormSignature.form_id.in_(list(forms)), FormSignature.signer == "enterprise_rep"
            )  # type: ignore[attr-defined]
        ).all():
            names[form_id].add(name)
    return names


def public_views(session: Session, rows: list[InspectionResult]) -> list[dict[str, Any]]:
    if not rows:
        return []
    ids = [r.id for r in rows]
    forms = {
        f.id: f
        for f in session.execute(
            select(InspectionForm).where(InspectionForm.id.in_([r.form_id for r in rows]))
        ).scalars()
    }  # type: ignore[attr-defined]
    ents = {
        e.id: e
        for e in session.execute(
            select(Enterprise).where(Enterprise.id.in_({r.enterprise_id for r in rows}))
        ).scalars()
    }  # type: ignore[attr-defined]
    dept_ids: set[Any] = set()
    for r in rows:
        dept_ids.add(r.department_id)
        dept_ids.update(uuid.UUID(d) for d in r.department_ids or [])
    depts = {
        d.id: d for d in session.execute(select(Department).where(Department.id.in_(dept_ids))).scalars()
    }  # type: ignore[attr-defined]
    items: dict[uuid.UUID, list[InspectionResultItem]] = defaultdict(list)
    for it in session.execute(
        select(InspectionResultItem)
        .where(InspectionResultItem.result_id.in_(ids))  # type: ignore[attr-defined]
        .order_by(InspectionResultItem.item_code, InspectionResultItem.item_key)
    ).scalars():
        items[it.result_id].append(it)
    follow_ups: dict[uuid.UUID, list[FollowUp]] = defaultdict(list)
    for f in session.execute(
        select(FollowUp)
        .where(FollowUp.result_id.in_(ids))  # type: ignore[attr-defined]
        .order_by(FollowUp.created_at)
    ).scalars():
        follow_ups[f.result_id].append(f)
    tasks = _tasks(session, {r.task_id for r in rows if r.task_id})
    names = _natural_names(session, forms, ents)
    out = []
    for r in rows:
        ent = ents.get(r.enterprise_id)
        form = forms.get(r.form_id)
        who = names.get(r.form_id, set())
        task = tasks.get(r.task_id) if r.task_id else None
        participating = [
            depts[uuid.UUID(d)].name
            for d in r.department_ids or []
            if uuid.UUID(d) in depts and uuid.UUID(d) != r.department_id
        ]
        out.append(
            {
                "id": str(r.id),
                "form_code": form.code if form else "",
                "enterprise": {
                    "name": ent.name if ent else "",
                    "uscc": ent.uscc if ent else "",
                    "legal_representative": mask_name(ent.legal_representative) if ent else "",
                },
                "department": depts[r.department_id].name if r.department_id in depts else "",
                "participating_departments": participating,
                "task": task,
                "inspection_date": form.inspection_date.isoformat()
                if form and form.inspection_date
                else None,
                "completed_on": r.completed_on.isoformat(),
                "category": r.category,
                "category_label": CATEGORY_LABELS.get(r.category, r.category),
                "details": mask_text(r.details, names=who),
                "items": [
                    {
                        "item_code": i.item_code,
                        "item_name": i.item_name,
                        "category": i.category,
                        "category_label": CATEGORY_LABELS.get(i.category, i.category),
                        "details": mask_text(i.details, names=who),
                    }
                    for i in items.get(r.id, [])
                ],
                "follow_ups": [
                    {
                        "kind": f.kind,
                        "kind_label": FOLLOW_UP_KIND_LABELS.get(f.kind, f.kind),
                        "status": f.status,
                        "status_label": FOLLOW_UP_STATUS_LABELS.get(f.status, f.status),
                        "deadline": f.deadline.isoformat() if f.deadline else None,
                    }
                    for f in follow_ups.get(r.id, [])
                ],
                "published_on": china_date(r.published_at).isoformat() if r.published_at else None,
                "url": f"/results/{r.id}",
            }
        )
    return out


def _tasks(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    if not ids:
        return {}
    from ..models.planning import AnnualPlan, InspectionTask

    return {
        t.id: {"code": t.code, "name": t.name, "plan": p.name, "plan_year": p.year}
        for t, p in session.execute(
            select(InspectionTask, AnnualPlan)
            .join(AnnualPlan, AnnualPlan.id == InspectionTask.plan_id)
            .where(InspectionTask.id.in_(ids))
        ).all()
    }  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------- enterprises


def _has_public_record() -> Any:
    return or_(
        exists(
            select(InspectionResult.id).where(
                InspectionResult.enterprise_id == Enterprise.id,
                PUBLISHED,
                InspectionResult.archived.is_(False),
            )
        ),  # type: ignore[attr-defined]
        exists(
            select(CreditRecord.id).where(
                CreditRecord.enterprise_id == Enterprise.id, CreditRecord.public.is_(True)
            )
        ),  # type: ignore[attr-defined]
    )


def search_enterprises(*, session: Session, q: str, limit: int = 50) -> list[dict[str, Any]]:
    """Enterprises with something public, by name fragment or exact USCC."""
    term = (q or "").strip()
    if not term:
        return []
    stmt = (
        select(Enterprise)
        .where(
            or_(Enterprise.name.like(like_pattern(term), escape="\\"), Enterprise.uscc == term.upper()),  # type: ignore[attr-defined]
            _has_public_record(),
        )
        .order_by(Enterprise.name)
        .limit(limit)
    )
    return [_enterprise_facts(e) for e in session.execute(stmt).scalars()]


def _enterprise_facts(e: Enterprise) -> dict[str, Any]:
    return {
        "name": e.name,
        "uscc": e.uscc,
        "entity_type": e.entity_type,
        "legal_representative": mask_name(e.legal_representative),
        "registered_address": e.registered_address,
        "region_code": e.region_code,
        "status": ENTERPRISE_STATUS_LABELS.get(e.status, e.status),
        "url": f"/enterprises/{e.uscc}",
    }


def enterprise_page(*, session: Session, uscc: str) -> dict[str, Any]:
    ent = session.execute(
        select(Enterprise).where(Enterprise.uscc == (uscc or "").strip().upper(), _has_public_record())
    ).scalar_one_or_none()
    if ent is None:
        raise NotFound("没有该检查对象的公示信息")
    records = list(
        session.execute(
            select(CreditRecord)
            .where(CreditRecord.enterprise_id == ent.id, CreditRecord.public.is_(True))  # type: ignore[attr-defined]
            .order_by(CreditRecord.occurred_on.desc(), CreditRecord.created_at.desc())
        ).scalars()
    )  # type: ignore[attr-defined]
    results, _total = published_results(session=session, enterprise_id=ent.id, page=1, page_size=200)
    by_id = {r["id"]: r for r in results}
    timeline = []
    for rec in records:
        result = by_id.get(str(rec.result_id)) if rec.result_id else None
        if rec.kind == "inspection_result" and result is None:
            continue  # the record points at a result that is not (or no longer) public
        timeline.append(
            {
                "on": rec.occurred_on.isoformat(),
                "kind": rec.kind,
                "summary": rec.summary,
                "category_label": CATEGORY_LABELS.get(rec.category or "", ""),
                "result_url": result["url"] if result else None,
            }
        )
    return {"enterprise": _enterprise_facts(ent), "timeline": timeline, "results": results}


# ------------------------------------------------------------------------------------------------ open data

RESULT_CSV_COLUMNS = [
    ("id", "结果编号"),
    ("form_code", "检查表号"),
    ("enterprise_name", "检查对象名称"),
    ("enterprise_uscc", "统一社会信用代码"),
    ("department", "检查部门"),
    ("task_code", "抽查任务编号"),
    ("task_name", "抽查任务"),
    ("plan", "抽查计划"),
    ("completed_on", "检查完成日期"),
    ("category", "结果类别代码"),
    ("category_label", "检查结果"),
    ("items", "分事项结果"),
    ("details", "情况说明"),
    ("follow_ups", "后续处置"),
    ("published_on", "公示日期"),
]


def open_results(*, session: Session, year: int | None = None, limit: int = 100_000) -> list[dict[str, Any]]:
    rows, _ = published_results(session=session, year=year, page=1, page_size=limit)
    return rows


def flat_result(r: dict[str, Any]) -> dict[str, Any]:
    task = r.get("task") or {}
    return {
        "id": r["id"],
        "form_code": r["form_code"],
        "enterprise_name": r["enterprise"]["name"],
        "enterprise_uscc": r["enterprise"]["uscc"],
        "department": r["department"],
        "task_code": task.get("code", ""),
        "task_name": task.get("name", ""),
        "plan": task.get("plan", ""),
        "completed_on": r["completed_on"],
        "category": r["category"],
        "category_label": r["category_label"],
        "items": "；".join(f"{i['item_name']}：{i['category_label']}" for i in r["items"]),
        "details": r["details"],
        "follow_ups": "；".join(f"{f['kind_label']}（{f['status_label']}）" for f in r["follow_ups"]),
        "published_on": r["published_on"],
    }


def to_csv(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> bytes:
    """UTF-8 with BOM so Excel opens Chinese headers correctly; the first row names the columns in Chinese."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([label for _key, label in columns])
    for row in rows:
        writer.writerow(["" if row.get(key) is None else _csv_safe(row.get(key)) for key, _label in columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _csv_safe(value: Any) -> str:
    """Neutralise spreadsheet formulas (CSV injection): a leading = + - @ is prefixed with an apostrophe."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def open_items(*, session: Session) -> list[dict[str, Any]]:
    from .items import public_items

    out: list[dict[str, Any]] = []
    page = 1
    while True:
        chunk = public_items(
            session=session, department_id=None, q=None, category=None, page=page, page_size=500
        )
        out.extend(chunk.items)
        if len(out) >= chunk.total or not chunk.items:
            break
        page += 1
    return [
        {
            "code": i["code"],
            "name": i["name"],
            "version": i["version"],
            "department": i["department_name"],
            "basis": i.get("basis", ""),
            "methods": i.get("methods", []),
            "content": i.get("content", ""),
            "category": i.get("category", ""),
            "category_label": {"key": "重点", "general": "一般"}.get(str(i.get("category")), ""),
            "target_scope": i.get("target_scope", ""),
            "published_at": _iso(i.get("published_at")),
            "checkpoints": [
                {
                    "key": c.get("key"),
                    "question": c.get("question"),
                    "legal_clause": c.get("legal_clause", ""),
                }
                for c in i.get("checkpoints") or []
            ],
        }
        for i in out
    ]


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


ITEM_CSV_COLUMNS = [
    ("code", "事项编码"),
    ("name", "抽查事项"),
    ("version", "版本"),
    ("department", "抽查主体"),
    ("basis", "抽查依据"),
    ("methods", "抽查方式"),
    ("content", "抽查内容"),
    ("category_label", "事项类别"),
    ("target_scope", "检查对象范围"),
    ("published_at", "公布时间"),
]


def open_plans(*, session: Session) -> list[dict[str, Any]]:
    from .plans import list_public_plans

    plans = list_public_plans(session=session)
    dept_ids = {p.lead_department_id for p in plans} | {
        uuid.UUID(d) for p in plans for d in p.participating_department_ids or []
    }
    depts = (
        {
            d.id: d.name
            for d in session.execute(select(Department).where(Department.id.in_(dept_ids))).scalars()
        }
        if dept_ids
        else {}
    )  # type: ignore[attr-defined]
    return [
        {
            "id": str(p.id),
            "name": p.name,
            "year": p.year,
            "target_scope": p.target_scope,
            "methods": p.methods,
            "ratio": p.ratio,
            "count": p.count,
            "lead_department": depts.get(p.lead_department_id, ""),
            "participating_departments": [
                depts.get(uuid.UUID(d), "") for d in p.participating_department_ids or []
            ],
            "window_start": p.window_start.isoformat() if p.window_start else None,
            "window_end": p.window_end.isoformat() if p.window_end else None,
            "deadline": p.deadline.isoformat() if p.deadline else None,
            "status": p.status,
            "version": p.version,
            "content_digest": p.content_digest,
            "published_at": p.published_at.isoformat() if p.published_at else None,
        }
        for p in plans
    ]


PLAN_CSV_COLUMNS = [
    ("name", "计划名称"),
    ("year", "年度"),
    ("lead_department", "牵头部门"),
    ("participating_departments", "参与部门"),
    ("target_scope", "检查对象"),
    ("methods", "抽查方式"),
    ("ratio", "抽查比例"),
    ("count", "抽查数量"),
    ("window_start", "开始日期"),
    ("window_end", "结束日期"),
    ("deadline", "完成时限"),
    ("version", "版本"),
    ("content_digest", "内容摘要（SHA-256）"),
    ("published_at", "公布时间"),
]


def open_notices(*, session: Session, limit: int = 500) -> list[dict[str, Any]]:
    from .draws import public_notices

    rows, _ = public_notices(session=session, page=1, page_size=limit)
    return rows


def listify(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lists as "a、b" for CSV cells."""
    return [
        {k: ("、".join(map(str, v)) if isinstance(v, list) else v) for k, v in row.items()} for row in rows
    ]
