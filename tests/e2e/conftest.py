"""Browser fixtures: the real API in a subprocess with its own database and store, the built PWA, Chromium."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from tests import factories
from tests.conftest import IN_CI, TEST_DATABASE_URL, TEST_STORAGE
from tests.e2e.live import ROOT, LiveServer, PwaUnavailable, ensure_pwa_built, start_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 360, "height": 740}
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
E2E_JWT_SECRET = "e2e-secret-0123456789abcdef0123456789abcdef"  # noqa: S105


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def _skip_or_fail(reason: str) -> None:
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


# -- the browser ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        _skip_or_fail(f"{CHROMIUM} not found: install the Debian package `chromium` (CI installs it)")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=15_000)  # a loaded CI runner is slower than a phone; never a timed assertion
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def new_context(
    browser: Any, live_server: LiveServer, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Any]]:
    """new_context() -> a phone-sized context on the live server; a failed test leaves page screenshots."""
    contexts: list[Any] = []

    def make(**kw: Any) -> Any:
        ctx = browser.new_context(
            base_url=live_server.url,
            viewport=PHONE,
            screen=PHONE,
            device_scale_factor=2,
            is_mobile=True,
            has_touch=False,  # @vant/touch-emulator turns mouse drags into touches for the signature pad
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
                    shot = ARTIFACTS / "failures" / f"{request.node.name}-{i}-{j}.png"
                    page.screenshot(path=shot, full_page=True)
                except Exception:  # noqa: BLE001, S110 - best effort: the page may be gone
                    pass
        ctx.close()


def screenshot(page: Any, name: str, *, full_page: bool = False) -> Path:
    """Save a phone-viewport screenshot of a main screen under test-artifacts/screenshots/."""
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=full_page, animations="disabled")
    return path


# -- the server: its own database and store ---------------------------------------------------------------


def _pg_admin_and_target(url: str) -> tuple[str, str, str]:
    """(admin URL, target database name, target URL): the e2e database sits next to TEST_DATABASE_URL's."""
    parts = urlsplit(url)
    base = parts.path.lstrip("/") or "postgres"
    name = f"{base}_e2e"
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise ValueError(f"unexpected database name {name!r}")
    scheme = "postgresql+psycopg"
    admin = urlunsplit((scheme, parts.netloc, f"/{base}", parts.query, ""))
    target = urlunsplit((scheme, parts.netloc, f"/{name}", parts.query, ""))
    return admin, name, target


@pytest.fixture(scope="session")
def e2e_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database only the API subprocess and these tests use, migrated, recreated every session."""
    from backend.migrations import upgrade

    if TEST_DATABASE_URL.startswith("postgres"):
        admin_url, name, url = _pg_admin_and_target(TEST_DATABASE_URL)
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as exc:  # noqa: BLE001
            _skip_or_fail(f"PostgreSQL unreachable for the e2e database ({admin_url}): {exc}")
        finally:
            admin.dispose()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('e2e-db') / 'e2e.sqlite3'}"
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url


@pytest.fixture(scope="session")
def e2e_storage_url(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> str:
    if TEST_STORAGE == "s3":
        server = request.getfixturevalue("s3_server")
        return server.url(f"e2e-{uuid.uuid4().hex[:16]}", create_bucket="true")
    root = tmp_path_factory.mktemp("e2e-objects")
    return f"file://{root}"


@pytest.fixture(scope="session")
def pwa_dist() -> Path:
    try:
        return ensure_pwa_built()
    except PwaUnavailable as exc:
        pytest.fail(str(exc))


def _keep_log(path: Path) -> None:
    if path.exists():
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, ARTIFACTS / "e2e-server.log")


@pytest.fixture(scope="session")
def live_server(pwa_dist: Path, e2e_database_url: str, e2e_storage_url: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # The log lives with this session (tests read it; two sessions at once must not share it) and is copied to
    # test-artifacts/ at the end.
    log_path = tmp_path_factory.mktemp("e2e-log") / "e2e-server.log"
    try:
        server = start_server(
            database_url=e2e_database_url,
            storage_url=e2e_storage_url,
            data_dir=tmp_path_factory.mktemp("e2e-data"),
            log_path=log_path,
            jwt_secret=E2E_JWT_SECRET,
        )
    except RuntimeError as exc:
        _keep_log(log_path)
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()
        _keep_log(log_path)


@pytest.fixture(scope="session")
def e2e_engine(e2e_database_url: str) -> Iterator[Engine]:
    from backend.db import make_engine

    engine = make_engine(e2e_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def e2e_session(e2e_engine: Engine) -> Iterator[Session]:
    s = Session(e2e_engine, expire_on_commit=False)
    try:
        yield s
    finally:
        s.rollback()
        s.close()


# -- a form to inspect ---------------------------------------------------------------------------------------

CHECKPOINTS: list[dict[str, Any]] = [
    {"key": "cp1", "question": "是否按规定公示年度报告？", "legal_basis": "《企业信息公示暂行条例》第八条",
     "item_name": "年度报告公示情况", "answer_kind": "pass_fail", "options": [], "photo_required": True},
    {"key": "cp2", "question": "从业人员数量（人）", "legal_basis": "《企业信息公示暂行条例》第九条",
     "item_name": "年度报告公示情况", "answer_kind": "number", "options": [], "photo_required": False},
    {"key": "cp3", "question": "经营场所情况", "legal_basis": "《市场主体登记管理条例》第二十七条",
     "item_name": "登记事项", "answer_kind": "choice", "options": ["与登记一致", "与登记不一致", "无法联系"],
     "photo_required": False},
    {"key": "cp4", "question": "现场检查情况记录", "legal_basis": "《市场监督管理行政处罚程序规定》第二十条",
     "item_name": "现场检查", "answer_kind": "text", "options": [], "photo_required": False},
    {"key": "cp5", "question": "食品贮存是否符合要求？", "legal_basis": "《食品安全法》第三十三条",
     "item_name": "食品生产经营", "answer_kind": "pass_fail", "options": [], "photo_required": True},
]


@dataclass
class Inspection:
    """A dispatched 一企一表 form with a two-inspector team; `lead` signs in through the browser."""

    form: Any
    enterprise: Any
    lead: Any  # User
    partner: Any  # User
    password: str

    @property
    def form_id(self) -> str:
        return str(self.form.id)


@pytest.fixture
def inspection(live_server: LiveServer, e2e_session: Session) -> Inspection:
    dept = factories.make_department(e2e_session, name="广元市利州区市场监督管理局")
    checkpoints = [{**cp, "department": dept.name, "department_id": str(dept.id)} for cp in CHECKPOINTS]
    ent = factories.make_enterprise(e2e_session, name=f"广元市利州区放心食品有限公司{uuid.uuid4().hex[:4]}",
                                    lat=32.4355, lng=105.8434)
    lead = factories.make_user(e2e_session, roles=["inspector"], department=dept, display_name="李检查")
    partner = factories.make_user(e2e_session, roles=["inspector"], department=dept, display_name="王检查")
    form = factories.make_form(
        e2e_session, enterprise=ent, inspectors=[lead, partner], department=dept, checkpoints=checkpoints,
        deadline_start=date.today(), deadline_complete=date.today() + timedelta(days=28),
    )
    return Inspection(form=form, enterprise=ent, lead=lead, partner=partner, password=factories.PASSWORD)
