"""Shared fixtures: one migrated database per run (SQLite or PostgreSQL), a fresh copy per test."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlmodel import Session

from backend import create_app
from backend.migrations import upgrade

IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
TEST_STORAGE = os.environ.get("TEST_STORAGE", "local")  # local | s3
JWT_SECRET = "test-secret-0123456789abcdef0123456789abcdef"  # noqa: S105


def pytest_report_header(config: pytest.Config) -> str:
    db = "postgresql" if TEST_DATABASE_URL.startswith("postgres") else "sqlite"
    return f"shuangsui: database={db} storage={TEST_STORAGE} ci={IN_CI}"


def _pg_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrate once per run; SQLite yields a template file, PostgreSQL a clean schema."""
    if TEST_DATABASE_URL.startswith("postgres"):
        url = _pg_url(TEST_DATABASE_URL)
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        except Exception as exc:  # noqa: BLE001
            if IN_CI:
                raise
            pytest.skip(f"PostgreSQL unreachable at {url}: {exc}")
        upgrade(engine)
        engine.dispose()
        yield url
        return
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    yield str(path)


@pytest.fixture
def database_url(database_template: str, tmp_path: Path) -> Iterator[str]:
    if database_template.startswith("postgres"):
        engine = create_engine(database_template)
        with engine.begin() as conn:
            tables = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
            if tables:
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        engine.dispose()
        yield database_template
        return
    target = tmp_path / "test.sqlite3"
    shutil.copyfile(database_template, target)
    yield f"sqlite:///{target}"


@pytest.fixture(scope="session")
def s3_server():  # type: ignore[no-untyped-def]
    """One moto S3 server per run (tests/s3server.py); CI fails and elsewhere skips if it cannot start."""
    from tests.s3server import s3_server_or_skip

    server = s3_server_or_skip()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def storage_url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if TEST_STORAGE == "s3":
        server = request.getfixturevalue("s3_server")
        bucket = f"t-{uuid.uuid4().hex[:20]}"
        return server.url(bucket, create_bucket="true")
    return f"file://{tmp_path / 'objects'}"


@pytest.fixture
def app(database_url: str, storage_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    app = create_app(
        {
            "database_url": database_url,
            "storage_url": storage_url,
            "data_dir": tmp_path / "data",
            "jwt_secret": JWT_SECRET,
            "auto_migrate": False,
            "env": "test",
        }
    )
    app.config["TESTING"] = True
    from backend.extensions import limiter

    limiter.reset()
    yield app
    app.extensions["shuangsui.engine"].dispose()


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def session(app) -> Iterator[Session]:  # type: ignore[no-untyped-def]
    s = Session(app.extensions["shuangsui.engine"], expire_on_commit=False)
    try:
        yield s
    finally:
        s.rollback()
        s.close()


@pytest.fixture
def token_for(app, session) -> Callable[..., dict[str, str]]:  # type: ignore[no-untyped-def]
    """token_for("planner", department=dept) -> Authorization headers for a fresh user with that role."""
    from tests import factories

    def make(role: str | list[str], department=None, **user_kw) -> dict[str, str]:  # type: ignore[no-untyped-def]
        user = factories.make_user(session, roles=[role] if isinstance(role, str) else role,
                                   department=department, **user_kw)
        return factories.auth_headers(app, user)

    return make
