"""Chaos: ≥ 10 network flaps and app reloads while photos and a video upload: 0 lost, 0 duplicated."""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e import flows
from tests.e2e.app import InspectorApp
from tests.e2e.checks import Api, assert_evidence_arrived_once, assert_operations_applied_once, load_state
from tests.e2e.conftest import Inspection
from tests.e2e.media import make_photo, make_video

pytestmark = pytest.mark.e2e

SEED = 20250521
TOGGLES = 12  # offline/online flips while files are on the way
RELOAD_AT = (6, 9)  # reload the app after these flips: once online, once offline (the shell from the SW)
VIDEO_MB = 12  # two tus chunks (8 MiB + rest)
# One bar of signal: on localhost a file would be up before the network could drop under it.
UPLINK = {"offline": False, "latency": 40, "downloadThroughput": 4_000_000, "uploadThroughput": 2_000_000}


def set_network(ctx: Any, cdp: Any, offline: bool) -> None:
    """context.set_offline flips the network; back online, the slow uplink returns (set_offline resets it)."""
    ctx.set_offline(offline)
    if not offline:
        cdp.send("Network.emulateNetworkConditions", UPLINK)


def test_network_chaos_during_upload(new_context: Any, live_server: Any, inspection: Inspection,
                                     e2e_engine: Any, e2e_storage_url: str, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    photos = [
        make_photo(tmp_path / f"IMG_{i:04d}.jpg", seed=100 + i, size=(1600, 1200), noise=5) for i in range(5)
    ]
    video = make_video(tmp_path / "VID_0002.mp4", seed=SEED, payload_bytes=VIDEO_MB * 1024 * 1024, seconds=95)
    files = [*photos, video]
    form_id = inspection.form_id
    ctx = new_context()
    page = ctx.new_page()
    app = InspectorApp(page)

    flows.sign_in_and_download(app, inspection)
    ctx.set_offline(True)
    entered = flows.fill_whole_form(app, ctx, live_server.url, inspection, photos, video)

    # Signal comes back... and goes, and comes back: flip while the files are on the way.
    cdp = ctx.new_cdp_session(page)
    cdp.send("Network.enable")
    log_start = live_server.log_path.stat().st_size
    set_network(ctx, cdp, False)
    flows.wait_until(lambda: load_state(e2e_engine, form_id).uploads, "the first upload to start", timeout=60)
    offline = False
    log: list[tuple[int, str, int]] = []  # (flip, state after it, files the server still lacks)
    reloads = 0
    for flip in range(1, TOGGLES + 1):
        time.sleep(rng.uniform(0.15, 0.9))
        offline = not offline
        set_network(ctx, cdp, offline)
        state = load_state(e2e_engine, form_id)
        missing = len(files) - sum(e.status == "received" for e in state.evidence)
        log.append((flip, "offline" if offline else "online", missing))
        if flip in RELOAD_AT:
            page.reload()  # the app is killed mid-upload and reopened
            expect(app.tid("form-status")).to_be_visible()
            reloads += 1
    during_upload = sum(1 for _, _, missing in log if missing > 0)
    assert during_upload >= 10, f"only {during_upload} flips happened while files were still uploading: {log}"
    assert reloads == len(RELOAD_AT)
    mid_upload = [missing > 0 for flip, _, missing in log if flip in RELOAD_AT]
    assert mid_upload and all(mid_upload), f"a reload came after the upload: {log}"

    set_network(ctx, cdp, False)
    expect(app.tid("online-state")).to_have_text("在线")
    flows.expect_draft_on_screen(app, entered, inspection.lead.display_name)
    flows.wait_until(lambda: flows.all_received(e2e_engine, form_id, len(files)), "all received", timeout=120)
    expect(app.tid("outbox-count")).to_have_text("0", timeout=60_000)

    api = Api(live_server.url)
    partner_id = flows.partner_confirms_and_lead_submits(app, api, inspection, e2e_engine)
    state = load_state(e2e_engine, form_id)
    flows.assert_form_content(state, inspection, entered, partner_id)
    figures = assert_evidence_arrived_once(
        state, files, e2e_storage_url, api, e2e_engine, expect_one_upload_each=False
    )
    assert_operations_applied_once(state)
    # The access log shows the chaos reached the transfers: uploads resumed from the server's offset (HEAD).
    with open(live_server.log_path, "rb") as fh:
        fh.seek(log_start)
        pattern = r'"(POST|PATCH|HEAD|DELETE) /api/v1/uploads/\S* HTTP/1.1" (\d{3})'
        requests = re.finditer(pattern, fh.read().decode())
        tus = Counter(f"{m.group(1)} {m.group(2)}" for m in requests)
    assert sum(n for k, n in tus.items() if k.startswith("HEAD")) >= 1, f"no upload was resumed: {dict(tus)}"
    figures["tus_requests"] = dict(tus)
    print(f"\nchaos e2e: flips={log} reloads={reloads} {figures}")
