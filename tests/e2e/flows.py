"""The inspection both browser tests perform: what the inspector enters and what the server must then hold."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import expect

from tests.e2e.app import InspectorApp
from tests.e2e.checks import Api, ServerState, load_state
from tests.e2e.conftest import Inspection
from tests.e2e.media import MediaFile

FIX = {"latitude": 32.43571, "longitude": 105.84362, "accuracy": 12}
ANSWERS: list[tuple[str, str, Any]] = [  # (key, answer kind, what the inspector picks)
    ("cp1", "pass_fail", "pass"),
    ("cp2", "number", 12),
    ("cp3", "choice", 0),
    ("cp4", "text", "现场核查营业执照、公示信息与实际经营一致，企业负责人在场。"),
    ("cp5", "pass_fail", "fail"),
]
EXPECTED_VALUES = {"cp1": "pass", "cp2": 12, "cp3": "与登记一致", "cp4": ANSWERS[3][2], "cp5": "fail"}
NOTES = {"cp1": "年报已于 6 月 30 日前公示", "cp5": "冷藏柜温度 8℃，超出 0–5℃ 要求"}
RESULT_INDEX = 4
RESULT_CATEGORY = "发现问题已责令改正"
RESULT_DETAILS = "责令当场调整冷藏温度，三日内复查"
# Photos: three on cp1 (picked together), two on cp5 (one at a time); the video belongs to the whole form.
PHOTO_PLAN = (("cp1", slice(0, 3)), ("cp5", slice(3, 4)), ("cp5", slice(4, 5)))
EVIDENCE_KEYS = ["", "cp1", "cp1", "cp1", "cp5", "cp5"]


def wait_until(predicate: Any, what: str, timeout: float = 90.0, interval: float = 0.5) -> Any:
    """Poll until predicate() is truthy (the sync runs in the browser, on its own schedule)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def sign_in_and_download(app: InspectorApp, inspection: Inspection) -> None:
    app.open("/app/")
    expect(app.tid("login-username")).to_be_visible()
    app.sign_in(inspection.lead.username, inspection.password)
    app.wait_offline_ready(inspection.form_id)
    app.wait_for_service_worker()


def fill_whole_form(app: InspectorApp, ctx: Any, origin: str, inspection: Inspection,
                    photos: list[MediaFile], video: MediaFile) -> dict[str, Any]:
    """Everything an inspection needs, entered on the phone; returns the evidence ids and signer names."""
    app.open_form(inspection.form_id)
    ctx.grant_permissions(["geolocation"], origin=origin)
    ctx.set_geolocation(FIX)
    app.check_in()
    expect(app.tid("checkin-status")).to_contain_text("32.43571")
    for key, kind, value in ANSWERS:
        app.answer(key, kind, value)
    for key, text in NOTES.items():
        app.note(key, text)
    for key, which in PHOTO_PLAN:
        app.add_photos(key, photos[which])
    app.add_video_via_chooser(video)
    inspector_name = app.sign("sign-inspector-button")
    rep_name = app.sign("sign-enterprise-button", strokes=2, wobble=0.12)
    expect(app.tid(f"signature-inspector-{inspector_name}")).to_be_visible()
    expect(app.tid("signature-enterprise")).to_be_visible()
    app.propose_result(RESULT_INDEX, RESULT_DETAILS)
    app.confirm_content()
    evidence_ids = app.evidence_ids()
    assert len(evidence_ids) == len(photos) + 1
    app.page.wait_for_timeout(800)  # debounced note/details saves land
    return {"evidence_ids": evidence_ids, "inspector_name": inspector_name, "rep_name": rep_name}


def expect_draft_on_screen(app: InspectorApp, entered: dict[str, Any], inspector_name: str) -> None:
    """After a reload: answers, notes, check-in, files, signatures, result and confirmation are all there."""
    expect(app.tid("form-status")).to_be_visible()
    for key, kind, value in ANSWERS:
        if kind == "pass_fail":
            expect(app.tid(f"answer-{key}-{value}")).to_have_attribute("aria-pressed", "true")
        elif kind == "choice":
            expect(app.tid(f"answer-{key}-opt-{value}")).to_have_attribute("aria-pressed", "true")
        else:
            expect(app.tid(f"answer-{key}-input")).to_have_value(str(value))
    for key, text in NOTES.items():
        expect(app.tid(f"note-{key}")).to_have_value(text)
    expect(app.tid("checkin-status")).to_contain_text("32.43571")
    expect(app.page.locator('[data-testid^="evidence-state-"]')).to_have_count(len(entered["evidence_ids"]))
    assert sorted(app.evidence_ids()) == sorted(entered["evidence_ids"])
    expect(app.tid(f"signature-inspector-{inspector_name}")).to_be_visible()
    expect(app.tid("signature-enterprise")).to_be_visible()
    expect(app.tid(f"result-option-{RESULT_INDEX}")).to_have_attribute("aria-checked", "true")
    expect(app.tid("confirm-button")).to_contain_text("本人已确认")


def all_received(engine: Any, form_id: str, count: int) -> bool:
    s = load_state(engine, form_id)
    return len(s.evidence) == count and all(e.status == "received" for e in s.evidence)


def partner_confirms_and_lead_submits(
    app: InspectorApp, api: Api, inspection: Inspection, engine: Any
) -> str:
    """The co-inspector confirms from his own device (API push); the lead sees it after a sync and submits."""
    partner = api.login(inspection.partner.username, inspection.password)
    result = api.confirm(inspection.form_id)
    assert result["status"] == "applied", result
    app.go_tab("sync")
    app.sync_now()
    app.go_tab("tasks")
    app.open_form(inspection.form_id)
    expect(app.tid(f"team-{partner['inspector_id']}")).to_contain_text("已确认")
    expect(app.tid(f"team-{inspection.lead.inspector_id}")).to_contain_text("已确认")
    app.submit()
    wait_until(lambda: load_state(engine, inspection.form_id).form.status == "submitted", "form submitted")
    expect(app.tid("outbox-count")).to_have_text("0", timeout=60_000)
    expect(app.tid("form-status")).to_have_text("已提交", timeout=60_000)
    return str(partner["inspector_id"])


def assert_form_content(
    state: ServerState, inspection: Inspection, entered: dict[str, Any], partner_id: str
) -> None:
    lead = inspection.lead
    assert {a.checkpoint_key: a.value for a in state.answers} == EXPECTED_VALUES
    assert all(str(a.inspector_id) == str(lead.inspector_id) for a in state.answers)
    assert {n.checkpoint_key: n.text for n in state.notes} == NOTES
    [checkin] = state.checkins
    assert (round(checkin.lat, 5), round(checkin.lng, 5), checkin.accuracy_m) == (32.43571, 105.84362, 12)
    signers = sorted((s.signer, s.name) for s in state.signatures)
    assert signers == [("enterprise_rep", entered["rep_name"]), ("inspector", lead.display_name)]
    assert len({s.sha256 for s in state.signatures}) == 2
    assert state.form.proposed_result["category"] == RESULT_CATEGORY
    assert state.form.proposed_result["details"] == RESULT_DETAILS
    assert {str(c.inspector_id) for c in state.confirmations} == {str(lead.inspector_id), partner_id}
    assert state.form.status == "submitted" and state.form.submitted_at is not None
    # The server keeps the phone's own evidence UUIDs.
    assert sorted(str(e.id) for e in state.evidence) == sorted(entered["evidence_ids"])
    assert sorted(e.checkpoint_key or "" for e in state.evidence) == EVIDENCE_KEYS
