"""`shuangsui results …`: record PDFs in bulk and the deadline report."""

from __future__ import annotations

from datetime import UTC, datetime

from backend.commands import results as results_cli
from backend.models import Department
from tests import factories


def test_records_and_deadlines(app, session, tmp_path):
    if "results" not in app.cli.commands:  # until backend.cli loads backend.commands.results itself
        results_cli.register(app)
    form = factories.make_submitted_form(session, submitted_at=datetime(2025, 3, 3, 2, tzinfo=UTC))
    dept = session.get(Department, form.lead_department_id)
    sup = factories.make_user(session, roles=["supervisor"], department=dept)
    factories.make_result(session, form=form, actor=sup)
    pending = factories.make_submitted_form(session, department=dept)
    runner = app.test_cli_runner()

    res = runner.invoke(args=["results", "records", "--actor", sup.username, "--out", str(tmp_path / "pdf")])
    assert res.exit_code == 0, res.output
    files = list((tmp_path / "pdf").glob("*.pdf"))
    assert [f.name for f in files] == [f"检查记录-{form.code}.pdf"] and files[0].read_bytes().startswith(
        b"%PDF"
    )

    res = runner.invoke(args=["results", "deadlines", "--actor", sup.username])
    assert res.exit_code == 0, res.output
    assert "已逾期：1 项" in res.output and form.code in res.output
    assert pending.code not in res.output  # 20 working days away
    res = runner.invoke(args=["results", "deadlines", "--actor", sup.username, "--within", "25"])
    assert pending.code in res.output and "待录入结果" in res.output
    assert runner.invoke(args=["results", "deadlines", "--actor", "nobody"]).exit_code != 0
