"""Supervisor review: queue order and scope, the review detail, and the state machine including
return → revise on the device (sync push) → resubmit → approve."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from backend.models import AuditEntry, InspectionForm, ReviewComment
from backend.services.audit import verify_chain
from tests import factories
from tests.backend.api.fieldwork_support import NOW, op, pull, push
from tests.backend.api.results_support import confirm_and_submit, fill_and_submit, form_on_device


def form_row(session, form_id) -> InspectionForm:
    return session.get(InspectionForm, form_id, populate_existing=True)


@pytest.fixture
def submitted(app, session, client):
    return fill_and_submit(app, session, client, note="企业负责人：王小明，电话 13812345678")


@pytest.fixture
def sup(app, session, submitted):
    return factories.auth_headers(
        app,
        factories.make_user(
            session, roles=["supervisor"], department=submitted.team.department, display_name="周审核"
        ),
    )


# ------------------------------------------------------------------------------------------------ queue


def test_queue_is_the_own_department_oldest_first_with_deadlines(app, client, session, token_for):
    dept = factories.make_department(session)
    other = factories.make_department(session)
    day = datetime(2026, 9, 25, 2, 0, tzinfo=UTC)  # 10:00 in China
    newest = factories.make_submitted_form(session, department=dept, submitted_at=day + timedelta(days=3))
    oldest = factories.make_submitted_form(session, department=dept, submitted_at=day)
    middle = factories.make_submitted_form(session, department=dept, submitted_at=day + timedelta(days=1))
    elsewhere = factories.make_submitted_form(session, department=other, submitted_at=day)
    factories.make_form(session, department=dept, status="in_progress")

    resp = client.get("/api/v1/review/queue", headers=token_for("supervisor", department=dept))
    assert resp.status_code == 200, resp.get_json()
    rows = resp.get_json()
    assert [r["code"] for r in rows] == [oldest.code, middle.code, newest.code]
    assert resp.headers["X-Pagination"]
    first = rows[0]
    # 2026-09-25 + 20 工作日 over National Day (10-01..10-07 off, 10-10 a make-up Saturday) = 2026-10-29
    assert first["entry_deadline"] == "2026-10-29"
    assert first["overdue"] is True and first["proposed_result"]["code"] == "no_problem"
    assert first["submission_round"] == 0  # made directly, not through sync
    other_rows = client.get(
        "/api/v1/review/queue", headers=token_for("supervisor", department=other)
    ).get_json()
    assert [r["code"] for r in other_rows] == [elsewhere.code]
    # an admin sees every department's queue, or one department's on request
    admin = token_for("admin")
    assert {r["code"] for r in client.get("/api/v1/review/queue", headers=admin).get_json()} >= {
        oldest.code,
        elsewhere.code,
    }
    only = client.get("/api/v1/review/queue", query_string={"department_id": str(other.id)}, headers=admin)
    assert [r["code"] for r in only.get_json()] == [elsewhere.code]


def test_queue_refuses_roles_without_review_duties(client, session, token_for):
    for role in ("inspector", "witness"):
        assert client.get("/api/v1/review/queue", headers=token_for(role)).status_code == 403
    assert client.get("/api/v1/review/queue").status_code == 401


# ----------------------------------------------------------------------------------------------- detail


def test_detail_shows_answers_checkin_signatures_evidence_provenance_and_timeline(client, submitted, sup):
    team = submitted.team
    resp = client.get(f"/api/v1/review/forms/{team.form.id}", headers=sup)
    assert resp.status_code == 200, resp.get_json()
    d = resp.get_json()
    assert d["form"]["status"] == "submitted" and d["form"]["submission_round"] == 1
    assert d["form"]["entry_deadline"] and d["form"]["first_submitted_at"]
    assert (
        d["enterprise"]["name"] == "广元市测试食品有限公司"
        and d["enterprise"]["legal_representative"] == "张三"
    )
    cps = {c["key"]: c for c in d["checkpoints"]}
    assert cps["cp1"]["answer"]["value"] == "pass" and cps["cp1"]["answer"]["inspector_name"] == "李检查"
    assert cps["cp1"]["answer"]["device_id"] == "device-a" and cps["cp1"]["evidence_ids"] == [
        submitted.photo["evidence_id"]
    ]
    assert cps["cp2"]["answer"]["value"] == 12 and not cps["cp1"]["missing_photo"]
    assert d["checkins"][0]["distance_to_enterprise_m"] < 100
    signers = {s["signer"]: s for s in d["signatures"]}
    assert signers["enterprise_rep"]["name"] == "赵企代" and signers["inspector"]["name"] == "李检查"
    [ev] = d["evidence"]
    prov = ev["provenance"]
    assert ev["status"] == "received" and prov["hash_verified"] is True
    assert prov["device_id"] == "device-a" and prov["inspector_name"] == "李检查" and prov["certificate_no"]
    assert (
        prov["captured_at_device"] and prov["received_at_server"] and prov["distance_to_enterprise_m"] < 200
    )
    assert ev["links"]["thumbnail"].endswith("/thumbnail") and ev["links"]["content"].endswith("/content")
    assert d["proposed_result"]["category"]["code"] == "no_problem"
    assert d["proposed_result"]["details"] == "经现场检查，未发现问题"
    assert [t["confirmed"] for t in d["team"]] == [True, True]
    assert d["actions"] == {
        "approve": True,
        "return": True,
        "request_evidence": True,
        "comment": True,
        "download_originals": True,
    }
    actions = [a["action"] for a in d["audit"]]
    assert {
        "form.answer",
        "form.checkin",
        "form.signature",
        "evidence.declared",
        "evidence.received",
        "form.confirm",
        "form.submit",
    } <= set(actions)
    assert [a["seq"] for a in d["audit"]] == sorted(a["seq"] for a in d["audit"])
    assert d["notes"][0]["text"].startswith("企业负责人")
    # the signature image is served to reviewers
    img = client.get(signers["enterprise_rep"]["image_url"], headers=sup)
    assert img.status_code == 200 and img.data.startswith(b"\x89PNG")


def test_detail_scope_other_department_404_participating_department_reads(
    client, session, submitted, token_for
):
    team = submitted.team
    url = f"/api/v1/review/forms/{team.form.id}"
    assert client.get(url, headers=token_for("supervisor")).status_code == 404  # another department
    partner = factories.make_department(session)
    form = form_row(session, team.form.id)
    form.department_ids = [str(team.department.id), str(partner.id)]
    session.add(form)
    session.commit()
    partner_sup = token_for("supervisor", department=partner)
    d = client.get(url, headers=partner_sup).get_json()
    assert d["actions"]["approve"] is False and d["actions"]["download_originals"] is True
    # a participating department reads but does not decide: the lead department enters results
    resp = client.post(f"{url}/approve", json={"category": "no_problem"}, headers=partner_sup)
    assert resp.status_code == 403
    assert client.get(url, headers=token_for("approver", department=team.department)).status_code == 200
    assert client.get(url, headers=token_for("inspector", department=team.department)).status_code == 403


# ------------------------------------------------------------------------------------------ state machine


def test_return_revise_on_device_resubmit_approve(client, session, submitted, sup):
    team = submitted.team
    url = f"/api/v1/review/forms/{team.form.id}"
    cursor = pull(client, team.ha)["cursor"]
    version = client.get(url, headers=sup).get_json()["form"]["version"]
    resp = client.post(
        f"{url}/return",
        headers=sup,
        json={
            "version": version,
            "comments": [
                {"checkpoint_key": "cp2", "comment": "从业人员数量与社保记录不一致，请核实"},
                {"comment": "请补充企业代表身份核验情况"},
            ],
        },
    )
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {"id": str(team.form.id), "status": "returned", "version": version + 1}
    assert client.get("/api/v1/review/queue", headers=sup).get_json() == []

    # the comments reach the inspector's phone on the next pull, with the new version
    delta = pull(client, team.ha, cursor)
    [device_form] = [f for f in delta["forms"] if f["id"] == str(team.form.id)]
    assert device_form["status"] == "returned" and device_form["version"] == version + 1
    comments = {c["checkpoint_key"]: c for c in device_form["review_comments"]}
    assert comments["cp2"]["comment"].startswith("从业人员数量") and comments["cp2"]["kind"] == "revise"
    assert comments["cp2"]["by"] == "周审核" and not comments["cp2"]["resolved"]

    # the inspector revises on the device and resubmits
    v = device_form["version"]
    [r] = push(
        client,
        team.ha,
        [
            op(
                "answer",
                team.form,
                {"checkpoint_key": "cp2", "value": 25, "note": "已核对社保记录", "answered_at": NOW},
                base=v,
            )
        ],
    )
    assert r["status"] == "applied", r
    confirm_and_submit(client, team)
    [queued] = client.get("/api/v1/review/queue", headers=sup).get_json()
    assert (
        queued["id"] == str(team.form.id) and queued["submission_round"] == 2 and queued["open_comments"] == 2
    )

    d = client.get(url, headers=sup).get_json()
    cp2 = next(c for c in d["checkpoints"] if c["key"] == "cp2")
    assert cp2["answer"]["value"] == 25 and cp2["comments"][0]["resolved_at"] is None
    first_deadline = d["form"]["entry_deadline"]
    resp = client.post(
        f"{url}/approve", headers=sup, json={"version": d["form"]["version"], "comment": "复核无误"}
    )
    assert resp.status_code == 201, resp.get_json()
    result = resp.get_json()
    assert result["category"] == {"code": "no_problem", "label": "未发现问题", "problem": False}
    assert result["entry_deadline"] == first_deadline  # a return never moves the clock
    assert result["publication_status"] == "pending" and result["items"]

    row = form_row(session, team.form.id)
    assert row.status == "approved" and row.completed_at is not None
    comments = session.execute(select(ReviewComment).where(ReviewComment.form_id == row.id)).scalars().all()
    assert all(c.resolved_at is not None for c in comments if c.kind != "note")
    # approved forms leave the device
    assert str(team.form.id) in pull(client, team.ha, cursor)["removed"]
    actions = list(
        session.execute(
            select(AuditEntry.action)
            .where(AuditEntry.entity_id == str(team.form.id))
            .order_by(AuditEntry.seq)
        ).scalars()
    )
    assert (
        actions.count("form.submit") == 2 and "review.return" in actions and actions[-1] == "review.approve"
    )
    assert verify_chain(session=session).ok


def test_request_more_evidence_reaches_device_and_resubmission(client, session, submitted, sup):
    team = submitted.team
    url = f"/api/v1/review/forms/{team.form.id}"
    resp = client.post(
        f"{url}/request-evidence",
        headers=sup,
        json={"comments": [{"checkpoint_key": "cp3", "comment": "请补拍经营场所门头照片"}]},
    )
    assert resp.status_code == 200 and resp.get_json()["status"] == "returned"
    device_form = form_on_device(client, team)
    assert device_form["review_comments"][0]["kind"] == "more_evidence"
    confirm_and_submit(client, team)
    assert form_row(session, team.form.id).status == "submitted"


def test_state_machine_refuses_out_of_order_actions(client, session, submitted, sup):
    team = submitted.team
    url = f"/api/v1/review/forms/{team.form.id}"
    version = client.get(url, headers=sup).get_json()["form"]["version"]
    stale = client.post(f"{url}/approve", headers=sup, json={"version": version - 1})
    assert stale.status_code == 409 and stale.get_json()["current_version"] == version
    assert client.post(f"{url}/return", headers=sup, json={"comments": []}).status_code == 422
    bad_cp = client.post(
        f"{url}/return", headers=sup, json={"comments": [{"checkpoint_key": "nope", "comment": "x"}]}
    )
    assert bad_cp.status_code == 422
    assert (
        client.post(f"{url}/return", headers=sup, json={"comments": [{"comment": "请修改"}]}).status_code
        == 200
    )
    # returned: neither approve nor return again until the inspector resubmits
    resp = client.post(f"{url}/approve", headers=sup, json={})
    assert resp.status_code == 409 and "退回修改" in resp.get_json()["message"]
    assert (
        client.post(f"{url}/return", headers=sup, json={"comments": [{"comment": "再改"}]}).status_code == 409
    )
    # a note needs no state change
    note = client.post(f"{url}/comments", headers=sup, json={"comment": "已电话提醒检查人员"})
    assert note.status_code == 201 and note.get_json()["kind"] == "note"
    confirm_and_submit(client, team)
    assert client.post(f"{url}/approve", headers=sup, json={}).status_code == 201
    again = client.post(f"{url}/approve", headers=sup, json={})
    assert again.status_code == 409
    assert client.post(f"{url}/return", headers=sup, json={"comments": [{"comment": "x"}]}).status_code == 409
    # a dispatched form (never submitted) cannot be approved either
    fresh = factories.make_form(session, department=team.department)
    assert client.post(f"/api/v1/review/forms/{fresh.id}/approve", headers=sup, json={}).status_code == 409


def test_approve_validates_the_result(client, session, app, token_for):
    form = factories.make_submitted_form(session, proposed="随便写的类别")
    sup = token_for("supervisor", department=session.get(factories.Department, form.lead_department_id))
    url = f"/api/v1/review/forms/{form.id}/approve"
    resp = client.post(url, headers=sup, json={})
    assert resp.status_code == 422 and "标准类别" in resp.get_json()["message"]
    pending = client.post(url, headers=sup, json={"category": "problem_pending"})
    assert pending.status_code == 422 and "follow_ups" in pending.get_json()["errors"]
    no_deadline = client.post(
        url, headers=sup, json={"category": "发现问题已责令改正", "follow_ups": [{"kind": "rectification"}]}
    )
    assert no_deadline.status_code == 422 and "follow_ups.0.deadline" in no_deadline.get_json()["errors"]
    ok = client.post(
        url,
        headers=sup,
        json={
            "category": "发现问题待后续处理",
            "details": "经营场所未公示营业执照",
            "follow_ups": [
                {
                    "kind": "rectification",
                    "deadline": (date.today() + timedelta(days=15)).isoformat(),
                    "description": "责令十五日内改正",
                }
            ],
        },
    )
    assert ok.status_code == 201, ok.get_json()
    body = ok.get_json()
    assert body["category"]["code"] == "problem_pending" and body["follow_ups"][0]["status"] == "open"


@pytest.mark.parametrize("role", ["admin", "planner", "approver"])
def test_only_the_lead_departments_supervisor_acts(client, session, submitted, token_for, role):
    team = submitted.team
    headers = token_for(role, department=None if role == "admin" else team.department)
    url = f"/api/v1/review/forms/{team.form.id}"
    assert client.get(url, headers=headers).status_code == 200
    assert client.post(f"{url}/approve", headers=headers, json={}).status_code == 403
    assert (
        client.post(f"{url}/return", headers=headers, json={"comments": [{"comment": "x"}]}).status_code
        == 403
    )


def test_openapi_documents_the_review_console(client):
    spec = client.get("/api/openapi.json").get_json()
    for path in (
        "/api/v1/review/queue",
        "/api/v1/review/forms/{form_id}",
        "/api/v1/review/forms/{form_id}/approve",
        "/api/v1/review/forms/{form_id}/return",
        "/api/v1/review/forms/{form_id}/request-evidence",
    ):
        assert path in spec["paths"], path
    detail = spec["components"]["schemas"]["ReviewDetail"]
    assert {"checkpoints", "evidence", "audit", "actions", "warnings"} <= set(detail["properties"])
