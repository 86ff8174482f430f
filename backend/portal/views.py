"""Public portal pages (一公开): item list, plans, task notices with their draw records, published results,
search, enterprise credit pages, statistics and open data. No sign-in; published data only; persons masked.
"""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

from flask import Blueprint, Response, abort, render_template, request

from ..db import get_session
from ..errors import DomainError
from ..models.results import CATEGORY_LABELS
from ..services import disclosure
from ..services import statistics as statistics_service

bp = Blueprint("portal", __name__, template_folder="templates")

PAGE_SIZE = 20
CACHE_SECONDS = 60  # pages are public and identical for everyone; a short cache keeps them fast under load


@bp.after_request
def _cache(resp: Response) -> Response:
    if resp.status_code == 200:
        resp.headers.setdefault("Cache-Control", f"public, max-age={CACHE_SECONDS}")
    resp.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
    )
    return resp


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError):  # type: ignore[no-untyped-def]
    return render_error(exc.status_code, exc.message), exc.status_code


def render_error(code: int, message: str) -> str:
    return render_template("portal/error.html", code=code, message=message)


def _page() -> int:
    try:
        return max(1, int(request.args.get("page", 1)))
    except ValueError:
        return 1


def _int_arg(name: str) -> int | None:
    try:
        value = request.args.get(name)
        return int(value) if value else None
    except ValueError:
        return None


def _uuid_arg(name: str) -> uuid.UUID | None:
    try:
        value = request.args.get(name)
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _pages(total: int) -> int:
    return max(1, math.ceil(total / PAGE_SIZE))


def _departments() -> list[Any]:
    from sqlalchemy import select

    from ..models.directory import Department

    return list(
        get_session()
        .execute(
            select(Department)
            .where(Department.active.is_(True))  # type: ignore[attr-defined]
            .order_by(Department.code)
        )
        .scalars()
    )


# ------------------------------------------------------------------------------------------------------ pages


@bp.get("/")
def home():  # type: ignore[no-untyped-def]
    session = get_session()
    latest, total = disclosure.published_results(session=session, page=1, page_size=10)
    stats = statistics_service.public_statistics(session=session)
    return render_template("portal/home.html", latest=latest, total=total, stats=stats["total"])


@bp.get("/items")
def items():  # type: ignore[no-untyped-def]
    from ..services.items import public_items

    q = (request.args.get("q") or "").strip()[:100]
    dept = _uuid_arg("department_id")
    page = _page()
    found = public_items(
        session=get_session(), department_id=dept, q=q or None, category=None, page=page, page_size=PAGE_SIZE
    )
    return render_template(
        "portal/items.html",
        items=found.items,
        total=found.total,
        page=page,
        pages=_pages(found.total),
        q=q,
        department_id=dept,
        departments=_departments(),
    )


@bp.get("/plans")
def plans():  # type: ignore[no-untyped-def]
    year = _int_arg("year")
    rows = [p for p in disclosure.open_plans(session=get_session()) if year is None or p["year"] == year]
    return render_template("portal/plans.html", plans=rows, year=year)


@bp.get("/tasks")
def tasks():  # type: ignore[no-untyped-def]
    from ..services.draws import public_notices

    page = _page()
    rows, total = public_notices(session=get_session(), page=page, page_size=PAGE_SIZE)
    return render_template("portal/tasks.html", notices=rows, total=total, page=page, pages=_pages(total))


@bp.get("/tasks/<uuid:notice_id>")
def task(notice_id: uuid.UUID):  # type: ignore[no-untyped-def]
    from ..services.draws import public_notice, public_notice_summary

    notice, draw, task_row = public_notice(session=get_session(), notice_id=notice_id)
    summary = public_notice_summary(notice, draw, task_row)
    params = json.dumps(notice.parameters, ensure_ascii=False, indent=2, sort_keys=True)
    return render_template("portal/task.html", n=summary, parameters=params)


@bp.get("/results")
def results():  # type: ignore[no-untyped-def]
    q = (request.args.get("q") or "").strip()[:100]
    category = request.args.get("category") or None
    dept = _uuid_arg("department_id")
    year = _int_arg("year")
    page = _page()
    rows, total = disclosure.published_results(
        session=get_session(),
        q=q or None,
        department_id=dept,
        category=category,
        year=year,
        page=page,
        page_size=PAGE_SIZE,
    )
    return render_template(
        "portal/results.html",
        results=rows,
        total=total,
        page=page,
        pages=_pages(total),
        q=q,
        category=category,
        department_id=dept,
        year=year,
        categories=CATEGORY_LABELS,
        departments=_departments(),
    )


@bp.get("/results/<uuid:result_id>")
def result(result_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return render_template(
        "portal/result.html", r=disclosure.public_result(session=get_session(), result_id=result_id)
    )


@bp.get("/search")
def search():  # type: ignore[no-untyped-def]
    q = (request.args.get("q") or "").strip()[:100]
    session = get_session()
    enterprises = disclosure.search_enterprises(session=session, q=q) if q else []
    rows, total = (
        disclosure.published_results(session=session, q=q, page=1, page_size=PAGE_SIZE) if q else ([], 0)
    )
    return render_template("portal/search.html", q=q, enterprises=enterprises, results=rows, total=total)


@bp.get("/enterprises/<string:uscc>")
def enterprise(uscc: str):  # type: ignore[no-untyped-def]
    if len(uscc) > 18:
        abort(404)
    return render_template(
        "portal/enterprise.html", **disclosure.enterprise_page(session=get_session(), uscc=uscc)
    )


@bp.get("/statistics")
def statistics():  # type: ignore[no-untyped-def]
    year = _int_arg("year")
    stats = statistics_service.public_statistics(session=get_session(), year=year)
    return render_template(
        "portal/statistics.html",
        stats=stats,
        year=year,
        publication_chart=bar_chart(
            [(r["label"], r["publication_rate"]) for r in stats["rows"]], percent=True, title="各部门公示率"
        ),
        problem_chart=bar_chart(
            [(r["label"], r["problem_rate"]) for r in stats["rows"]],
            percent=True,
            title="各部门问题发现率（已公示结果）",
        ),
        category_chart=bar_chart(
            [(c["label"], c["count"]) for c in stats["total"]["categories"]], title="已公示结果类别分布"
        ),
    )


def bar_chart(rows: list[tuple[str, float | int | None]], *, percent: bool = False, title: str = "") -> str:
    """A horizontal bar chart as inline SVG (no script): one row per label, the value at the bar's end."""
    from markupsafe import Markup, escape

    if not rows:
        return Markup('<p class="muted">暂无数据</p>')
    bar_h, gap, label_w, chart_w = 22, 8, 220, 300
    height = len(rows) * (bar_h + gap) + gap
    top = max([v or 0 for _l, v in rows] + [1 if percent else 0]) or 1
    parts = [
        f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {label_w + chart_w + 80} {height}" '
        f'width="100%" style="max-width:640px" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value) in enumerate(rows):
        y = gap + i * (bar_h + gap)
        width = 0 if value is None else max(1, round(chart_w * (value / top)))
        shown = "—" if value is None else (f"{value * 100:.1f}%" if percent else str(value))
        short = label if len(label) <= 14 else label[:13] + "…"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + bar_h * 0.72}" text-anchor="end" font-size="13">'
            f"{escape(short)}</text>"
        )
        parts.append(f'<rect x="{label_w}" y="{y}" width="{width}" height="{bar_h}" fill="#b3261e" rx="2"/>')
        parts.append(f'<text x="{label_w + width + 6}" y="{y + bar_h * 0.72}" font-size="13">{shown}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - labels and the title are escaped above, numbers are ours


# ------------------------------------------------------------------------------------------- open data


@bp.get("/open-data")
def open_data():  # type: ignore[no-untyped-def]
    datasets = [
        ("抽查结果公告", "results", "已公示的抽查检查结果（个人信息已遮蔽）"),
        ("抽查事项清单", "items", "现行抽查事项（已公布版本）及检查要点"),
        ("抽查计划公告", "plans", "已公布的年度抽查计划"),
        ("抽查任务公告", "tasks", "摇号前公告的承诺值、总体摘要与摇号记录链接"),
    ]
    return render_template("portal/open_data.html", datasets=datasets)


def _json(data: Any, filename: str) -> Response:
    resp = Response(json.dumps(data, ensure_ascii=False, default=str, indent=1), mimetype="application/json")
    resp.headers["Content-Disposition"] = f"inline; filename={filename}"
    resp.headers["Access-Control-Allow-Origin"] = "*"
    return resp


def _csv(data: bytes, filename: str) -> Response:
    resp = Response(data, mimetype="text/csv; charset=utf-8")
    resp.headers["Content-Disposition"] = f"attachment; filename={filename}"
    resp.headers["Access-Control-Allow-Origin"] = "*"
    return resp


@bp.get("/open-data/results.json")
def open_results_json():  # type: ignore[no-untyped-def]
    rows = disclosure.open_results(session=get_session(), year=_int_arg("year"))
    return _json({"dataset": "抽查结果公告", "count": len(rows), "results": rows}, "results.json")


@bp.get("/open-data/results.csv")
def open_results_csv():  # type: ignore[no-untyped-def]
    rows = [
        disclosure.flat_result(r)
        for r in disclosure.open_results(session=get_session(), year=_int_arg("year"))
    ]
    return _csv(disclosure.to_csv(rows, disclosure.RESULT_CSV_COLUMNS), "results.csv")


@bp.get("/open-data/items.json")
def open_items_json():  # type: ignore[no-untyped-def]
    rows = disclosure.open_items(session=get_session())
    return _json({"dataset": "抽查事项清单", "count": len(rows), "items": rows}, "items.json")


@bp.get("/open-data/items.csv")
def open_items_csv():  # type: ignore[no-untyped-def]
    rows = disclosure.listify(disclosure.open_items(session=get_session()))
    return _csv(disclosure.to_csv(rows, disclosure.ITEM_CSV_COLUMNS), "items.csv")


@bp.get("/open-data/plans.json")
def open_plans_json():  # type: ignore[no-untyped-def]
    rows = disclosure.open_plans(session=get_session())
    return _json({"dataset": "抽查计划公告", "count": len(rows), "plans": rows}, "plans.json")


@bp.get("/open-data/plans.csv")
def open_plans_csv():  # type: ignore[no-untyped-def]
    rows = disclosure.listify(disclosure.open_plans(session=get_session()))
    return _csv(disclosure.to_csv(rows, disclosure.PLAN_CSV_COLUMNS), "plans.csv")


@bp.get("/open-data/tasks.json")
def open_tasks_json():  # type: ignore[no-untyped-def]
    rows = disclosure.open_notices(session=get_session())
    return _json({"dataset": "抽查任务公告", "count": len(rows), "notices": rows}, "tasks.json")


@bp.app_template_filter("pct")
def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


@bp.app_context_processor
def _nav() -> dict[str, Any]:
    return {
        "nav_links": [
            ("/items", "抽查事项"),
            ("/plans", "抽查计划"),
            ("/tasks", "抽查任务"),
            ("/results", "抽查结果"),
            ("/statistics", "统计"),
            ("/open-data", "开放数据"),
        ]
    }
