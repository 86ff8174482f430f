"""Reports: the 一企一表 record PDF (Chinese text extracted with a PDF tool, its images), XLSX exports,
and the statistics per department, plan and item."""

from __future__ import annotations

import io
import shutil
import subprocess
import uuid
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook

from backend.models import AnnualPlan, FormCheckin, InspectionTask
from backend.models.base import utcnow
from backend.services import reports
from tests import factories
from tests.backend.api.results_support import fill_and_submit


def pdf_text(data: bytes, tmp_path) -> str:
    """Text as a PDF tool extracts it: poppler's pdftotext when installed, else pypdf."""
    if shutil.which("pdftotext"):
        path = tmp_path / f"{uuid.uuid4().hex}.pdf"
        path.write_bytes(data)
        return subprocess.run(
            ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True, timeout=60
        ).stdout.decode("utf-8")
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def pdf_images(data: bytes) -> int:
    from pypdf import PdfReader

    return sum(len(page.images) for page in PdfReader(io.BytesIO(data)).pages)


@pytest.fixture
def approved(app, session, client):
    sub = fill_and_submit(app, session, client, rep_name="赵企代", note="现场检查时企业负责人在场")
    team = sub.team
    sup = factories.make_user(session, roles=["supervisor"], department=team.department)
    result = factories.make_result(
        session,
        form=team.form,
        actor=sup,
        category="problem_corrected",
        details="营业执照未悬挂，已当场责令改正",
    )
    return sub, sup, result


def test_record_pdf_has_the_chinese_text_answers_photos_signatures_and_qr(client, app, approved, tmp_path):
    sub, sup, result = approved
    resp = client.get(
        f"/api/v1/reports/forms/{sub.team.form.id}/record.pdf", headers=factories.auth_headers(app, sup)
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert resp.mimetype == "application/pdf" and resp.data.startswith(b"%PDF")
    assert "filename*=UTF-8''" in resp.headers["Content-Disposition"]
    text = pdf_text(resp.data, tmp_path).replace("\n", "")  # long cells wrap
    for expected in (
        "抽查检查记录（一企一表）",
        "广元市测试食品有限公司",
        sub.team.enterprise.uscc,
        "是否公示年度报告",
        "合格",
        "李检查",
        "赵企代",
        "发现问题已责令改正",
        "营业执照未悬挂",
        "扫码查看公示结果",
        f"/results/{result.id}",
        "现场检查时企业负责人在场",
    ):
        assert expected in text, expected
    # photo thumbnail + two signatures + the QR code
    assert pdf_images(resp.data) >= 4


@pytest.mark.parametrize(
    "candidates",
    [None, [], [("/nonexistent/font.ttc", 0), ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2)]],
)
def test_the_pdf_reads_with_whichever_cjk_font_loads(app, session, approved, tmp_path, candidates):
    sub, sup, _result = approved
    data, filename = reports.form_record_pdf(
        session=session,
        actor=sup,
        store=app.extensions["shuangsui.store"],
        form_id=sub.team.form.id,
        public_base_url="https://gs.example.cn",
        font_candidates=candidates,
    )
    assert filename.endswith(".pdf") and "检查记录" in filename
    text = pdf_text(data, tmp_path).replace("\n", "")
    assert "广元市测试食品有限公司" in text and "https://gs.example.cn/results/" in text
    if candidates == []:
        assert reports.cjk_font([]) == reports.CID_FALLBACK


def test_record_pdf_access(client, app, session, approved, token_for):
    sub, _sup, _result = approved
    url = f"/api/v1/reports/forms/{sub.team.form.id}/record.pdf"
    assert client.get(url, headers=token_for("planner", department=sub.team.department)).status_code == 200
    assert client.get(url, headers=token_for("supervisor")).status_code == 404
    assert client.get(url, headers=sub.team.ha).status_code == 403
    assert client.get(url, headers=token_for("witness")).status_code == 403
    assert client.get(url).status_code == 401


def test_record_pdf_of_a_form_not_yet_reviewed(client, app, session, tmp_path, token_for):
    form = factories.make_submitted_form(session, proposed="未发现问题")
    headers = token_for("supervisor", department=session.get(factories.Department, form.lead_department_id))
    resp = client.get(f"/api/v1/reports/forms/{form.id}/record.pdf", headers=headers)
    assert resp.status_code == 200
    text = pdf_text(resp.data, tmp_path)
    assert "检查结果尚未录入" in text and "拟定结果：未发现问题（待审核）" in text.replace("\n", "")


# -------------------------------------------------------------------------------------------- statistics


@pytest.fixture
def stats_world(session):
    dept = factories.make_department(session, name="统计测试局")
    creator = factories.make_user(session, roles=["planner"], department=dept)
    item_a = factories.make_item(session, department=dept, name="事项甲", code=f"SA-{uuid.uuid4().hex[:6]}")
    item_b = factories.make_item(session, department=dept, name="事项乙", code=f"SB-{uuid.uuid4().hex[:6]}")
    plan = AnnualPlan(
        name="统计计划",
        year=2026,
        lead_department_id=dept.id,
        deadline=date(2026, 11, 20),
        created_by=creator.id,
        status="published",
    )
    session.add(plan)
    session.flush()
    task = InspectionTask(
        plan_id=plan.id,
        code=f"T-{uuid.uuid4().hex[:6]}",
        name="统计任务",
        item_ids=[str(item_a.item_id), str(item_b.item_id)],
        item_version_ids=[str(item_a.id), str(item_b.id)],
        department_ids=[str(dept.id)],
        created_by=creator.id,
        status="dispatched",
    )
    session.add(task)
    session.commit()
    soon = date.today() + timedelta(days=5)
    common = {"department": dept, "task_id": task.id, "deadline_start": soon}
    published = factories.make_submitted_form(
        session, deadline_complete=date.today() + timedelta(days=30), **common
    )
    factories.make_submitted_form(session, **common)  # completed, not entered
    late = factories.make_form(
        session, status="dispatched", deadline_complete=date.today() - timedelta(days=2), **common
    )
    started = factories.make_form(session, status="in_progress", **common)
    session.add(
        FormCheckin(
            form_id=started.id,
            at=utcnow(),
            lat=32.4,
            lng=105.8,
            inspector_id=factories.make_inspector(session, department=dept).id,
            op_id=uuid.uuid4(),
        )
    )
    session.commit()
    sup = factories.make_user(session, roles=["supervisor"], department=dept)
    factories.make_result(session, form=published, actor=sup, category="problem_corrected", publish=True)
    return {"dept": dept, "plan": plan, "task": task, "items": (item_a, item_b), "late": late, "sup": sup}


def test_statistics_per_department_plan_and_item(client, app, session, stats_world, token_for):
    headers = token_for("approver", department=stats_world["dept"])
    dept = client.get("/api/v1/statistics", headers=headers).get_json()
    [row] = dept["rows"]
    assert row["label"] == "统计测试局"
    expected = {
        "drawn": 4,
        "started": 3,
        "started_on_time": 3,
        "completed": 2,
        "overdue": 1,
        "entered": 1,
        "problems": 1,
        "problem_rate": 1.0,
        "entry_rate": 0.5,
        "published": 1,
        "publication_rate": 1.0,
        "published_on_time": 1,
        "withheld": 0,
    }
    assert {k: row[k] for k in expected} == expected
    assert row["categories"] == [{"code": "problem_corrected", "label": "发现问题已责令改正", "count": 1}]
    assert dept["total"]["drawn"] == 4

    plan = client.get("/api/v1/statistics", query_string={"group_by": "plan"}, headers=headers).get_json()
    [prow] = plan["rows"]
    assert (
        prow["key"] == str(stats_world["plan"].id)
        and prow["label"] == "统计计划（2026）"
        and prow["drawn"] == 4
    )

    items = client.get("/api/v1/statistics", query_string={"group_by": "item"}, headers=headers).get_json()
    by_label = {r["label"].split(" ", 1)[1]: r for r in items["rows"]}
    assert set(by_label) == {"事项甲", "事项乙"}
    assert by_label["事项甲"]["drawn"] == 4 and by_label["事项乙"]["entered"] == 1
    assert items["total"]["drawn"] == 4  # a joint form counts once in the total

    other = client.get("/api/v1/statistics", headers=token_for("supervisor")).get_json()
    assert other["rows"] == [] and other["total"]["drawn"] == 0
    assert client.get("/api/v1/statistics", headers=token_for("inspector")).status_code == 403
    year = client.get("/api/v1/statistics", query_string={"year": 2025}, headers=headers).get_json()
    assert year["rows"] == []


def test_xlsx_exports(client, app, session, stats_world, token_for):
    headers = token_for("supervisor", department=stats_world["dept"])
    resp = client.get("/api/v1/reports/results.xlsx", headers=headers)
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    wb = load_workbook(io.BytesIO(resp.data))
    ws = wb["检查结果"]
    header = [c.value for c in ws[1]]
    assert header[:5] == ["表号", "检查对象", "统一社会信用代码", "录入部门", "结果类别"]
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 1 and rows[0][4] == "发现问题已责令改正" and rows[0][14] == "已公示"
    assert "结果类别" in wb.sheetnames

    stats = load_workbook(io.BytesIO(client.get("/api/v1/reports/statistics.xlsx", headers=headers).data))
    assert stats.sheetnames == ["按部门", "按抽查计划", "按抽查事项", "结果类别分布"]
    dept_sheet = stats["按部门"]
    assert [c.value for c in dept_sheet[1]][:3] == ["分组", "抽取户数", "已开始"]
    assert dept_sheet["A2"].value == "统计测试局" and dept_sheet["B2"].value == 4
    assert dept_sheet["A3"].value == "合计"
    entry_rate_col = [c.value for c in dept_sheet[1]].index("录入率") + 1
    assert dept_sheet.cell(row=2, column=entry_rate_col).number_format == "0.00%"

    outsider = client.get("/api/v1/reports/results.xlsx", headers=token_for("supervisor"))
    assert outsider.status_code == 200
    assert (
        list(load_workbook(io.BytesIO(outsider.data))["检查结果"].iter_rows(min_row=2, values_only=True))
        == []
    )
    assert client.get("/api/v1/reports/statistics.xlsx", headers=token_for("witness")).status_code == 403
