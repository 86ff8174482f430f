"""`shuangsui demo`, `demo accounts`, `import …` and `export …` through the Flask CLI runner."""

from __future__ import annotations

import json
import random
import time
from datetime import date

from sqlalchemy import func, select

from backend.commands.demo import _enterprises
from backend.models import (
    AuditEntry,
    CheckItemVersion,
    Department,
    Draw,
    Enterprise,
    InspectionForm,
    InspectionTask,
    Inspector,
    User,
)
from backend.services.auth import check_password
from backend.services.uscc import is_valid_uscc
from backend.services.workdays import covered_years
from tests import factories


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def count(session, model):
    session.expire_all()
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_demo_creates_a_realistic_directory_once(app, session):
    result = run(app, "demo", "--seed", "7")
    assert result.exit_code == 0, result.output
    assert count(session, Department) == 3 and count(session, Enterprise) >= 2000 and count(session, Inspector) >= 40
    ents = session.execute(select(Enterprise)).scalars().all()
    assert all(is_valid_uscc(e.uscc) for e in ents)
    assert len({e.uscc for e in ents}) == len(ents)
    assert {e.region_code[:4] for e in ents} == {"5108"} and len({e.region_code for e in ents}) >= 5
    assert any(e.abnormal_list for e in ents) and any(e.serious_violation for e in ents)
    assert {lib for e in ents for lib in e.special_libraries} >= {"食品", "特种设备", "药品"}
    inspectors = session.execute(select(Inspector)).scalars().all()
    assert any(not i.certificate_valid_on(date.today()) for i in inspectors)
    published = session.execute(select(CheckItemVersion).where(CheckItemVersion.status == "published")).scalars().all()
    assert len(published) >= 10
    users = {u.username: u for u in session.execute(select(User)).scalars()}
    roles = {r for u in users.values() for r in u.roles}
    assert roles == {"admin", "planner", "approver", "supervisor", "inspector", "witness"}
    assert check_password(users["admin"].password_hash, "demo1234")
    assert all(u.inspector_id for u in users.values() if "inspector" in u.roles)
    again = run(app, "demo")
    assert again.exit_code != 0
    skipped = run(app, "demo", "--if-empty")
    assert skipped.exit_code == 0 and "跳过" in skipped.output
    accounts = run(app, "demo", "accounts")
    assert (
        "admin" in accounts.output and "广元市利州区市场监督管理局" in accounts.output and "监督员" in accounts.output
    )


def test_demo_draws_and_dispatches_forms_to_the_demo_inspectors(app, session, client):
    app.config["SHUANGSUI_TODAY"] = date(2026, 3, 2)  # a Monday the holiday calendar covers
    started = time.perf_counter()
    result = run(app, "demo", "--seed", "7")
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - started < 10
    assert "演示摇号" in result.output and "派发" in result.output, result.output
    users = {u.username: u for u in session.execute(select(User)).scalars()}
    draw = session.execute(select(Draw)).scalar_one()
    assert draw.status == "performed" and 10 <= draw.selected_count <= 20
    task = session.get(InspectionTask, draw.task_id)
    assert task.status == "dispatched"
    assert date(2026, 3, 2) < task.inspection_date <= date(2026, 3, 9)  # within 5 工作日
    for name in ("inspector", "inspector2"):
        pulled = client.get("/api/v1/sync/pull", headers=factories.auth_headers(app, users[name]))
        assert pulled.status_code == 200, pulled.get_json()
        forms = pulled.get_json()["forms"]
        assert len(forms) >= 2 and all(f["status"] == "dispatched" for f in forms), name
    notices = client.get("/api/v1/public/notices")  # no sign-in
    assert notices.status_code == 200
    assert [n["draw_id"] for n in notices.get_json()] == [str(draw.id)]


def test_demo_skips_the_draw_outside_the_holiday_calendar(app, session):
    app.config["SHUANGSUI_TODAY"] = date(max(covered_years()) + 1, 6, 1)
    result = run(app, "demo", "--seed", "7", "--enterprises", "300")
    assert result.exit_code == 0, result.output
    assert "未创建演示摇号" in result.output and count(session, Department) == 3
    assert count(session, Draw) == 0 and count(session, InspectionForm) == 0


def test_demo_is_reproducible_from_the_seed(app, session, tmp_path):
    run(app, "demo", "--seed", "11", "--enterprises", "50")
    first = sorted(session.execute(select(Enterprise.uscc, Enterprise.name)).all())
    assert len(first) == 50
    # the same seed gives the same directory
    again = _enterprises(random.Random(11), 50, None)
    assert sorted((r["uscc"], r["name"]) for r in again) == first


def test_import_and_export_commands(app, session, tmp_path):
    run(app, "demo", "--enterprises", "30")
    out = tmp_path / "e.csv"
    exported = run(app, "export", "enterprises", str(out), "--quiet")
    assert exported.exit_code == 0 and "30" in exported.output
    before = count(session, AuditEntry)
    report_path = tmp_path / "report.json"
    imported = run(app, "import", "enterprises", str(out), "--quiet", "--report", str(report_path))
    assert imported.exit_code == 0, imported.output
    assert "新增 0  更新 0  未变 30" in imported.output
    assert json.loads(report_path.read_text(encoding="utf-8"))["unchanged"] == 30
    assert count(session, AuditEntry) == before
    for kind in ("inspectors", "items"):
        path = tmp_path / f"{kind}.xlsx"
        assert run(app, "export", kind, str(path), "--quiet").exit_code == 0
        result = run(app, "import", kind, str(path), "--quiet", "--format", "xlsx")
        assert result.exit_code == 0 and "新增 0  更新 0" in result.output, result.output


def test_import_command_reports_errors_and_exits_nonzero(app, session, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("统一社会信用代码,名称\n915108021234567890,甲\n", encoding="gbk")
    result = run(app, "import", "enterprises", str(bad), "--quiet")
    assert result.exit_code == 1
    assert "第 2 行" in result.output and "统一社会信用代码" in result.output
    assert count(session, Enterprise) == 0
    dry = run(app, "import", "enterprises", str(bad), "--quiet", "--dry-run", "--valid-only")
    assert dry.exit_code == 0 and "试运行" in dry.output
    unknown_user = run(app, "import", "enterprises", str(bad), "--as", "nobody")
    assert unknown_user.exit_code != 0 and "nobody" in unknown_user.output
