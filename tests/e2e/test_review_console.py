"""Review console on a desktop: a supervisor returns a form with checkpoint comments, approves another."""

from __future__ import annotations

import hashlib
import io
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlmodel import Session

from tests import factories
from tests.e2e.conftest import ARTIFACTS, CHECKPOINTS, screenshot
from tests.e2e.media import make_photo, make_video

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1280, "height": 800}
ENTERPRISE_FIX = (32.4355, 105.8434)
RETURN_COMMENT = "冷藏柜温度照片看不清温度计读数，请补拍并说明整改情况"
FORM_COMMENT = "请企业代表补签"


# -- a desktop browser on the shared harness (browser + live server from tests/e2e/conftest.py) -------------


@pytest.fixture
def desktop_context(
    browser: Any, live_server: Any, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Any]]:
    """desktop_context() -> a 1280x800 desktop context (mouse, no touch); screenshots on failure."""
    contexts: list[Any] = []

    def make(**kw: Any) -> Any:
        ctx = browser.new_context(
            base_url=live_server.url,
            viewport=DESKTOP,
            screen=DESKTOP,
            device_scale_factor=1,
            is_mobile=False,
            has_touch=False,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
            service_workers="allow",
            **kw,
        )
        ctx.set_default_timeout(15_000)
        contexts.append(ctx)
        return ctx

    yield make
    failed = getattr(request.node, "rep_call", None)
    for i, ctx in enumerate(contexts):
        if failed is not None and failed.failed:
            for j, page in enumerate(ctx.pages):
                try:
                    page.screenshot(
                        path=ARTIFACTS / "failures" / f"{request.node.name}-{i}-{j}.png", full_page=True
                    )
                except Exception:  # noqa: BLE001, S110 - best effort: the page may be gone
                    pass
        ctx.close()


# -- two submitted forms of one department, one with its field record (check-in, photos, video, signature) ---


@dataclass
class ReviewWorld:
    supervisor: Any
    inspector: Any  # the lead inspector (a User)
    to_return: Any  # form with evidence: returned with comments
    to_approve: Any  # form approved as proposed
    photo_ids: list[str]
    far_photo_id: str
    video_id: str


def _signature_png(name: str) -> bytes:
    img = Image.new("RGBA", (480, 180), (255, 255, 255, 0))
    draw = ImageDraw.Draw(img)
    draw.line([(30, 120), (120, 40), (200, 140), (300, 50), (420, 110)], fill=(20, 20, 20, 255), width=6)
    draw.text((30, 150), name, fill=(20, 20, 20, 255))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _store_blob(store: Any, data: bytes, mime: str) -> tuple[str, str]:
    from storage import ObjectExists, evidence_key

    digest = hashlib.sha256(data).hexdigest()
    key = evidence_key(digest)
    try:
        store.put(key, io.BytesIO(data), len(data), mime)
    except ObjectExists:
        pass
    return digest, key


def _received_evidence(
    session: Session,
    store: Any,
    form: Any,
    user: Any,
    path: Path,
    *,
    kind: str,
    mime: str,
    checkpoint_key: str | None,
    lat: float,
    lng: float,
    captured_at: datetime,
) -> str:
    """A file as the upload pipeline leaves it: stored by hash, verified, derivatives by the server code."""
    from backend.models import Evidence
    from backend.services.uploads import make_derivatives

    data = path.read_bytes()
    digest, key = _store_blob(store, data, mime)
    ev = Evidence(
        id=uuid.uuid4(),
        form_id=form.id,
        checkpoint_key=checkpoint_key,
        kind=kind,
        sha256=digest,
        size=len(data),
        mime=mime,
        filename=path.name,
        captured_at=captured_at,
        declared_at=captured_at + timedelta(seconds=5),
        received_at=captured_at + timedelta(minutes=2),
        lat=lat,
        lng=lng,
        accuracy_m=12.0,
        device_id="e2e-phone-lead",
        inspector_id=user.inspector_id,
        user_id=user.id,
        status="received",
        object_key=key,
        media={"mime": mime, "sha256_verified": digest},
        op_id=uuid.uuid4(),
    )
    session.add(ev)
    session.flush()
    derived = make_derivatives(session=session, store=store, evidence=ev, key=key, mime=mime)
    ev.thumbnail_key = derived.get("thumbnail_key")
    ev.display_key = derived.get("display_key")
    ev.media = {**ev.media, **derived.get("media", {})}
    session.add(ev)
    session.commit()
    return str(ev.id)


@pytest.fixture
def review_world(live_server: Any, e2e_session: Session, e2e_storage_url: str, tmp_path: Path) -> ReviewWorld:
    from backend.models import FormCheckin, FormSignature
    from storage import open_store

    s = e2e_session
    dept = factories.make_department(s, name=f"广元市利州区市场监督管理局{uuid.uuid4().hex[:4]}")
    checkpoints = [{**cp, "department": dept.name, "department_id": str(dept.id)} for cp in CHECKPOINTS]
    supervisor = factories.make_user(s, roles=["supervisor"], department=dept, display_name="赵审核")
    lead = factories.make_user(s, roles=["inspector"], department=dept, display_name="李检查")
    partner = factories.make_user(s, roles=["inspector"], department=dept, display_name="王检查")
    ent = factories.make_enterprise(
        s,
        name=f"广元市利州区放心食品有限公司{uuid.uuid4().hex[:4]}",
        lat=ENTERPRISE_FIX[0],
        lng=ENTERPRISE_FIX[1],
    )
    other = factories.make_enterprise(
        s, name=f"广元市利州区诚信超市{uuid.uuid4().hex[:4]}", lat=32.44, lng=105.85
    )
    now = datetime.now(UTC)
    answers = {
        "cp1": "pass",
        "cp2": 12,
        "cp3": "与登记一致",
        "cp4": "现场核查营业执照与公示信息一致。",
        "cp5": "fail",
    }
    common = {
        "inspectors": [lead, partner],
        "department": dept,
        "checkpoints": checkpoints,
        "deadline_start": date.today() - timedelta(days=10),
        "deadline_complete": date.today() + timedelta(days=10),
    }
    # The older submission has the nearer entry deadline: it heads the queue.
    to_return = factories.make_submitted_form(
        s,
        enterprise=ent,
        submitted_at=now - timedelta(days=3),
        answers=answers,
        proposed="发现问题已责令改正",
        proposed_details="责令当场调整冷藏温度",
        **common,
    )
    to_approve = factories.make_submitted_form(
        s,
        enterprise=other,
        submitted_at=now - timedelta(hours=2),
        answers={k: v for k, v in answers.items() if k != "cp5"} | {"cp5": "pass"},
        proposed="未发现问题",
        **common,
    )

    store = open_store(e2e_storage_url)
    at = now - timedelta(days=3, hours=1)
    s.add(
        FormCheckin(
            form_id=to_return.id,
            at=at,
            received_at=at + timedelta(minutes=1),
            lat=32.43571,
            lng=105.84362,
            accuracy_m=12.0,
            inspector_id=lead.inspector_id,
            device_id="e2e-phone-lead",
            op_id=uuid.uuid4(),
        )
    )
    png = _signature_png("李检查")
    digest, key = _store_blob(store, png, "image/png")
    s.add(
        FormSignature(
            form_id=to_return.id,
            signer="inspector",
            name="李检查",
            sha256=digest,
            object_key=key,
            signed_at=at + timedelta(minutes=30),
            received_at=at + timedelta(minutes=31),
            inspector_id=lead.inspector_id,
            device_id="e2e-phone-lead",
            op_id=uuid.uuid4(),
        )
    )
    s.commit()
    photos = [make_photo(tmp_path / f"IMG_{i:04d}.jpg", seed=700 + i) for i in range(1, 4)]
    photo_ids = [
        _received_evidence(
            s,
            store,
            to_return,
            lead,
            photos[0].path,
            kind="photo",
            mime="image/jpeg",
            checkpoint_key="cp1",
            lat=32.43572,
            lng=105.84360,
            captured_at=at + timedelta(minutes=5),
        ),
        _received_evidence(
            s,
            store,
            to_return,
            lead,
            photos[1].path,
            kind="photo",
            mime="image/jpeg",
            checkpoint_key="cp5",
            lat=32.43569,
            lng=105.84365,
            captured_at=at + timedelta(minutes=9),
        ),
    ]
    far = _received_evidence(
        s,
        store,
        to_return,
        lead,
        photos[2].path,
        kind="photo",
        mime="image/jpeg",
        checkpoint_key="cp5",
        lat=32.4555,
        lng=105.8634,
        captured_at=at + timedelta(minutes=12),
    )
    video = make_video(tmp_path / "VID_0001.mp4", seed=77, payload_bytes=64 * 1024)
    video_id = _received_evidence(
        s,
        store,
        to_return,
        lead,
        video.path,
        kind="video",
        mime="video/mp4",
        checkpoint_key=None,
        lat=32.43571,
        lng=105.84362,
        captured_at=at + timedelta(minutes=15),
    )
    return ReviewWorld(
        supervisor=supervisor,
        inspector=lead,
        to_return=to_return,
        to_approve=to_approve,
        photo_ids=photo_ids,
        far_photo_id=far,
        video_id=video_id,
    )


# -- helpers ------------------------------------------------------------------------------------------------


def tid(page: Page, testid: str) -> Any:
    return page.get_by_test_id(testid)


def sign_in(page: Page, username: str) -> None:
    page.goto("/app/")
    expect(tid(page, "login-username")).to_be_visible()
    tid(page, "login-username").fill(username)
    tid(page, "login-password").fill(factories.PASSWORD)
    tid(page, "login-submit").click()


def confirm_dialog(page: Page) -> None:
    button = page.locator(".van-dialog__confirm").filter(visible=True)
    expect(button).to_be_visible()
    button.click()


def expect_blob_image(page: Page, selector: str) -> None:
    """The <img> is an object URL of bytes fetched with the bearer token, decoded (never a token in a URL)."""
    img = page.locator(selector).first
    expect(img).to_be_visible()
    expect(img).to_have_attribute("src", re.compile(r"^blob:"))
    page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=img.element_handle())


def load_form(engine: Any, form_id: Any) -> tuple[Any, list[Any], Any]:
    from backend.models import InspectionForm, ReviewComment
    from backend.models.results import InspectionResult

    with Session(engine) as s:
        form = s.get(InspectionForm, form_id)
        comments = list(s.execute(select(ReviewComment).where(ReviewComment.form_id == form_id)).scalars())
        result = (
            s.execute(select(InspectionResult).where(InspectionResult.form_id == form_id)).scalars().first()
        )
        return form, comments, result


# -- the test -----------------------------------------------------------------------------------------------


def test_supervisor_returns_one_form_and_approves_another(
    desktop_context: Any, review_world: ReviewWorld, e2e_engine: Any
) -> None:
    w = review_world
    returned_id, approved_id = str(w.to_return.id), str(w.to_approve.id)
    ctx = desktop_context()
    page = ctx.new_page()
    token_urls: list[str] = []
    page.on(
        "request",
        lambda r: token_urls.append(r.url) if "token" in r.url.lower() or "access_" in r.url else None,
    )

    # A supervisor lands in the review console; on a desktop the queue and the detail sit side by side.
    sign_in(page, w.supervisor.username)
    page.wait_for_url("**/app/review")
    expect(tid(page, f"review-queue-item-{returned_id}")).to_be_visible()
    expect(tid(page, f"review-queue-item-{approved_id}")).to_be_visible()
    expect(tid(page, "tab-tasks")).to_have_count(0)  # no inspector screens for a supervisor-only account
    order = page.locator('[data-testid^="review-queue-item-"]').evaluate_all(
        "els => els.map(e => e.dataset.testid.slice('review-queue-item-'.length))"
    )
    assert order.index(returned_id) < order.index(approved_id), order  # oldest / nearest deadline first
    expect(tid(page, f"review-queue-deadline-{returned_id}")).to_contain_text("个工作日")
    expect(tid(page, "review-placeholder")).to_be_visible()
    screenshot(page, "review-01-queue-desktop")

    # The form: answers with their legal basis, evidence with provenance, check-in, signature, audit timeline.
    tid(page, f"review-queue-item-{returned_id}").click()
    page.wait_for_url(f"**/app/review/forms/{returned_id}")
    expect(tid(page, "review-status")).to_have_text("待审核")
    expect(tid(page, f"review-queue-item-{returned_id}")).to_be_visible()  # two columns at 1280 px
    queue_box = tid(page, f"review-queue-item-{returned_id}").bounding_box()
    detail_box = tid(page, "review-checkpoint-cp1").bounding_box()
    assert queue_box and detail_box and queue_box["x"] + queue_box["width"] <= detail_box["x"], (
        queue_box,
        detail_box,
    )
    expect(tid(page, "review-basis-cp5")).to_contain_text("《食品安全法》第三十三条")
    expect(tid(page, "review-answer-cp5")).to_have_text("不符合")
    expect(tid(page, "review-answer-cp2")).to_have_text("12")
    expect(tid(page, "review-checkins")).to_contain_text("距登记地址")
    for eid in w.photo_ids:
        expect_blob_image(page, f'[data-testid="evidence-thumb-{eid}"] img')
        prov = tid(page, f"provenance-{eid}")
        expect(prov).to_contain_text("李检查")
        expect(prov).to_contain_text("e2e-phone-lead")
        expect(tid(page, f"provenance-{eid}-hash")).to_contain_text("✔")
        expect(tid(page, f"provenance-{eid}-distance")).to_contain_text("米")
    expect(tid(page, f"provenance-{w.far_photo_id}-distance")).to_contain_text("公里")
    expect(tid(page, "review-warnings")).to_contain_text("拍摄位置距企业登记地址")
    expect(
        tid(page, f"evidence-download-{w.photo_ids[0]}")
    ).to_be_visible()  # supervisor of the lead department
    expect_blob_image(page, '[data-testid^="review-signature-"] img')
    expect(tid(page, "review-timeline")).to_be_visible()
    screenshot(page, "review-02-form-desktop")

    # Full-size watermarked derivative in the preview, fetched the same way.
    tid(page, f"evidence-thumb-{w.photo_ids[1]}").click()
    preview = page.locator(".van-image-preview").filter(visible=True)
    expect(preview).to_be_visible()
    expect_blob_image(page, ".van-image-preview .van-swipe-item img")
    page.wait_for_timeout(400)  # the preview's zoom-in transition
    screenshot(page, "review-03-watermarked-preview")
    page.keyboard.press("Escape")
    if preview.count():
        page.locator(".van-image-preview__close-icon").filter(visible=True).click()
    expect(preview).to_have_count(0)

    # Video: the original streamed into a <video> (object URL or a presigned URL, never the token).
    tid(page, f"evidence-thumb-{w.video_id}").click()
    video = tid(page, "review-video")
    expect(video).to_be_visible()
    src = video.get_attribute("src") or ""
    assert src.startswith("blob:") or "X-Amz-Signature" in src, src
    page.locator(".van-popup__close-icon").filter(visible=True).click()
    expect(video).to_have_count(0)

    # Return for revision with a checkpoint comment and a form-level comment.
    tid(page, "review-comment-cp5").fill(RETURN_COMMENT)
    tid(page, "review-comment-form").fill(FORM_COMMENT)
    tid(page, "review-return").click()
    confirm_dialog(page)
    expect(tid(page, "review-message")).to_contain_text("已退回修改")
    expect(tid(page, "review-status")).to_have_attribute("data-status", "returned")
    expect(tid(page, "review-return")).to_have_count(0)
    expect(tid(page, "review-checkpoint-cp5")).to_contain_text(RETURN_COMMENT)
    expect(tid(page, "review-timeline")).to_contain_text("退回")
    expect(tid(page, f"review-queue-item-{returned_id}")).to_have_count(0)  # gone from 待审核
    screenshot(page, "review-04-returned")

    form, comments, result = load_form(e2e_engine, w.to_return.id)
    assert form.status == "returned"
    assert result is None
    got = sorted((c.checkpoint_key or "", c.comment, c.kind) for c in comments)
    assert got == [("", FORM_COMMENT, "revise"), ("cp5", RETURN_COMMENT, "revise")], got
    assert all(c.author_id == w.supervisor.id and c.resolved_at is None for c in comments)

    # Approve path on the other form: the proposal (未发现问题) is taken as is.
    tid(page, f"review-queue-item-{approved_id}").click()
    page.wait_for_url(f"**/app/review/forms/{approved_id}")
    expect(tid(page, "review-status")).to_have_text("待审核")
    tid(page, "review-approve").click()
    expect(tid(page, "approve-sheet")).to_be_visible()
    expect(tid(page, "approve-category")).to_have_value("no_problem")
    page.wait_for_timeout(300)  # the sheet's slide-in
    screenshot(page, "review-05-approve-sheet")
    tid(page, "review-approve-confirm").click()
    expect(tid(page, "review-message")).to_contain_text("已审核通过")
    expect(tid(page, "review-status")).to_have_attribute("data-status", "approved")
    expect(tid(page, "review-result")).to_contain_text("未发现问题")
    expect(tid(page, f"review-queue-item-{approved_id}")).to_have_count(0)
    screenshot(page, "review-06-approved")

    form, comments, result = load_form(e2e_engine, w.to_approve.id)
    assert form.status == "approved"
    assert result is not None and result.category == "no_problem"
    assert comments == []

    # Offline: nothing to review from the device.
    ctx.set_offline(True)
    expect(tid(page, "review-offline")).to_be_visible()
    expect(tid(page, "review-offline").first).to_contain_text("离线时无法审核")
    screenshot(page, "review-07-offline")
    ctx.set_offline(False)
    expect(tid(page, "review-status")).to_be_visible()

    assert token_urls == [], f"a token in a URL: {token_urls}"


def test_phone_layout_and_inspector_kept_out(new_context: Any, review_world: ReviewWorld) -> None:
    """On a phone the console is one column; an inspector never sees it and the guard sends them back."""
    w = review_world
    page = new_context().new_page()
    sign_in(page, w.supervisor.username)
    page.wait_for_url("**/app/review")
    expect(tid(page, "tab-review")).to_be_visible()
    item = tid(page, f"review-queue-item-{w.to_return.id}")
    expect(item).to_be_visible()
    screenshot(page, "review-08-queue-phone")
    item.click()
    expect(tid(page, "review-status")).to_be_visible()
    expect(item).to_be_hidden()  # one column: the queue gives way to the form
    expect(tid(page, "review-return")).to_be_visible()
    screenshot(page, "review-09-form-phone")

    inspector = new_context().new_page()
    sign_in(inspector, w.inspector.username)
    expect(tid(inspector, "tab-tasks")).to_be_visible()
    expect(tid(inspector, "tab-review")).to_have_count(0)
    inspector.goto(f"/app/review/forms/{w.to_return.id}")
    expect(tid(inspector, "tab-tasks")).to_be_visible()
    assert "/review" not in inspector.url, inspector.url
