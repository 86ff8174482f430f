"""A whole 一企一表 inspection on a phone with no network; with the network back, everything arrives once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e import flows
from tests.e2e.app import InspectorApp
from tests.e2e.checks import Api, assert_evidence_arrived_once, assert_operations_applied_once, load_state
from tests.e2e.conftest import Inspection, screenshot
from tests.e2e.media import make_photo, make_video

pytestmark = pytest.mark.e2e


def test_offline_inspection_arrives_once(new_context: Any, live_server: Any, inspection: Inspection,
                                         e2e_engine: Any, e2e_storage_url: str, tmp_path: Path) -> None:
    photos = [make_photo(tmp_path / f"IMG_{i:04d}.jpg", seed=i) for i in range(1, 6)]
    video = make_video(tmp_path / "VID_0001.mp4", seed=99)
    form_id = inspection.form_id
    ctx = new_context()
    page = ctx.new_page()
    app = InspectorApp(page)

    # Sign in and download the tasks (online).
    app.open("/app/")
    expect(app.tid("login-username")).to_be_visible()
    screenshot(page, "01-login")
    flows.sign_in_and_download(app, inspection)
    expect(app.tid(f"task-status-{form_id}")).to_have_text("待检查")
    screenshot(page, "02-tasks")

    # In the factory: no network from here on.
    ctx.set_offline(True)
    expect(app.tid("online-state")).to_have_text("离线")
    entered = flows.fill_whole_form(app, ctx, live_server.url, inspection, photos, video)
    assert entered["inspector_name"] == inspection.lead.display_name
    assert entered["rep_name"] == inspection.enterprise.legal_representative
    queued = app.outbox_count()
    # check-in, 5 answers, 2 notes, 6 files, 2 signatures, result (+ details), confirmation
    assert queued >= 1 + len(flows.ANSWERS) + len(flows.NOTES) + 6 + 2 + 1 + 1, f"outbox holds {queued}"
    expect(page.locator(".van-toast").filter(visible=True)).to_have_count(0)
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "03-form")
    screenshot(page, "03-form-full", full_page=True)
    assert load_state(e2e_engine, form_id).answers == []  # nothing has left the phone

    # The app is killed and reopened with still no network: the shell and the draft come back from the device.
    page.reload()
    expect(app.tid("online-state")).to_have_text("离线")
    flows.expect_draft_on_screen(app, entered, inspection.lead.display_name)
    expect(app.tid("outbox-count")).to_have_text(str(queued))
    app.go_tab("sync")
    expect(app.tid("sync-online")).to_have_text("离线")
    screenshot(page, "04-sync-offline")

    # Back in signal: the outbox drains and every file goes up.
    ctx.set_offline(False)
    expect(app.tid("sync-online")).to_have_text("在线")
    flows.wait_until(lambda: flows.all_received(e2e_engine, form_id, 6), "six files received on the server")
    expect(app.tid("outbox-count")).to_have_text("0", timeout=60_000)
    screenshot(page, "05-sync-online")

    api = Api(live_server.url)
    partner_id = flows.partner_confirms_and_lead_submits(app, api, inspection, e2e_engine)
    screenshot(page, "06-form-submitted")

    # On the server: every answer, note, signature and file, exactly once, bytes verified.
    state = load_state(e2e_engine, form_id)
    flows.assert_form_content(state, inspection, entered, partner_id)
    figures = assert_evidence_arrived_once(state, [*photos, video], e2e_storage_url, api, e2e_engine)
    assert_operations_applied_once(state)
    print(f"\nmain e2e: {figures}")
