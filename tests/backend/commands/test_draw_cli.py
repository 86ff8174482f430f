"""`shuangsui draw ...`: notice, entropy, run (+dispatch) as jobs, export for the public, verify."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import func, select

from backend.models import InspectionForm, User
from tests.backend import planning_world as pw
from tests.backend.planning_world import ok


@pytest.fixture
def world(session, token_for, app):
    return pw.build_world(session, token_for, app)


def test_cli_notice_entropy_run_dispatch_export_verify(client, app, world, session, tmp_path):
    plan = pw.published_plan(client, world)
    task = pw.task(client, world, plan)
    users = {u.username: u for u in session.execute(select(User)).scalars()}
    planner = next(u for u in users.values() if "planner" in u.roles and u.department_id == world.lead.id)
    witness = next(u for u in users.values() if "witness" in u.roles)
    runner = app.test_cli_runner()

    res = runner.invoke(
        args=[
            "draw",
            "notice",
            task["id"],
            "--actor",
            planner.username,
            "--witness-source",
            "见证人甲:3",
            "--beacon",
            "上证指数:收盘点位",
        ]
    )
    assert res.exit_code == 0, res.output
    assert "拟抽取 3 户" in res.output
    res = runner.invoke(args=["draw", "run", task["id"], "--actor", planner.username])
    assert res.exit_code != 0 and "尚未录入" in res.output
    res = runner.invoke(
        args=[
            "draw",
            "entropy",
            task["id"],
            "--actor",
            witness.username,
            "--source",
            "见证人甲",
            "--numbers",
            "6,2,5",
        ]
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        args=[
            "draw",
            "entropy",
            task["id"],
            "--actor",
            witness.username,
            "--source",
            "上证指数",
            "--value",
            "3367.58",
        ]
    )
    assert res.exit_code == 0 and "熵已齐备" in res.output
    res = runner.invoke(args=["draw", "run", task["id"], "--actor", witness.username])
    assert res.exit_code != 0 and "部门管理员" in res.output
    res = runner.invoke(
        args=["draw", "run", task["id"], "--actor", planner.username, "--dispatch", "--today", "2026-03-02"]
    )
    assert res.exit_code == 0, res.output
    assert "抽中 3 户" in res.output and "已派发 3 份检查表" in res.output
    assert session.execute(select(func.count()).select_from(InspectionForm)).scalar_one() == 3

    draw = ok(client.get(f"/api/v1/tasks/{task['id']}/draw", headers=world.witness))
    res = runner.invoke(args=["draw", "export", draw["id"], str(tmp_path)])
    assert res.exit_code == 0, res.output
    run = subprocess.run(
        [sys.executable, "verify_draw.py", "record.json", "population.csv", "--notice", "notice.json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    res = runner.invoke(
        args=["draw", "verify", str(tmp_path / "record.json"), str(tmp_path / "population.csv")]
    )
    assert res.exit_code == 0 and "验证通过" in res.output
