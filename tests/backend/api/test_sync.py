"""Field sync: pull deltas with cursors, idempotent push of every operation type, conflicts, submission."""

from __future__ import annotations

import base64
import io
import uuid

import pytest
from PIL import Image
from sqlalchemy import func, select

from backend.models import (
    AuditEntry,
    Evidence,
    FormAnswer,
    FormAssignment,
    FormCheckin,
    FormConfirmation,
    FormNote,
    FormSignature,
    InspectionForm,
    ReviewComment,
    SyncOperation,
)
from backend.services.audit import verify_chain
from tests import factories
from tests.backend.api.fieldwork_support import (
    NOW,
    declare,
    evidence_payload,
    jpeg_bytes,
    make_team,
    op,
    pull,
    push,
    upload_all,
)


@pytest.fixture
def team(app, session):
    return make_team(app, session)


def signature_png() -> str:
    out = io.BytesIO()
    Image.new("RGB", (120, 40), (255, 255, 255)).save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


def form_row(session, form_id) -> InspectionForm:
    return session.get(InspectionForm, form_id, populate_existing=True)


# -- pull ----------------------------------------------------------------------------------------


def test_full_pull_has_assigned_forms_with_everything_offline_needs(client, session, team, app):
    other = factories.make_form(session, inspectors=[factories.make_inspector(session)])
    body = pull(client, team.ha)
    ids = [f["id"] for f in body["forms"]]
    assert ids == [str(team.form.id)] and str(other.id) not in ids
    assert body["has_more"] is False and body["removed"] == []
    form = body["forms"][0]
    assert form["version"] == 1 and form["status"] == "dispatched"
    assert form["enterprise"]["name"] == "广元市测试食品有限公司" and form["enterprise"][
        "lat"
    ] == pytest.approx(32.4355)
    assert {m["name"] for m in form["team"]} == {"李检查", "王检查"}
    assert all(m["certificate_no"] for m in form["team"])
    assert [c["key"] for c in form["checkpoints"]] == ["cp1", "cp2", "cp3"]
    assert form["checkpoints"][0]["photo_required"] is True
    assert isinstance(form["working_days_left"], int) and form["working_days_left"] > 0
    assert form["answers"] == {} and form["evidence"] == [] and form["confirmations"] == []


def test_delta_pull_returns_only_what_changed_since_the_cursor(client, session, team, app):
    second = factories.make_form(session, inspectors=[team.a])
    first = pull(client, team.ha)
    assert {f["id"] for f in first["forms"]} == {str(team.form.id), str(second.id)}
    empty = pull(client, team.ha, first["cursor"])
    assert empty["forms"] == [] and empty["removed"] == []
    push(
        client,
        team.ha,
        [op("answer", team.form, {"checkpoint_key": "cp1", "value": "pass", "answered_at": NOW})],
    )
    delta = pull(client, team.ha, empty["cursor"])
    assert [f["id"] for f in delta["forms"]] == [str(team.form.id)]
    assert delta["forms"][0]["answers"]["cp1"]["value"] == "pass"
    assert pull(client, team.ha, delta["cursor"])["forms"] == []


def test_changes_made_by_other_services_reach_the_delta(client, session, team, app):
    """Any ORM write to a form, its team or its comments stamps the change counter (no cooperation needed)."""
    cursor = pull(client, team.ha)["cursor"]
    supervisor = factories.make_user(session, roles=["supervisor"], department=team.department)
    session.add(
        ReviewComment(
            form_id=team.form.id, checkpoint_key="cp1", comment="请补拍门头照片", author_id=supervisor.id
        )
    )
    session.commit()
    delta = pull(client, team.ha, cursor)
    assert [c["comment"] for c in delta["forms"][0]["review_comments"]] == ["请补拍门头照片"]


def test_pages_cover_every_form_once(client, session, team):
    for _ in range(4):
        factories.make_form(session, inspectors=[team.a])
    seen, cursor, pages = [], None, 0
    while True:
        body = pull(client, team.ha, cursor, limit=2)
        seen += [f["id"] for f in body["forms"]]
        cursor = body["cursor"]
        pages += 1
        if not body["has_more"]:
            break
    assert len(seen) == len(set(seen)) == 5 and pages == 3
    assert pull(client, team.ha, cursor)["forms"] == []


def test_reassigned_form_is_listed_as_removed(client, session, team):
    cursor = pull(client, team.hb)["cursor"]
    assignment = session.execute(
        select(FormAssignment).where(
            FormAssignment.form_id == team.form.id, FormAssignment.inspector_id == team.b.inspector_id
        )
    ).scalar_one()
    assignment.active = False
    assignment.replaced_reason = "回避"
    session.add(assignment)
    session.commit()
    delta = pull(client, team.hb, cursor)
    assert delta["forms"] == [] and delta["removed"] == [str(team.form.id)]
    assert str(team.form.id) not in [f["id"] for f in pull(client, team.hb)["forms"]]


def test_draft_forms_are_not_pulled_and_bad_cursor_is_422(client, session, team):
    factories.make_form(session, inspectors=[team.a], status="draft")
    assert len(pull(client, team.ha)["forms"]) == 1
    resp = client.get("/api/v1/sync/pull", query_string={"cursor": "not-a-cursor"}, headers=team.ha)
    assert resp.status_code == 422 and "cursor" in resp.get_json()["errors"]


def test_only_inspectors_sync(client, token_for):
    assert client.get("/api/v1/sync/pull", headers=token_for("supervisor")).status_code == 403
    assert client.get("/api/v1/sync/pull").status_code == 401
    resp = client.post(
        "/api/v1/sync/push", json={"device_id": "x", "operations": []}, headers=token_for("planner")
    )
    assert resp.status_code == 403


# -- push: apply, replay, conflicts --------------------------------------------------------------


def test_answer_applies_bumps_version_starts_inspection_and_is_audited(client, session, team):
    [r] = push(
        client, team.ha, [op("answer", team.form, {"checkpoint_key": "cp2", "value": 12, "answered_at": NOW})]
    )
    assert r["status"] == "applied" and r["code"] == 200 and r["form_version"] == 2
    form = form_row(session, team.form.id)
    assert form.version == 2 and form.status == "in_progress"
    answer = session.execute(select(FormAnswer).where(FormAnswer.form_id == form.id)).scalar_one()
    assert (
        answer.value == 12 and answer.inspector_id == team.a.inspector_id and answer.device_id == "device-a"
    )
    entry = session.execute(select(AuditEntry).where(AuditEntry.action == "form.answer")).scalar_one()
    assert entry.data["op_id"] == r["op_id"] and entry.entity_id == str(form.id)
    assert verify_chain(session=session).ok


def payload_for(kind: str, team, client) -> dict:
    return {
        "answer": {"checkpoint_key": "cp1", "value": "fail", "note": "未公示", "answered_at": NOW},
        "note": {"text": "企业负责人在场", "checkpoint_key": "cp1"},
        "checkin": {"at": NOW, "lat": 32.4356, "lng": 105.8433, "accuracy_m": 12.5},
        "signature": {
            "signer": "enterprise_rep",
            "name": "张三",
            "image_png_base64": signature_png(),
            "signed_at": NOW,
        },
        "evidence": evidence_payload(b"\xff\xd8\xff" + b"x" * 100, checkpoint_key="cp1"),
        "confirm": {},
        "propose_result": {"category": "发现问题已责令改正", "details": "已责令限期公示"},
    }[kind]


ROW_MODELS = {
    "answer": FormAnswer,
    "note": FormNote,
    "checkin": FormCheckin,
    "signature": FormSignature,
    "evidence": Evidence,
    "confirm": FormConfirmation,
}


@pytest.mark.parametrize(
    "kind", ["answer", "note", "checkin", "signature", "evidence", "confirm", "propose_result"]
)
def test_replaying_an_operation_returns_the_first_result_and_changes_nothing(client, session, team, kind):
    operation = op(kind, team.form, payload_for(kind, team, client), base=1)
    [first] = push(client, team.ha, [operation])
    assert first["status"] == "applied", first
    version = form_row(session, team.form.id).version
    audit_count = session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    [again] = push(client, team.ha, [operation])
    [third] = push(client, team.ha, [operation], device="device-a")
    assert again == third == {**first, "status": "duplicate"}
    assert form_row(session, team.form.id).version == version
    assert session.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == audit_count
    if kind in ROW_MODELS:
        model = ROW_MODELS[kind]
        assert session.execute(select(func.count()).select_from(model)).scalar_one() == 1
    assert session.execute(select(func.count()).select_from(SyncOperation)).scalar_one() == 1


def test_replaying_submit_returns_the_first_result(client, session, team):
    push(client, team.ha, [op("confirm", team.form, base=1)])
    push(client, team.hb, [op("confirm", team.form, base=2)], device="device-b")
    submit = op("submit", team.form, base=3)
    [first] = push(client, team.ha, [submit])
    assert first["status"] == "applied" and form_row(session, team.form.id).status == "submitted"
    [again] = push(client, team.ha, [submit])
    assert again == {**first, "status": "duplicate"}
    # a *new* submit (another op_id) of a submitted form is a conflict with the server copy
    [fresh] = push(client, team.ha, [op("submit", team.form, base=4)])
    assert fresh["status"] == "conflict" and fresh["server_copy"]["status"] == "submitted"


def test_same_op_id_with_a_different_payload_is_422(client, session, team):
    operation = op("answer", team.form, {"checkpoint_key": "cp1", "value": "pass", "answered_at": NOW})
    push(client, team.ha, [operation])
    changed = {**operation, "payload": {**operation["payload"], "value": "fail"}}
    [r] = push(client, team.ha, [changed])
    assert r["status"] == "rejected" and r["code"] == 422 and "op_id" in r["errors"]
    # and another user cannot reuse someone's op_id either
    [r2] = push(client, team.hb, [operation], device="device-b")
    assert r2["status"] == "rejected" and r2["code"] == 422
    assert session.get(FormAnswer, session.execute(select(FormAnswer.id)).scalar_one()).value == "pass"


def test_stale_write_to_the_same_field_is_409_with_server_copy(client, session, team):
    [a] = push(
        client,
        team.ha,
        [op("answer", team.form, {"checkpoint_key": "cp1", "value": "pass", "answered_at": NOW}, base=1)],
    )
    assert a["status"] == "applied"
    [b] = push(
        client,
        team.hb,
        [op("answer", team.form, {"checkpoint_key": "cp1", "value": "fail", "answered_at": NOW}, base=1)],
        device="device-b",
    )
    assert b["status"] == "conflict" and b["code"] == 409 and b["message"]
    assert b["server_copy"]["answers"]["cp1"]["value"] == "pass" and b["server_copy"]["version"] == 2
    # a different checkpoint does not conflict, even from the same stale base
    [c] = push(
        client,
        team.hb,
        [op("answer", team.form, {"checkpoint_key": "cp2", "value": 3, "answered_at": NOW}, base=1)],
        device="device-b",
    )
    assert c["status"] == "applied"
    # after looking at the server copy, B writes with the current base and wins
    [d] = push(
        client,
        team.hb,
        [op("answer", team.form, {"checkpoint_key": "cp1", "value": "fail", "answered_at": NOW}, base=3)],
        device="device-b",
    )
    assert d["status"] == "applied"
    assert (
        session.execute(select(FormAnswer.value).where(FormAnswer.checkpoint_key == "cp1")).scalar_one()
        == "fail"
    )


def test_a_device_never_conflicts_with_its_own_queued_edits(client, session, team):
    ops = [
        op("answer", team.form, {"checkpoint_key": "cp1", "value": "pass", "answered_at": NOW}, base=1),
        op("note", team.form, {"checkpoint_key": "cp1", "text": "门头照片已拍"}, base=1),
        op("answer", team.form, {"checkpoint_key": "cp1", "value": "fail", "answered_at": NOW}, base=1),
        op("confirm", team.form, base=1),
    ]
    results = push(client, team.ha, ops)
    assert [r["status"] for r in results] == ["applied"] * 4
    assert [r["form_version"] for r in results] == [2, 3, 4, 5]


def test_other_inspectors_form_is_404_without_leaking_existence(client, session, team):
    outsider = factories.make_user(session, roles=["inspector"])
    headers = factories.auth_headers(client.application, outsider)
    payload = {"checkpoint_key": "cp1", "value": "pass", "answered_at": NOW}
    [hidden] = push(client, headers, [op("answer", team.form, payload)], device="x")
    [missing] = push(client, headers, [op("answer", uuid.uuid4(), payload)], device="x")
    assert hidden["code"] == missing["code"] == 404
    assert hidden["message"] == missing["message"]
    assert "server_copy" not in hidden and hidden["form_version"] is None
    assert session.execute(select(func.count()).select_from(FormAnswer)).scalar_one() == 0
    assert pull(client, headers)["forms"] == []


def test_inspector_comes_from_the_token_never_from_the_body(client, session, team):
    payload = {**evidence_payload(b"abc"), "inspector_id": str(team.b.inspector_id)}
    [r] = push(client, team.ha, [op("evidence", team.form, payload)])
    assert r["status"] == "rejected" and r["code"] == 422 and "inspector_id" in r["errors"]["payload"]
    ok = evidence_payload(b"abc")
    push(client, team.ha, [op("evidence", team.form, ok)])
    assert session.get(Evidence, uuid.UUID(ok["evidence_id"])).inspector_id == team.a.inspector_id


def test_invalid_payloads_are_rejected_per_operation(client, session, team):
    results = push(
        client,
        team.ha,
        [
            op("answer", team.form, {"checkpoint_key": "nope", "value": "pass", "answered_at": NOW}),
            op("answer", team.form, {"checkpoint_key": "cp1", "value": "maybe", "answered_at": NOW}),
            op("answer", team.form, {"checkpoint_key": "cp3", "value": "不在选项里", "answered_at": NOW}),
            op("checkin", team.form, {"at": NOW}),
            op("answer", team.form, {"checkpoint_key": "cp2", "value": 7, "answered_at": NOW}),
        ],
    )
    assert [r["status"] for r in results] == ["rejected"] * 4 + ["applied"]
    assert all(r["code"] == 422 for r in results[:4])
    assert "no_fix_reason" in results[3]["errors"]["payload"]


def test_checkin_without_fix_needs_a_reason(client, session, team):
    [r] = push(client, team.ha, [op("checkin", team.form, {"at": NOW, "no_fix_reason": "室内无信号"})])
    assert r["status"] == "applied"
    form = pull(client, team.ha)["forms"][0]
    assert form["checkin"]["no_fix_reason"] == "室内无信号" and form["checkin"]["lat"] is None


def test_signature_image_is_stored_content_addressed(client, session, team, app):
    from storage import evidence_key

    payload = payload_for("signature", team, client)
    [r] = push(client, team.ha, [op("signature", team.form, payload)])
    sig = session.execute(select(FormSignature)).scalar_one()
    raw = base64.b64decode(payload["image_png_base64"])
    assert sig.object_key == evidence_key(sig.sha256) and r["signature"]["sha256"] == sig.sha256
    with app.extensions["shuangsui.store"].get(sig.object_key) as reader:
        assert reader.read() == raw
    [bad] = push(
        client, team.ha, [op("signature", team.form, {**payload, "image_png_base64": "bm90IGEgcG5n"})]
    )
    assert bad["code"] == 422


# -- evidence records ----------------------------------------------------------------------------


def test_duplicate_evidence_records_collapse_to_one(client, session, team):
    payload = evidence_payload(b"photo-bytes")
    [first] = push(client, team.ha, [op("evidence", team.form, payload)])
    [second] = push(client, team.ha, [op("evidence", team.form, payload, base=2)])  # new op_id, lost answer
    assert first["status"] == "applied" and second["status"] == "duplicate"
    assert second["evidence"] == {"id": payload["evidence_id"], "status": "declared"}
    assert session.execute(select(func.count()).select_from(Evidence)).scalar_one() == 1
    assert form_row(session, team.form.id).version == 2
    [clash] = push(client, team.ha, [op("evidence", team.form, {**payload, "sha256": "0" * 64}, base=2)])
    assert clash["status"] == "rejected" and clash["code"] == 422 and "evidence_id" in clash["errors"]


def test_two_identical_files_in_one_form_are_two_records(client, session, team):
    data = jpeg_bytes(seed=3)
    one = declare(client, team.ha, team.form, data)
    two = declare(client, team.ha, team.form, data, checkpoint_key="cp2")
    assert one["evidence_id"] != two["evidence_id"]
    rows = session.execute(select(Evidence).where(Evidence.form_id == team.form.id)).scalars().all()
    assert len(rows) == 2 and {r.sha256 for r in rows} == {one["sha256"]}


def test_empty_and_oversized_evidence_are_refused_at_declaration(client, session, team, app):
    [empty] = push(client, team.ha, [op("evidence", team.form, evidence_payload(b""))])
    assert empty["status"] == "rejected" and empty["code"] == 422
    limit = app.config["SETTINGS"].upload_limits_mb["video"] * 1024 * 1024
    big = evidence_payload(b"x", kind="video", size=limit + 1, mime="video/mp4", filename="VID.mp4")
    [too_big] = push(client, team.ha, [op("evidence", team.form, big)])
    assert too_big["status"] == "rejected" and too_big["code"] == 413
    assert session.execute(select(func.count()).select_from(Evidence)).scalar_one() == 0


def test_per_user_quota(client, session, app):
    app.config["SETTINGS"].user_quota_mb = 1
    team = make_team(app, session)
    ok = evidence_payload(b"x", size=600 * 1024)
    over = evidence_payload(b"y", size=600 * 1024)
    [r1] = push(client, team.ha, [op("evidence", team.form, ok)])
    [r2] = push(client, team.ha, [op("evidence", team.form, over, base=2)])
    assert r1["status"] == "applied" and r2["code"] == 413 and "配额" in r2["message"]


# -- confirmations and submission ----------------------------------------------------------------


def test_submit_waits_for_every_evidence_file_and_two_confirmations(client, session, team):
    data = jpeg_bytes(seed=5)
    ev = declare(client, team.ha, team.form, data)  # v2
    [r] = push(client, team.ha, [op("submit", team.form, base=2)])
    assert r["status"] == "rejected" and r["code"] == 422
    assert r["errors"]["evidence"] == [ev["evidence_id"]] and "confirmations" in r["errors"]

    _location, resp = upload_all(client, team.ha, ev["evidence_id"], data)
    assert resp.status_code == 204  # evidence received, v3
    push(client, team.ha, [op("confirm", team.form, base=3)])  # v4
    [r] = push(client, team.ha, [op("submit", team.form, base=4)])
    assert r["status"] == "rejected" and list(r["errors"]) == ["confirmations"]

    push(client, team.hb, [op("confirm", team.form, base=4)], device="device-b")  # v5
    submit = op("submit", team.form, base=5)
    [r] = push(client, team.ha, [submit])
    assert r["status"] == "applied" and r["form_version"] == 6
    form = form_row(session, team.form.id)
    assert form.status == "submitted" and form.submitted_at is not None
    [late] = push(
        client,
        team.hb,
        [op("answer", team.form, {"checkpoint_key": "cp1", "value": "pass", "answered_at": NOW}, base=6)],
        device="device-b",
    )
    assert late["status"] == "conflict" and late["server_copy"]["status"] == "submitted"


def test_a_content_change_makes_earlier_confirmations_stale(client, session, team):
    push(client, team.ha, [op("confirm", team.form, base=1)])  # v2
    push(client, team.hb, [op("confirm", team.form, base=2)], device="device-b")  # v3
    assert len(pull(client, team.ha)["forms"][0]["confirmations"]) == 2
    push(
        client,
        team.hb,
        [op("answer", team.form, {"checkpoint_key": "cp1", "value": "fail", "answered_at": NOW}, base=3)],
        device="device-b",
    )  # v4
    assert pull(client, team.ha)["forms"][0]["confirmations"] == []
    # A confirms from the stale base: the content changed under A, so A must look first
    [stale] = push(client, team.ha, [op("confirm", team.form, base=3)])
    assert stale["status"] == "conflict" and stale["server_copy"]["answers"]["cp1"]["value"] == "fail"
    [r] = push(client, team.ha, [op("submit", team.form, base=4)])
    assert r["code"] == 422


def test_returned_form_can_be_edited_and_resubmitted(client, session, team):
    push(client, team.ha, [op("confirm", team.form, base=1)])
    push(client, team.hb, [op("confirm", team.form, base=2)], device="device-b")
    push(client, team.ha, [op("submit", team.form, base=3)])
    cursor = pull(client, team.ha)["cursor"]
    supervisor = factories.make_user(session, roles=["supervisor"], department=team.department)
    form = form_row(session, team.form.id)
    form.status = "returned"
    form.version += 1
    session.add(form)
    session.add(
        ReviewComment(form_id=form.id, checkpoint_key="cp2", comment="人数填写有误", author_id=supervisor.id)
    )
    session.commit()
    delta = pull(client, team.ha, cursor)["forms"][0]
    assert delta["status"] == "returned" and delta["review_comments"][0]["comment"] == "人数填写有误"
    v = delta["version"]
    results = push(
        client,
        team.ha,
        [
            op("answer", team.form, {"checkpoint_key": "cp2", "value": 25, "answered_at": NOW}, base=v),
            op("confirm", team.form, base=v),
        ],
    )
    assert [r["status"] for r in results] == ["applied", "applied"]
    assert form_row(session, team.form.id).status == "returned"
    push(client, team.hb, [op("confirm", team.form, base=v + 2)], device="device-b")
    [r] = push(client, team.ha, [op("submit", team.form, base=v + 3)])
    assert r["status"] == "applied" and form_row(session, team.form.id).status == "submitted"


def test_propose_result_reaches_the_pull(client, session, team):
    push(client, team.ha, [op("propose_result", team.form, {"category": "未发现问题"})])
    form = pull(client, team.ha)["forms"][0]
    assert form["proposed_result"] == "未发现问题"


def test_every_accepted_operation_is_in_the_audit_chain(client, session, team):
    kinds = ["answer", "note", "checkin", "signature", "evidence", "confirm", "propose_result"]
    results = push(client, team.ha, [op(k, team.form, payload_for(k, team, client)) for k in kinds])
    assert all(r["status"] == "applied" for r in results), results
    logged = {e.data.get("op_id") for e in session.execute(select(AuditEntry)).scalars()}
    assert {r["op_id"] for r in results} <= logged
    assert verify_chain(session=session).ok


def test_push_envelope_is_validated(client, team):
    resp = client.post("/api/v1/sync/push", json={"operations": [{"type": "answer"}]}, headers=team.ha)
    assert resp.status_code == 422
    body = resp.get_json()
    assert set(body) >= {"code", "status", "message", "errors"} and "device_id" in body["errors"]["json"]


def test_openapi_documents_the_sync_contract(client):
    spec = client.get("/api/openapi.json").get_json()
    assert "/api/v1/sync/pull" in spec["paths"] and "/api/v1/sync/push" in spec["paths"]
    for name in ("AnswerPayload", "EvidencePayload", "SignaturePayload", "FieldForm", "PushRequest"):
        assert name in spec["components"]["schemas"], name
