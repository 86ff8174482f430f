"""Reports: the 一企一表 inspection record as PDF (Chinese fonts, answers, photo thumbnails, signatures, a QR
code to the public result) and XLSX exports of results and statistics.

Fonts: reportlab embeds TrueType only, and the Noto CJK collection shipped by most distributions has CFF
(PostScript) outlines, so each candidate is tried and the built-in Adobe CID font STSong-Light (no embedding,
every PDF reader has it) is the fallback. Text stays extractable either way.
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import select
from sqlmodel import Session

from ..models.accounts import User
from ..models.directory import ENTERPRISE_STATUS_LABELS
from ..models.fieldwork import Evidence
from ..models.results import CATEGORY_LABELS, PUBLICATION_STATUS_LABELS
from . import results as results_service
from . import review as review_service
from . import statistics as statistics_service
from .results import CHINA

# (path, subfont index) tried in order; SHUANGSUI_PDF_FONT="path[:index]" puts a font of your own first.
FONT_CANDIDATES: list[tuple[str, int]] = [
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),  # index 2 = Simplified Chinese
    ("/usr/share/fonts/truetype/noto/NotoSansSC-Regular.ttf", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
]
CID_FALLBACK = "STSong-Light"
_registered: dict[tuple[str, int], str] = {}

ANSWER_LABELS = {"pass": "合格", "fail": "不合格", "na": "不涉及"}


def cjk_font(candidates: Sequence[tuple[str, int]] | None = None) -> str:
    """A registered font that can draw Chinese: an embeddable TrueType font if one loads, else CID."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    tried = list(candidates if candidates is not None else FONT_CANDIDATES)
    env = os.environ.get("SHUANGSUI_PDF_FONT")
    if env and candidates is None:
        env_path, _, env_index = env.partition(":")
        tried.insert(0, (env_path, int(env_index or 0)))
    for path, index in tried:
        key = (path, index)
        if key in _registered:
            return _registered[key]
        if not os.path.isfile(path):
            continue
        name = f"CJK-{len(_registered) + 1}"
        try:
            pdfmetrics.registerFont(TTFont(name, path, subfontIndex=index))
        except (TTFError, OSError, ValueError):
            continue  # e.g. "postscript outlines are not supported"
        _registered[key] = name
        return name
    if CID_FALLBACK not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CID_FALLBACK))
    return CID_FALLBACK


def public_result_url(base_url: str, result_id: uuid.UUID) -> str:
    return f"{base_url.rstrip('/')}/results/{result_id}"


def _qr_png(text: str) -> bytes:
    import qrcode

    qr = qrcode.QRCode(border=2, box_size=6, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(text)
    qr.make(fit=True)
    out = io.BytesIO()
    qr.make_image().save(out, format="PNG")
    return out.getvalue()


def _read(store: Any, key: str | None, limit: int = 8 * 1024 * 1024) -> bytes | None:
    if not key:
        return None
    try:
        with store.get(key) as reader:
            data = reader.read(limit + 1)
    except Exception:  # noqa: BLE001 - a missing derivative must not stop the record from printing
        return None
    return data if data and len(data) <= limit else None


def _image_ok(raw: bytes | None) -> bool:
    """A stored derivative or signature that does not decode must not stop the record from printing."""
    if not raw:
        return False
    from PIL import Image as PILImage

    try:
        with PILImage.open(io.BytesIO(raw)) as img:
            img.load()
    except Exception:  # noqa: BLE001 - any decoder error means "leave the picture out"
        return False
    return True


def _fmt(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        return value.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


def _answer_text(value: Any) -> str:
    if value is None:
        return "未作答"
    if isinstance(value, str):
        return ANSWER_LABELS.get(value, value)
    return str(value)


def form_record_pdf(
    *,
    session: Session,
    actor: User,
    store: Any,
    form_id: uuid.UUID,
    public_base_url: str,
    font_candidates: Sequence[tuple[str, int]] | None = None,
) -> tuple[bytes, str]:
    """The 一企一表 inspection record of one form, for staff who may review it; returns (pdf, filename)."""
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    data = review_service.detail(session=session, actor=actor, form_id=form_id)
    form, ent = data["form"], data["enterprise"]
    font = cjk_font(font_candidates)
    body = ParagraphStyle("body", fontName=font, fontSize=9, leading=13, wordWrap="CJK")
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=11, textColor=colors.HexColor("#444444"))
    h1 = ParagraphStyle("h1", parent=body, fontSize=15, leading=20, alignment=TA_CENTER, spaceAfter=4)
    h2 = ParagraphStyle(
        "h2",
        parent=body,
        fontSize=11,
        leading=16,
        spaceBefore=8,
        spaceAfter=4,
        textColor=colors.HexColor("#b3261e"),
    )

    def p(text: Any, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(_fmt(text)).replace("\n", "<br/>"), style)

    grid = TableStyle(
        [
            ("FONTNAME", (0, 0), (-1, -1), font),
            ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f3f3f3")),
        ]
    )
    header_grid = TableStyle(
        [
            ("FONTNAME", (0, 0), (-1, -1), font),
            ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f3f3f3")),
        ]
    )
    story: list[Any] = [p("“双随机、一公开”抽查检查记录（一企一表）", h1)]
    task = form.get("task") or {}
    story.append(
        p(
            f"表号：{form['code']}　状态：{form['status_label']}　任务：{task.get('name') or '—'}　"
            f"计划：{task.get('plan_name') or '—'}",
            small,
        )
    )

    story.append(p("一、检查对象", h2))
    status_label = ENTERPRISE_STATUS_LABELS.get(ent.get("status") or "", ent.get("status"))
    facts = [
        ("名称", ent["name"]),
        ("统一社会信用代码", ent["uscc"]),
        ("类型", ent["entity_type"]),
        ("法定代表人（负责人）", ent["legal_representative"]),
        ("住所", ent["registered_address"]),
        ("经营场所", ent["business_address"]),
        ("行政区划", ent["region_code"]),
        ("行业", ent["industry_code"]),
        ("登记状态", status_label),
    ]
    story.append(Table([[p(k), p(v)] for k, v in facts], colWidths=[38 * mm, 136 * mm], style=grid))

    story.append(p("二、检查实施", h2))
    depts = "、".join(d["name"] for d in data["form"]["departments"]) or "—"
    checkin = data["checkins"][0] if data["checkins"] else None
    where = "—"
    if checkin:
        where = (
            f"{checkin['lat']:.6f}, {checkin['lng']:.6f}（精度 {checkin['accuracy_m'] or '—'} 米）"
            if checkin["lat"] is not None
            else f"无定位：{checkin['no_fix_reason'] or ''}"
        )
    impl = [
        ("牵头部门", form["lead_department"]["name"]),
        ("参与部门", depts),
        ("检查日期", form["inspection_date"]),
        ("完成时限", form["deadline_complete"]),
        ("现场签到", f"{_fmt(checkin['at'])}，{where}" if checkin else "无签到记录"),
        (
            "检查人员",
            "；".join(
                f"{m['name']}（执法证 {m['certificate_no']}，{m['department']}）"
                for m in data["team"]
                if m["active"]
            )
            or "—",
        ),
        ("首次提交", form["first_submitted_at"]),
    ]
    story.append(Table([[p(k), p(v)] for k, v in impl], colWidths=[38 * mm, 136 * mm], style=grid))

    story.append(p("三、检查内容及结论", h2))
    rows = [[p("序号"), p("检查要点"), p("依据"), p("结论"), p("备注")]]
    for n, cp in enumerate(data["checkpoints"], start=1):
        answer = cp["answer"] or {}
        notes = "；".join(x["text"] for x in cp["notes"])
        remark = "；".join(x for x in (answer.get("note") or "", notes) if x)
        who = answer.get("inspector_name")
        rows.append(
            [
                p(n),
                p(f"{cp['item_name']}：{cp['question']}" if cp["item_name"] else cp["question"]),
                p(cp["legal_basis"]),
                p(_answer_text(answer.get("value")) + (f"\n（{who}）" if who else "")),
                p(remark),
            ]
        )
    story.append(
        Table(rows, colWidths=[12 * mm, 62 * mm, 38 * mm, 26 * mm, 36 * mm], style=header_grid, repeatRows=1)
    )
    if data["notes"]:
        story.append(Spacer(1, 3 * mm))
        story.append(p("现场记录：" + "；".join(n["text"] for n in data["notes"])))

    photos = [e for e in data["evidence"] if e["kind"] == "photo" and e["has_thumbnail"]]
    if photos:
        story.append(p("四、现场照片", h2))
        ev_rows = {
            e.id: e
            for e in session.execute(
                select(Evidence).where(Evidence.id.in_([uuid.UUID(x["id"]) for x in photos]))  # type: ignore[attr-defined]
            ).scalars()
        }
        cells = []
        for x in photos:
            ev = ev_rows.get(uuid.UUID(x["id"]))
            raw = _read(store, ev.thumbnail_key if ev else None)
            if raw is None or not _image_ok(raw):
                continue
            img = Image(io.BytesIO(raw))
            scale = min(52 * mm / img.imageWidth, 40 * mm / img.imageHeight)
            img.drawWidth, img.drawHeight = img.imageWidth * scale, img.imageHeight * scale
            caption = (
                f"{x['checkpoint_key'] or '—'} · {_fmt(x['captured_at'])} · {x['inspector_name']}"
                f" · SHA-256 {x['sha256'][:12]}…"
            )
            cells.append([img, p(caption, small)])
        table_rows = []
        for i in range(0, len(cells), 3):
            chunk = cells[i : i + 3]
            table_rows.append([c[0] for c in chunk] + [""] * (3 - len(chunk)))
            table_rows.append([c[1] for c in chunk] + [""] * (3 - len(chunk)))
        if table_rows:
            story.append(
                Table(
                    table_rows,
                    colWidths=[58 * mm] * 3,
                    style=TableStyle(
                        [("FONTNAME", (0, 0), (-1, -1), font), ("VALIGN", (0, 0), (-1, -1), "TOP")]
                    ),
                )
            )
    others = [e for e in data["evidence"] if not (e["kind"] == "photo" and e["has_thumbnail"])]
    if others:
        story.append(Spacer(1, 2 * mm))
        story.append(
            p(
                "其他证据："
                + "；".join(
                    f"{e['filename'] or e['kind']}（{e['kind']}，{_fmt(e['captured_at'])}，"
                    f"SHA-256 {e['sha256'][:12]}…）"
                    for e in others
                ),
                small,
            )
        )

    story.append(p("五、签名", h2))
    sig_cells = []
    for s in data["signatures"]:
        raw = None
        from ..models.fieldwork import FormSignature

        row = session.get(FormSignature, s["id"])
        if row is not None:
            raw = _read(store, row.object_key, limit=1024 * 1024)
        role = "检查人员" if s["signer"] == "inspector" else "企业代表"
        label = p(f"{role}：{s['name']}（{_fmt(s['signed_at'])}）", small)
        if raw is not None and _image_ok(raw):
            img = Image(io.BytesIO(raw))
            scale = min(50 * mm / img.imageWidth, 20 * mm / img.imageHeight)
            img.drawWidth, img.drawHeight = img.imageWidth * scale, img.imageHeight * scale
            sig_cells.append([img, label])
        else:
            sig_cells.append([p("（签名图片缺失）", small), label])
    if sig_cells:
        sig_rows = []
        for i in range(0, len(sig_cells), 3):
            chunk = sig_cells[i : i + 3]
            sig_rows.append([c[0] for c in chunk] + [""] * (3 - len(chunk)))
            sig_rows.append([c[1] for c in chunk] + [""] * (3 - len(chunk)))
        story.append(
            Table(sig_rows, colWidths=[58 * mm] * 3, style=TableStyle([("FONTNAME", (0, 0), (-1, -1), font)]))
        )
    else:
        story.append(p("无签名"))

    story.append(p("六、检查结果", h2))
    result = data["result"]
    if result:
        lines = [
            ("结果类别", result["category"]["label"]),
            ("情况说明", result["details"]),
            ("分事项结果", "；".join(f"{i['item_name']}：{i['category']['label']}" for i in result["items"])),
            (
                "后续处置",
                "；".join(
                    f"{f['kind_label']}（{f['status_label']}"
                    + (f"，期限 {_fmt(f['deadline'])}" if f["deadline"] else "")
                    + "）"
                    for f in result["follow_ups"]
                )
                or "无",
            ),
            ("完成日期", result["completed_on"]),
            ("公示期限", result["publication_deadline"]),
            ("公示状态", PUBLICATION_STATUS_LABELS[result["publication_status"]]),
        ]
        url = public_result_url(public_base_url, result["id"])
        qr = Image(io.BytesIO(_qr_png(url)), width=30 * mm, height=30 * mm)
        qr_cell = [qr, p("扫码查看公示结果", small), p(url, small)]
        story.append(
            Table(
                [
                    [
                        Table([[p(k), p(v)] for k, v in lines], colWidths=[26 * mm, 108 * mm], style=grid),
                        qr_cell,
                    ]
                ],
                colWidths=[136 * mm, 38 * mm],
                style=TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]),
            )
        )
    else:
        proposed = data["proposed_result"]
        story.append(p("检查结果尚未录入。拟定结果：" + ((proposed or {}).get("raw") or "—") + "（待审核）"))

    generated = datetime.now(CHINA).strftime("%Y-%m-%d %H:%M")

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(font, 7)
        canvas.drawString(18 * mm, 10 * mm, f"{form['code']} · 生成于 {generated} · 第 {doc.page} 页")
        canvas.restoreState()

    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=f"一企一表检查记录 {form['code']}",
        author="双随机、一公开监管平台",
    )
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue(), f"检查记录-{form['code']}.pdf"


# ------------------------------------------------------------------------------------------------------ xlsx


def _workbook() -> Any:
    from openpyxl import Workbook

    return Workbook()


def _style_header(ws: Any, widths: Sequence[int]) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="F3F3F3")
        cell.alignment = Alignment(vertical="center", wrap_text=True)
    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = w
    ws.freeze_panes = "A2"


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(CHINA).replace(tzinfo=None)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def results_xlsx(*, session: Session, actor: User, filters: results_service.ResultFilter) -> bytes:
    rows = results_service.all_results(session=session, actor=actor, filters=filters)
    views = []
    for start in range(0, len(rows), 500):
        views.extend(results_service.result_views(session, rows[start : start + 500]))
    wb = _workbook()
    ws = wb.active
    ws.title = "检查结果"
    header = [
        "表号",
        "检查对象",
        "统一社会信用代码",
        "录入部门",
        "结果类别",
        "情况说明",
        "分事项结果",
        "后续处置",
        "完成日期",
        "录入期限",
        "公示期限",
        "剩余工作日",
        "逾期",
        "录入时间",
        "公示状态",
        "公示时间",
        "按时公示",
        "不予公示理由",
        "审批意见",
    ]
    ws.append(header)
    for v in views:
        ws.append(
            [
                _cell(x)
                for x in (
                    v["form_code"],
                    v["enterprise"]["name"],
                    v["enterprise"]["uscc"],
                    v["department"]["name"],
                    v["category"]["label"],
                    v["details"],
                    "；".join(f"{i['item_name']}：{i['category']['label']}" for i in v["items"]),
                    "；".join(f"{f['kind_label']}（{f['status_label']}）" for f in v["follow_ups"]),
                    v["completed_on"],
                    v["entry_deadline"],
                    v["publication_deadline"],
                    v["workdays_left"],
                    "是" if v["overdue"] else "",
                    v["entered_at"],
                    v["publication_status_label"],
                    v["published_at"],
                    {True: "是", False: "否", None: ""}[v["published_on_time"]],
                    v["withhold"]["reason"],
                    v["withhold"]["decision_note"],
                )
            ]
        )
    _style_header(ws, [18, 30, 22, 18, 26, 40, 40, 30, 12, 12, 12, 10, 6, 18, 14, 18, 8, 30, 20])
    cats = wb.create_sheet("结果类别")
    cats.append(["代码", "类别"])
    for code, label in CATEGORY_LABELS.items():
        cats.append([code, label])
    _style_header(cats, [26, 40])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


STAT_COLUMNS = [
    ("label", "分组", 30),
    ("drawn", "抽取户数", 10),
    ("started", "已开始", 10),
    ("started_on_time", "按时开始", 10),
    ("completed", "已完成", 10),
    ("overdue", "逾期", 8),
    ("entered", "已录入结果", 10),
    ("problems", "发现问题", 10),
    ("problem_rate", "问题发现率", 10),
    ("entry_rate", "录入率", 10),
    ("published", "已公示", 10),
    ("published_on_time", "按时公示", 10),
    ("withheld", "不予公示", 10),
    ("publication_rate", "公示率", 10),
    ("publication_overdue", "公示逾期", 10),
]
GROUP_LABELS = {"department": "按部门", "plan": "按抽查计划", "item": "按抽查事项"}


def statistics_xlsx(
    *,
    session: Session,
    actor: User,
    department_id: uuid.UUID | None = None,
    plan_id: uuid.UUID | None = None,
    year: int | None = None,
) -> bytes:
    from openpyxl.styles import Font

    wb = _workbook()
    wb.remove(wb.active)
    for group_by in statistics_service.GROUPS:
        stats = statistics_service.statistics(
            session=session,
            actor=actor,
            group_by=group_by,
            department_id=department_id,
            plan_id=plan_id,
            year=year,
        )
        ws = wb.create_sheet(GROUP_LABELS[group_by])
        ws.append([c[1] for c in STAT_COLUMNS])
        for row in [*stats["rows"], stats["total"]]:
            ws.append([row[c[0]] for c in STAT_COLUMNS])
        for r in ws.iter_rows(min_row=2):
            for cell, (key, _label, _w) in zip(r, STAT_COLUMNS, strict=True):
                if key.endswith("_rate") and cell.value is not None:
                    cell.number_format = "0.00%"
        for cell in ws[ws.max_row]:
            cell.font = Font(bold=True)
        _style_header(ws, [c[2] for c in STAT_COLUMNS])
    cats = wb.create_sheet("结果类别分布")
    stats = statistics_service.statistics(
        session=session,
        actor=actor,
        group_by="department",
        department_id=department_id,
        plan_id=plan_id,
        year=year,
    )
    cats.append(["部门", *CATEGORY_LABELS.values()])
    for row in [*stats["rows"], stats["total"]]:
        counts = {c["code"]: c["count"] for c in row["categories"]}
        cats.append([row["label"], *(counts.get(code, 0) for code in CATEGORY_LABELS)])
    _style_header(cats, [30] + [14] * len(CATEGORY_LABELS))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
