"""Drives the inspector PWA through its data-testids (pwa/README.md) as an inspector would, one-handed."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.e2e.media import MediaFile


class InspectorApp:
    def __init__(self, page: Page) -> None:
        self.page = page

    def tid(self, testid: str) -> Locator:
        return self.page.get_by_test_id(testid)

    # -- app shell -------------------------------------------------------------------------------------------

    def open(self, path: str = "/app/") -> None:
        self.page.goto(path)

    def wait_for_service_worker(self) -> None:
        """The shell is precached once the service worker is active (install finished = precache complete)."""
        self.page.wait_for_function(
            "navigator.serviceWorker && navigator.serviceWorker.ready.then(r => !!r.active)", timeout=30_000
        )
        self.page.wait_for_function(
            "navigator.serviceWorker.getRegistration('/app/')"
            ".then(r => r && r.active && r.active.state === 'activated')",
            timeout=30_000,
        )

    def sign_in(self, username: str, password: str) -> None:
        expect(self.tid("login-username")).to_be_visible()
        self.tid("login-username").fill(username)
        self.tid("login-password").fill(password)
        self.tid("login-submit").click()
        expect(self.tid("tab-tasks")).to_be_visible()

    def outbox_count(self) -> int:
        loc = self.tid("outbox-count")
        if loc.count() == 0:
            return 0
        text = loc.first.text_content() or "0"
        return int(re.sub(r"\D", "", text) or 0)

    def wait_offline_ready(self, form_id: str) -> None:
        expect(self.tid(f"task-item-{form_id}")).to_be_visible()
        expect(self.tid(f"offline-badge-{form_id}")).to_be_visible()

    def open_form(self, form_id: str) -> None:
        self.tid(f"task-item-{form_id}").click()
        expect(self.tid("form-status")).to_be_visible()

    def go_tab(self, name: str) -> None:
        if self.tid("back-button").is_visible():  # inside a form: the tabs live on the top-level screens
            self.back()
            expect(self.tid("back-button")).to_have_count(0)
        self.tid(f"tab-{name}").click()

    def back(self) -> None:
        self.tid("back-button").click()

    def confirm_dialog(self) -> None:
        button = self.page.locator(".van-dialog__confirm").filter(visible=True)
        expect(button).to_be_visible()
        button.click()
        expect(self.page.locator(".van-dialog").filter(visible=True)).to_have_count(0)

    # -- the form --------------------------------------------------------------------------------------------

    def check_in(self) -> None:
        self.tid("checkin-button").click()
        expect(self.tid("checkin-status")).to_contain_text("位置：")

    def answer(self, key: str, kind: str, value: Any) -> None:
        if kind == "pass_fail":
            button = self.tid(f"answer-{key}-{value}")
            button.click()
            expect(button).to_have_attribute("aria-pressed", "true")
        elif kind == "choice":
            button = self.tid(f"answer-{key}-opt-{value}")
            button.click()
            expect(button).to_have_attribute("aria-pressed", "true")
        else:
            field = self.tid(f"answer-{key}-input")
            field.fill(str(value))
            field.blur()

    def note(self, key: str, text: str) -> None:
        field = self.tid(f"note-{key}")
        field.fill(text)
        field.blur()

    def evidence_ids(self) -> list[str]:
        ids = self.page.locator('[data-testid^="evidence-state-"]').evaluate_all(
            "els => els.map(e => e.dataset.testid.slice('evidence-state-'.length))"
        )
        return list(dict.fromkeys(ids))

    def _wait_evidence(self, count: int) -> None:
        expect(self.page.locator('[data-testid^="evidence-state-"]')).to_have_count(count, timeout=30_000)
        expect(self.page.locator(".van-toast--loading").filter(visible=True)).to_have_count(0, timeout=30_000)

    def add_photos(self, key: str, files: Iterable[MediaFile]) -> None:
        """Camera capture on a phone is a file input; several photos at once through its `multiple`."""
        files = list(files)
        before = len(self.evidence_ids())
        self.tid(f"photo-input-{key}").set_input_files([str(f.path) for f in files])
        self._wait_evidence(before + len(files))

    def add_video_via_chooser(self, video: MediaFile) -> None:
        """The 录制视频 button as a user taps it: the file chooser opens and gets the recording."""
        before = len(self.evidence_ids())
        with self.page.expect_file_chooser() as chooser:
            self.page.locator("label.capture", has=self.tid("video-input")).click()
        chooser.value.set_files(str(video.path))
        self._wait_evidence(before + 1)

    def sign(self, button_testid: str, strokes: int = 3, wobble: float = 0.08) -> str:
        """Opens the signature sheet, draws with the mouse (touch-emulated), confirms; returns the name."""
        self.tid(button_testid).click()
        pad = self.tid("signature-pad").locator("canvas")
        expect(pad).to_be_visible()
        self.page.wait_for_function(
            "() => { const c = document.querySelector('[data-testid=signature-pad] canvas');"
            " return c && c.width > 50 && c.height > 50 }"
        )
        self.page.wait_for_timeout(350)  # the sheet's slide-in: the pad measures itself on `opened`
        box = pad.bounding_box()
        assert box is not None
        x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
        mouse = self.page.mouse
        for s in range(strokes):
            mouse.move(x0 + w * 0.15, y0 + h * (0.3 + 0.15 * s))
            mouse.down()
            for i in range(1, 13):
                dy = wobble if i % 2 else -wobble
                mouse.move(x0 + w * (0.15 + 0.055 * i), y0 + h * (0.3 + 0.15 * s + dy), steps=2)
            mouse.up()
        name = self.tid("signature-name").input_value()
        self.tid("signature-confirm").click()
        expect(pad).to_be_hidden()
        return name

    def propose_result(self, index: int, details: str = "") -> None:
        option = self.tid(f"result-option-{index}")
        option.click()
        expect(option).to_have_attribute("aria-checked", "true")
        if details:
            self.tid("result-details").fill(details)
            self.tid("result-details").blur()

    def confirm_content(self) -> None:
        self.tid("confirm-button").click()
        self.confirm_dialog()
        expect(self.tid("confirm-button")).to_contain_text("本人已确认")

    def submit(self) -> None:
        self.tid("submit-button").click()
        self.confirm_dialog()

    # -- sync ------------------------------------------------------------------------------------------------

    def sync_now(self) -> None:
        self.tid("sync-now").click()
