"""The verifiable draw end to end: notice, witnessed entropy, perform, dispatch, public verification."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
import zlib
from datetime import date

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from backend.draw import verify_draw as vd
from backend.errors import Conflict
from backend.models import (
    AuditEntry,
    ConflictOfInterest,
    Draw,
    DrawArtifact,
    DrawNotice,
    FormAssignment,
    InspectionForm,
    InspectionTask,
    Inspector,
)
from backend.models.planning import ImmutableRecord
from backend.services import draws
from tests import factories
from tests.backend import planning_world as pw
from tests.backend.planning_world import ok


@pytest.fixture
def world(session, token_for, app):
    return pw.build_world(session, token_for, app)


def _audit(session, action):
    return session.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars().all()


def _pull(client, app, user):
    body = ok(client.get("/api/v1/sync/pull", headers=factories.auth_headers(app, user)))
    return {f["id"] for f in body["forms"]}


def _download(client, url, path):
    resp = client.get(url)  # no Authorization header: public
    assert resp.status_code == 200, resp.data[:300]
    path.write_bytes(resp.data)
    return path


def _verify(tmp_path, *names, env=None):
    return subprocess.run(
        [sys.executable, str(tmp_path / "verify_draw.py"), *[str(tmp_path / n) for n in names]],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )


# ------------------------------------------------------------------------------------------ the flow


def test_whole_flow_notice_entropy_draw_dispatch_visible_to_exactly_the_team(
    client, app, world, session, tmp_path
):
    plan = pw.published_plan(client, world)
    task = pw.task(client, world, plan)
    notice = ok(
        client.post(
            f"/api/v1/tasks/{task['id']}/notice", json={"entropy_sources": pw.ENTROPY}, headers=world.planner
        ),
        201,
    )
    assert notice["population_size"] == 60  # 注销/吊销/迁出 never enter the population
    assert notice["total"] == 3  # 5 % of 60
    assert notice["algorithm"] == "shuangsui-draw-v3"
    assert len(notice["commitment"]) == 64 and notice["matching_digest"]
    assert "secret" not in json.dumps(notice)
    draw_id = notice["draw_id"]

    # Before the entropy and the draw: the draw shows what is missing; no record yet, no secret anywhere.
    draw = ok(client.get(f"/api/v1/tasks/{task['id']}/draw", headers=world.witness))
    assert draw["missing_sources"] == ["见证人甲", "上证指数"] and draw["seed"] is None
    assert "secret_sealed" not in draw and "secret" not in json.dumps(draw)
    assert client.get(f"/api/v1/public/draws/{draw_id}/record.json").status_code == 404
    ok(client.post(f"/api/v1/tasks/{task['id']}/draw/perform", headers=world.planner), 409)

    pw.enter_entropy(client, world, task["id"])
    draw = ok(client.post(f"/api/v1/tasks/{task['id']}/draw/perform", headers=world.planner))
    assert draw["status"] == "performed" and draw["selected_count"] == 3
    assert ok(client.get(f"/api/v1/tasks/{task['id']}", headers=world.planner))["status"] == "drawn"
    ok(client.post(f"/api/v1/tasks/{task['id']}/draw/perform", headers=world.planner), 409)  # no re-draw

    result = ok(client.post(f"/api/v1/tasks/{task['id']}/draw/dispatch", headers=world.planner))
    assert result["forms"] == 3 and result["assignments"] == 12  # 2 departments x 2 inspectors each
    assert result["deadline_start"] == "2026-03-09"  # 5 工作日 after Monday 2026-03-02
    assert result["deadline_complete"] == "2026-11-20"  # the plan's default deadline
    ok(client.post(f"/api/v1/tasks/{task['id']}/draw/dispatch", headers=world.planner), 409)

    record = json.loads(client.get(f"/api/v1/public/draws/{draw_id}/record.json").data)
    forms = (
        session.execute(select(InspectionForm).where(InspectionForm.task_id == uuid.UUID(task["id"])))
        .scalars()
        .all()
    )
    assert len(forms) == 3
    teams = {}
    # The record names inspectors by position; expand_matching spells out ids and leads.
    for target in vd.expand_matching(record)["targets"]:
        form = next(f for f in forms if f.enterprise_snapshot["uscc"] == target["uscc"])
        assert form.status == "dispatched" and form.version == 1
        assert form.deadline_start == date(2026, 3, 9) and form.inspection_date == pw.INSPECTION_DAY
        assert form.lead_department_id == world.lead.id
        assert set(form.department_ids) == {str(world.lead.id), str(world.partner.id)}
        members = (
            session.execute(select(FormAssignment).where(FormAssignment.form_id == form.id)).scalars().all()
        )
        assert {str(m.inspector_id) for m in members} == {i for t in target["teams"] for i in t["inspectors"]}
        assert [str(m.inspector_id) for m in members if m.is_lead] == [target["lead_inspector"]]
        for dept in (world.lead, world.partner):
            assert sum(1 for m in members if m.department_id == dept.id) >= 2
        teams[str(form.id)] = {str(m.inspector_id) for m in members}
        # 一企一表: one merged list; the shared question appears once and keeps both departments' bases.
        questions = [cp["question"] for cp in form.checkpoints]
        assert len(form.checkpoints) == 3 and len(set(questions)) == 3
        shared = next(cp for cp in form.checkpoints if len(cp["merged_from"]) == 2)
        assert {m["department"] for m in shared["merged_from"]} == {world.lead.name, world.partner.name}
        assert {m["legal_basis"] for m in shared["merged_from"]} == {
            "《企业信息公示暂行条例》 第八条",
            "《公共场所卫生管理条例》 第六条",
        }
        assert form.enterprise_snapshot["region_code"] == pw.REGION and form.enterprise_snapshot["name"]

    # Visible to exactly the matched inspectors (field sync pull), nobody else.
    for users in world.inspector_users.values():
        for user in users:
            expected = {fid for fid, members in teams.items() if str(user.inspector_id) in members}
            assert _pull(client, app, user) == expected

    for action in (
        "plan.approved",
        "draw.notice_published",
        "draw.entropy_entered",
        "draw.performed",
        "draw.dispatched",
    ):
        assert _audit(session, action), action

    # Anyone verifies from the public record with the downloaded script; tampering fails and says where.
    _download(client, "/api/v1/public/verify_draw.py", tmp_path / "verify_draw.py")
    _download(client, f"/api/v1/public/draws/{draw_id}/record.json", tmp_path / "record.json")
    _download(client, f"/api/v1/public/draws/{draw_id}/population.csv", tmp_path / "population.csv")
    for hashseed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        run = _verify(tmp_path, "record.json", "population.csv", env=env)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "验证通过" in run.stdout

    raw = (tmp_path / "population.csv").read_bytes()
    lines = raw.decode().split("\n")
    first = lines[1].split(",")
    lines[1] = ",".join([first[0], first[1], "9.000000"])
    (tmp_path / "tampered.csv").write_text("\n".join(lines))
    run = _verify(tmp_path, "record.json", "tampered.csv")
    assert run.returncode != 0 and "population" in run.stdout

    tampered = json.loads((tmp_path / "record.json").read_bytes())
    tampered["seed"] = "00" * 32
    (tmp_path / "tampered.json").write_text(
        json.dumps(tampered, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    )
    run = _verify(tmp_path, "tampered.json", "population.csv")
    assert run.returncode != 0 and "seed" in run.stdout

    # The CLI wraps the same verifier.
    runner = app.test_cli_runner()
    res = runner.invoke(
        args=["draw", "verify", str(tmp_path / "record.json"), str(tmp_path / "population.csv")]
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        args=["draw", "verify", str(tmp_path / "tampered.json"), str(tmp_path / "population.csv")]
    )
    assert res.exit_code == 1


def test_public_views_need_no_token(client, world):
    out = pw.drawn_task(client, world)
    draw_id = out["draw"]["id"]
    notices = ok(client.get("/api/v1/public/notices"))
    assert [n["draw_id"] for n in notices] == [draw_id]
    assert notices[0]["links"]["record"].endswith("/record.json")
    one = ok(client.get(f"/api/v1/public/notices/{notices[0]['notice_id']}"))
    assert one["notice"]["population_digest"] == one["population_digest"]
    resp = client.get(f"/api/v1/public/draws/{draw_id}/population.csv")
    assert resp.mimetype == "text/csv" and resp.data.startswith(b"uscc,stratum,weight\n")
    script = client.get("/api/v1/public/verify_draw.py")
    assert script.status_code == 200 and b"def verify_record" in script.data
    record = client.get(f"/api/v1/public/draws/{draw_id}/record.json")
    assert record.mimetype == "application/json"
    assert json.loads(record.data)["record_digest"] == out["draw"]["record_digest"]
    assert (
        client.get("/api/v1/public/draws/00000000-0000-0000-0000-000000000000/record.json").status_code == 404
    )


def test_record_reveals_the_committed_secret_and_the_witness_entropy(client, world):
    out = pw.drawn_task(client, world)
    record = json.loads(client.get(f"/api/v1/public/draws/{out['draw']['id']}/record.json").data)
    import hashlib

    assert (
        hashlib.sha256(b"shuangsui-draw-commit-v1" + bytes.fromhex(record["secret"])).hexdigest()
        == record["notice"]["commitment"]
    )
    assert record["entropy"]["key_string"] == "2.5.6./"
    assert record["entropy"]["beacon"] == "3367.58"
    assert record["notice"]["context"]["task"]["code"] == out["task"]["code"]


# ---------------------------------------------------------------------------------------------- entropy


def test_entropy_before_the_notice_is_refused(client, world):
    plan = pw.published_plan(client, world)
    task = pw.task(client, world, plan)
    url = f"/api/v1/tasks/{task['id']}/draw/entropy"
    body = ok(client.post(url, json={"source": "见证人甲", "numbers": [1]}, headers=world.planner), 409)
    assert "公告发布前不能录入" in body["message"]
    ok(
        client.post(url, json={"source": "见证人甲", "numbers": [1]}, headers=world.witness), 404
    )  # not public yet
    ok(client.post(f"/api/v1/tasks/{task['id']}/draw/perform", headers=world.planner), 409)


def test_entropy_rules(client, world, session):
    plan = pw.published_plan(client, world)
    task = pw.task(client, world, plan)
    ok(
        client.post(
            f"/api/v1/tasks/{task['id']}/notice", json={"entropy_sources": pw.ENTROPY}, headers=world.planner
        ),
        201,
    )
    url = f"/api/v1/tasks/{task['id']}/draw/entropy"
    ok(client.post(url, json={"source": "不存在", "numbers": [1]}, headers=world.witness), 422)
    ok(
        client.post(url, json={"source": "见证人甲", "numbers": [1, 2]}, headers=world.witness), 422
    )  # count 3
    ok(client.post(url, json={"source": "见证人甲", "numbers": [1, -2, 3]}, headers=world.witness), 422)
    ok(client.post(url, json={"source": "见证人甲", "numbers": [7, 1, 3]}, headers=world.witness))
    ok(client.post(url, json={"source": "见证人甲", "numbers": [9, 9, 9]}, headers=world.witness), 409)
    ok(client.post(url, json={"source": "上证指数", "value": "3367.58"}, headers=world.planner_partner), 403)
    inspector = factories.auth_headers(client.application, world.inspector_users["SCJG"][0])
    ok(client.post(url, json={"source": "上证指数", "value": "3367.58"}, headers=inspector), 403)
    ok(client.post(url, json={"source": "上证指数", "value": "3367.58"}, headers=world.planner))
    draw = ok(client.get(f"/api/v1/tasks/{task['id']}/draw", headers=world.witness))
    assert draw["witness_numbers"] == {"见证人甲": [1, 3, 7]} and draw["missing_sources"] == []
    assert [e["source"] for e in draw["entropy_log"]] == ["见证人甲", "上证指数"]
    assert len(_audit(session, "draw.entropy_entered")) == 2


# ------------------------------------------------------------------------------------------- the notice


def test_notice_is_immutable(client, world, session):
    plan = pw.published_plan(client, world)
    task = pw.task(client, world, plan)
    ok(client.post(f"/api/v1/tasks/{task['id']}/notice", json={}, headers=world.planner), 201)
    again = ok(client.post(f"/api/v1/tasks/{task['id']}/notice", json={}, headers=world.planner), 409)
    assert "不可修改" in again["message"]
    ok(client.patch(f"/api/v1/tasks/{task['id']}", json={"ratio": "0.03"}, headers=world.planner), 409)

    notice = session.execute(
        select(DrawNotice).where(DrawNotice.task_id == uuid.UUID(task["id"]))
    ).scalar_one()
    notice.total = 1
    with pytest.raises(ImmutableRecord):
        session.flush()
    session.rollback()
    # Below the ORM the database refuses too (trigger), for notices and their published files.
    for stmt in (
        update(DrawNotice).where(DrawNotice.id == notice.id).values(total=1),
        update(DrawArtifact).where(DrawArtifact.notice_id == notice.id).values(size=1),
        text("DELETE FROM draw_notice"),
    ):
        with pytest.raises((IntegrityError, DBAPIError)):
            session.execute(stmt)
        session.rollback()
    assert session.get(DrawNotice, notice.id).total == 3


def test_artifacts_are_stored_with_zstandard_and_older_zlib_ones_still_read(client, world, session):
    plan = pw.published_plan(client, world)
    task = pw.task(client, world, plan)
    ok(client.post(f"/api/v1/tasks/{task['id']}/notice", json={}, headers=world.planner), 201)
    notice = session.execute(
        select(DrawNotice).where(DrawNotice.task_id == uuid.UUID(task["id"]))
    ).scalar_one()
    stored = session.execute(
        select(DrawArtifact).where(DrawArtifact.notice_id == notice.id, DrawArtifact.kind == "population")
    ).scalar_one()
    assert stored.content[:4] == b"\x28\xb5\x2f\xfd"  # a Zstandard frame
    population = draws.artifact_bytes(session, notice.id, "population")
    assert population.startswith(b"uscc,stratum,weight\n") and len(population) == stored.size
    # A file published before Zstandard: a zlib stream under the same digest reads back the same.
    legacy = b"uscc,stratum,weight\n" + b"91510800MA00000001,510800,1.000000\n" * 100
    session.add(
        DrawArtifact(
            notice_id=notice.id,
            kind="legacy",
            sha256=hashlib.sha256(legacy).hexdigest(),
            size=len(legacy),
            content=zlib.compress(legacy),
        )
    )
    session.flush()
    assert draws.artifact_bytes(session, notice.id, "legacy") == legacy
    # Damaged bytes in either format: the same clear refusal as a digest that does not match.
    for kind, content in (("torn-zstd", stored.content[:-7]), ("torn-zlib", zlib.compress(legacy)[:-7])):
        session.add(
            DrawArtifact(notice_id=notice.id, kind=kind, sha256=stored.sha256, size=stored.size, content=content)
        )
        session.flush()
        with pytest.raises(Conflict, match="摇号文件校验失败"):
            draws.artifact_bytes(session, notice.id, kind)
    session.rollback()


def test_performed_draw_is_frozen(client, world, session):
    out = pw.drawn_task(client, world)
    with pytest.raises((IntegrityError, DBAPIError)):
        session.execute(update(Draw).where(Draw.id == uuid.UUID(out["draw"]["id"])).values(seed="0" * 64))
    session.rollback()


def test_witness_signature(client, world, session):
    plan = pw.published_plan(client, world)
    task = pw.task(client, world, plan)
    notice = ok(
        client.post(
            f"/api/v1/tasks/{task['id']}/notice", json={"entropy_sources": pw.ENTROPY}, headers=world.planner
        ),
        201,
    )
    url = f"/api/v1/draws/{notice['draw_id']}/signatures"
    ok(client.post(url, json={}, headers=world.witness), 409)  # nothing to sign before the draw
    pw.enter_entropy(client, world, task["id"])
    draw = ok(client.post(f"/api/v1/tasks/{task['id']}/draw/perform", headers=world.planner))
    sig = ok(client.post(url, json={"statement": "现场见证，过程与记录一致"}, headers=world.witness), 201)
    assert sig["record_digest"] == draw["record_digest"] and len(sig["signature"]) == 64
    ok(client.post(url, json={}, headers=world.witness), 409)
    ok(client.post(url, json={}, headers=world.planner), 403)
    assert len(ok(client.get(url, headers=world.approver))) == 1
    assert (
        ok(client.get(f"/api/v1/draws/{notice['draw_id']}", headers=world.witness))["signatures"][0]["id"]
        == sig["id"]
    )
    assert _audit(session, "draw.witness_signed")


def test_large_population_is_sent_to_the_cli(client, app, world):
    app.config["DRAW_INLINE_LIMIT"] = 10
    plan = pw.published_plan(client, world)
    task = pw.task(client, world, plan)
    body = ok(client.post(f"/api/v1/tasks/{task['id']}/notice", json={}, headers=world.planner), 409)
    assert "shuangsui draw notice" in body["message"]


# --------------------------------------------------------------------------------------------- matching


def test_infeasible_matching_names_enterprise_department_and_condition_and_dispatches_nothing(
    client, world, session
):
    # Every enterprise conflicts with all but one of the partner department's inspectors: the pools look
    # fine before the draw, but no team of 2 exists for any drawn enterprise.
    partners = world.inspectors(world.partner)
    for ent in world.enterprises:
        for insp in partners[1:]:
            session.add(ConflictOfInterest(inspector_id=insp.id, enterprise_id=ent.id, reason="relative"))
    session.commit()
    plan = pw.published_plan(client, world)
    task = pw.task(client, world, plan)
    ok(
        client.post(
            f"/api/v1/tasks/{task['id']}/notice", json={"entropy_sources": pw.ENTROPY}, headers=world.planner
        ),
        201,
    )
    pw.enter_entropy(client, world, task["id"])
    body = ok(client.post(f"/api/v1/tasks/{task['id']}/draw/perform", headers=world.planner), 422)
    matching = body["errors"]["matching"]
    assert matching["department"] == "WJJ" and matching["reasons"]["conflict"] >= 1
    uscc = matching["uscc"]
    name = next(e.name for e in world.enterprises if e.uscc == uscc)
    assert uscc in body["message"] and name in body["message"]
    assert world.partner.name in body["message"] and "需回避" in body["message"]
    assert "未派发任何检查表" in body["message"]
    assert session.execute(select(func.count()).select_from(InspectionForm)).scalar_one() == 0
    assert session.execute(select(func.count()).select_from(FormAssignment)).scalar_one() == 0
    session.expire_all()
    draw = session.execute(select(Draw).where(Draw.task_id == uuid.UUID(task["id"]))).scalar_one()
    assert draw.status == "awaiting_entropy" and draw.record_digest is None
    assert session.get(InspectionTask, uuid.UUID(task["id"])).status == "noticed"
    assert _audit(session, "draw.infeasible")
    ok(client.post(f"/api/v1/tasks/{task['id']}/draw/dispatch", headers=world.planner), 409)


def test_notice_refused_when_a_department_cannot_field_a_team(client, world, session):
    for insp in world.inspectors(world.partner)[1:]:
        insp.certificate_valid_until = date(2026, 1, 31)  # expired before the inspection date
        session.add(insp)
    session.commit()
    plan = pw.published_plan(client, world)
    task = pw.task(client, world, plan)
    body = ok(client.post(f"/api/v1/tasks/{task['id']}/notice", json={}, headers=world.planner), 422)
    assert world.partner.name in body["message"] and "执法证到期 4 名" in body["message"]
    assert body["errors"]["matching"]["region_code"] == pw.REGION
    assert session.execute(select(func.count()).select_from(DrawNotice)).scalar_one() == 0


@pytest.mark.parametrize("case", ["conflicts", "expired", "workload", "pairing", "specialty"])
def test_every_matched_team_satisfies_the_constraints(client, app, world, session, case):
    """Whatever the directory looks like, nobody matched breaks a rule (checked on the dispatched forms)."""
    lead_inspectors = world.inspectors(world.lead)
    partner_inspectors = world.inspectors(world.partner)
    extra = {"workload_cap": None}
    if case == "conflicts":
        for i, ent in enumerate(world.enterprises):
            session.add(ConflictOfInterest(inspector_id=lead_inspectors[i % 5].id, enterprise_id=ent.id))
    elif case == "expired":
        lead_inspectors[0].certificate_valid_until = date(2026, 3, 3)
        partner_inspectors[1].active = False
        session.add_all([lead_inspectors[0], partner_inspectors[1]])
    elif case == "workload":
        extra["workload_cap"] = 3
        for insp in lead_inspectors[:2]:
            for _ in range(3):  # already at the cap
                factories.make_form(session, inspectors=[insp], department=world.lead)
    elif case == "pairing":
        for ent in world.enterprises:
            factories.make_form(
                session,
                enterprise=ent,
                inspectors=[lead_inspectors[0], partner_inspectors[0]],
                department=world.lead,
                dispatched_at=factories_now(),
            )
    elif case == "specialty":
        world.item_partner.specialty = "公共卫生"
        session.add(world.item_partner)
        for insp in partner_inspectors[:3]:
            insp.specialties = ["公共卫生"]
            session.add(insp)
    session.commit()
    forms_before = set(session.execute(select(InspectionForm.id)).scalars())
    out = pw.drawn_task(client, world, **{k: v for k, v in extra.items() if v is not None})
    ok(client.post(f"/api/v1/tasks/{out['task']['id']}/draw/dispatch", headers=world.planner))
    session.expire_all()
    forms = [f for f in session.execute(select(InspectionForm)).scalars() if f.id not in forms_before]
    assert len(forms) == 3
    loads: dict = {}
    for form in forms:
        members = (
            session.execute(
                select(FormAssignment).where(FormAssignment.form_id == form.id, FormAssignment.active)
            )
            .scalars()
            .all()
        )
        for dept in (world.lead, world.partner):
            assert sum(m.department_id == dept.id for m in members) >= 2
        for m in members:
            insp = session.get(Inspector, m.inspector_id)
            assert insp.department_id == m.department_id
            assert insp.certificate_valid_on(pw.INSPECTION_DAY)
            assert any(pw.REGION.startswith(r[:6].rstrip("0")) for r in insp.region_codes)
            assert (
                session.execute(
                    select(ConflictOfInterest).where(
                        ConflictOfInterest.inspector_id == insp.id,
                        ConflictOfInterest.enterprise_id == form.enterprise_id,
                    )
                ).first()
                is None
            )
            if case == "pairing":
                assert insp.id not in (lead_inspectors[0].id, partner_inspectors[0].id)
            if case == "specialty" and insp.department_id == world.partner.id:
                assert "公共卫生" in insp.specialties
            loads[insp.id] = loads.get(insp.id, 0) + 1
    if case == "workload":
        for insp in lead_inspectors[:2]:
            assert insp.id not in loads  # already at the cap of 3 open forms
        assert max(loads.values()) <= 3


def factories_now():
    from backend.models.base import utcnow

    return utcnow()


# -------------------------------------------------------------------------------------------- dispatch


def test_deadline_start_counts_working_days_across_the_spring_festival(client, app, world, session):
    app.config["SHUANGSUI_TODAY"] = date(2026, 2, 13)  # Friday; 2-14 is a make-up Saturday, 2-15..2-23 off
    plan = pw.published_plan(client, world, window_start="2026-02-01")
    out_task = pw.task(client, world, plan, inspection_date="2026-02-24")
    ok(
        client.post(
            f"/api/v1/tasks/{out_task['id']}/notice",
            json={"entropy_sources": pw.ENTROPY},
            headers=world.planner,
        ),
        201,
    )
    pw.enter_entropy(client, world, out_task["id"])
    ok(client.post(f"/api/v1/tasks/{out_task['id']}/draw/perform", headers=world.planner))
    result = ok(client.post(f"/api/v1/tasks/{out_task['id']}/draw/dispatch", headers=world.planner))
    # 2-14 (make-up Sat) 1, 2-24 2, 2-25 3, 2-26 4, 2-27 5
    assert result["deadline_start"] == "2026-02-27"
    forms = (
        session.execute(select(InspectionForm).where(InspectionForm.task_id == uuid.UUID(out_task["id"])))
        .scalars()
        .all()
    )
    assert {f.deadline_start for f in forms} == {date(2026, 2, 27)}
    task = ok(client.get(f"/api/v1/tasks/{out_task['id']}", headers=world.planner))
    assert task["deadline_start"] == "2026-02-27"
    # Results: 20 工作日 after the 11-20 completion deadline, National Day long past.
    assert task["deadlines"]["results_by"] == "2026-12-18"


def test_dispatch_refused_when_the_inspection_date_is_beyond_five_working_days(client, app, world):
    out = pw.drawn_task(client, world, inspection_date="2026-03-20")
    body = ok(client.post(f"/api/v1/tasks/{out['task']['id']}/draw/dispatch", headers=world.planner), 409)
    assert "5 个工作日" in body["message"] and "2026-03-09" in body["message"]
    app.config["SHUANGSUI_TODAY"] = date(2026, 3, 16)
    ok(client.post(f"/api/v1/tasks/{out['task']['id']}/draw/dispatch", headers=world.planner))


def test_dispatch_in_a_year_the_calendar_does_not_cover_is_a_clear_error(client, app, world):
    out = pw.drawn_task(client, world)
    app.config["SHUANGSUI_TODAY"] = date(2026, 12, 28)  # 5 working days later is in 2027
    body = ok(client.post(f"/api/v1/tasks/{out['task']['id']}/draw/dispatch", headers=world.planner), 422)
    assert "2027" in body["message"]


# ------------------------------------------------------------------------------------ after dispatch


def _dispatched(client, world, session):
    out = pw.drawn_task(client, world)
    ok(client.post(f"/api/v1/tasks/{out['task']['id']}/draw/dispatch", headers=world.planner))
    forms = ok(client.get(f"/api/v1/tasks/{out['task']['id']}/forms", headers=world.planner))
    return out, forms


def test_replacing_an_inspector_needs_a_reason_satisfies_the_constraints_and_is_audited(
    client, app, world, session
):
    out, forms = _dispatched(client, world, session)
    form = forms[0]
    lead_team = [m for m in form["team"] if m["department_id"] == str(world.lead.id)]
    old = next(m for m in lead_team if m["is_lead"])
    on_form = {m["inspector_id"] for m in form["team"]}
    new = next(i for i in world.inspectors(world.lead) if str(i.id) not in on_form)
    url = f"/api/v1/tasks/{out['task']['id']}/forms/{form['id']}/replace-inspector"
    body = {"old_inspector_id": old["inspector_id"], "new_inspector_id": str(new.id), "reason": ""}
    ok(client.post(url, json=body, headers=world.planner), 422)
    # A candidate who must 回避 is refused with the reason.
    session.add(
        ConflictOfInterest(
            inspector_id=new.id, enterprise_id=uuid.UUID(form["enterprise_id"]), reason="relative"
        )
    )
    session.commit()
    refused = ok(client.post(url, json={**body, "reason": "原检查人员病假"}, headers=world.planner), 422)
    assert "需回避" in refused["message"]
    session.execute(ConflictOfInterest.__table__.delete())
    session.commit()
    # Someone from another department cannot stand in for this department's team.
    other = next(i for i in world.inspectors(world.partner) if str(i.id) not in on_form)
    wrong = ok(
        client.post(
            url, json={**body, "new_inspector_id": str(other.id), "reason": "病假"}, headers=world.planner
        ),
        422,
    )
    assert "部门" in wrong["message"]
    ok(
        client.post(
            url,
            json={**body, "reason": "原检查人员病假"},
            headers=factories.auth_headers(app, world.inspector_users["SCJG"][0]),
        ),
        403,
    )
    changed = ok(client.post(url, json={**body, "reason": "原检查人员病假"}, headers=world.planner))
    assert changed["version"] == form["version"] + 1
    team = {m["inspector_id"]: m for m in changed["team"]}
    assert team[old["inspector_id"]]["active"] is False
    assert team[old["inspector_id"]]["replaced_reason"] == "原检查人员病假"
    assert team[str(new.id)]["active"] is True and team[str(new.id)]["is_lead"] is True
    entry = _audit(session, "form.inspectors_adjusted")[-1]
    assert entry.data["label"] == "调整执法人员" and entry.data["reason"] == "原检查人员病假"
    # Visibility follows the team.
    old_user = next(u for u in world.inspector_users["SCJG"] if str(u.inspector_id) == old["inspector_id"])
    new_user = next(u for u in world.inspector_users["SCJG"] if u.inspector_id == new.id)
    assert form["id"] not in _pull(client, app, old_user)
    assert form["id"] in _pull(client, app, new_user)


def test_changing_content_after_dispatch_needs_a_reason_and_is_audited(client, world, session):
    out, forms = _dispatched(client, world, session)
    form = forms[0]
    url = f"/api/v1/tasks/{out['task']['id']}/forms/{form['id']}/adjust"
    key = form["checkpoints"][-1]["key"]
    ok(client.post(url, json={"reason": "", "remove_checkpoint_keys": [key]}, headers=world.planner), 422)
    ok(client.post(url, json={"reason": "x", "remove_checkpoint_keys": ["nope"]}, headers=world.planner), 422)
    changed = ok(
        client.post(
            url, json={"reason": "该企业无从业人员", "remove_checkpoint_keys": [key]}, headers=world.planner
        )
    )
    assert (
        key not in {cp["key"] for cp in changed["checkpoints"]} and changed["version"] == form["version"] + 1
    )
    restored = ok(
        client.post(url, json={"reason": "恢复", "restore_checkpoint_keys": [key]}, headers=world.planner)
    )
    assert [cp["key"] for cp in restored["checkpoints"]] == [cp["key"] for cp in form["checkpoints"]]
    assert len(_audit(session, "form.content_adjusted")) == 2


def test_task_forms_list_is_for_staff_of_the_departments(client, app, world, session):
    out, forms = _dispatched(client, world, session)
    url = f"/api/v1/tasks/{out['task']['id']}/forms"
    assert len(ok(client.get(url, headers=world.planner_partner))) == 3
    ok(client.get(url, headers=world.witness), 403)
    ok(client.get(url, headers=factories.auth_headers(app, world.inspector_users["SCJG"][0])), 403)
    ok(client.get(url, headers=_other_planner(client, session)), 404)


def _other_planner(client, session):
    user = factories.make_user(session, roles=["planner"])
    return factories.auth_headers(client.application, user)


def test_industry_strata_draw_dispatches_and_verifies(client, app, world, session, tmp_path):
    out = pw.drawn_task(client, world, strata_key="industry_code")
    record = json.loads(client.get(f"/api/v1/public/draws/{out['draw']['id']}/record.json").data)
    assert [s["stratum"] for s in record["selection"]["strata"]] == ["F5211", "H6210"]
    assert {t[1] for t in record["matching_input"]["targets"]} == {pw.REGION}
    ok(client.post(f"/api/v1/tasks/{out['task']['id']}/draw/dispatch", headers=world.planner))
    _download(client, "/api/v1/public/verify_draw.py", tmp_path / "verify_draw.py")
    _download(client, f"/api/v1/public/draws/{out['draw']['id']}/record.json", tmp_path / "record.json")
    _download(client, f"/api/v1/public/draws/{out['draw']['id']}/population.csv", tmp_path / "population.csv")
    run = _verify(tmp_path, "record.json", "population.csv")
    assert run.returncode == 0, run.stdout + run.stderr
