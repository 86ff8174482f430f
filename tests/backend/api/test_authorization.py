"""Every /api/v1 endpoint in the url_map, called as every role (own and other department), allows or denies
exactly as authz_table.py declares; an endpoint without a declaration fails the suite."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlmodel import Session

from backend import create_app
from backend.models import (
    CheckItem,
    CheckItemVersion,
    Checkpoint,
    ConflictOfInterest,
    Department,
    Enterprise,
    Inspector,
    User,
)
from backend.models.directory import CalendarOverride
from backend.services import auth as auth_service
from backend.services.uscc import make_uscc
from tests import factories
from tests.backend.api.authz_table import ROLES, TABLE, WORLD_BUILDERS, Expect, unique
from tests.conftest import JWT_SECRET

CONVERTER = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")


def normalise(rule: str) -> str:
    """ "/api/v1/items/<uuid:item_id>" -> "/api/v1/items/<item_id>"."""
    return CONVERTER.sub(r"<\1>", rule)


@pytest.fixture(scope="module")
def authz_app(database_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One app for the module: the worlds below never share objects, so tests need no fresh database."""
    if database_template.startswith("postgres"):
        engine = create_engine(database_template)
        with engine.begin() as conn:
            tables = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        engine.dispose()
        url = database_template
    else:
        target = tmp_path_factory.mktemp("authz") / "authz.sqlite3"
        shutil.copyfile(database_template, target)
        url = f"sqlite:///{target}"
    data = tmp_path_factory.mktemp("authz-data")
    app = create_app(
        {
            "database_url": url,
            "storage_url": f"file://{data / 'objects'}",
            "data_dir": data,
            "jwt_secret": JWT_SECRET,
            "auto_migrate": False,
            "env": "test",
        }
    )
    app.config["TESTING"] = True
    yield app
    app.extensions["shuangsui.engine"].dispose()


class World:
    """Two departments, a caller per role, and one object of every kind in department A."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.session = Session(app.extensions["shuangsui.engine"], expire_on_commit=False)
        self.values: dict[str, Any] = {}
        self.users: dict[str, User] = {}
        s = self.session
        n = unique()
        dept_a = Department(code=f"A-{n}", name=f"本部门{n}", region_code="510802", level="county")
        dept_b = Department(code=f"B-{n}", name=f"他部门{n}", region_code="510802", level="county")
        s.add_all([dept_a, dept_b])
        s.flush()
        ent = Enterprise(uscc=make_uscc("510802", 70_000_000 + n), name=f"世界企业{n}有限公司", region_code="510802")
        spare = Enterprise(uscc=make_uscc("510802", 80_000_000 + n), name=f"备用企业{n}有限公司", region_code="510802")
        insp = Inspector(
            staff_no=f"W-{n}",
            name=f"执法人员{n}",
            department_id=dept_a.id,
            certificate_no=f"WCERT-{n}",
            certificate_valid_until=date.today() + timedelta(days=100),
        )
        s.add_all([ent, spare, insp])
        s.flush()
        conflict = ConflictOfInterest(inspector_id=insp.id, enterprise_id=ent.id, reason="relative")
        item = CheckItem(code=f"W-ITEM-{n}", department_id=dept_a.id)
        published_item = CheckItem(code=f"W-PUB-{n}", department_id=dept_a.id)
        s.add_all([conflict, item, published_item])
        s.flush()
        v1 = CheckItemVersion(item_id=item.id, version=1, status="published", name=f"世界事项{n}")
        v2 = CheckItemVersion(item_id=item.id, version=2, status="draft", name=f"世界事项{n}")
        p1 = CheckItemVersion(item_id=published_item.id, version=1, status="published", name=f"已发布事项{n}")
        s.add_all([v1, v2, p1])
        s.flush()
        for version in (v1, v2, p1):
            s.add(Checkpoint(item_version_id=version.id, position=0, key="cp1", question="是否合规？"))
        dept_of = {
            "planner": dept_a,
            "planner_other": dept_b,
            "approver": dept_a,
            "supervisor": dept_a,
            "inspector": dept_a,
        }
        for role in ROLES:
            if role == "anonymous":
                continue
            user = User(
                username=f"{role}-{n}",
                display_name=role,
                password_hash=factories._PASSWORD_HASH,
                roles=["planner" if role == "planner_other" else role],
                department_id=dept_of[role].id if role in dept_of else None,
                inspector_id=insp.id if role == "inspector" else None,
            )
            s.add(user)
            self.users[role] = user
        target = User(
            username=f"target-{n}", display_name="目标用户", password_hash=factories._PASSWORD_HASH, roles=["witness"]
        )
        day = date(2200, 1, 1) + timedelta(days=n)
        s.add_all([target, CalendarOverride(day=day, is_workday=True, note="调休")])
        s.commit()
        self.set("department_id", dept_a.id)
        self.set("dept_a_code", dept_a.code)
        self.set("enterprise_id", ent.id)
        self.set("enterprise_uscc", ent.uscc)
        self.set("spare_enterprise_id", spare.id)
        self.set("inspector_id", insp.id)
        self.set("inspector_staff_no", insp.staff_no)
        self.set("conflict_id", conflict.id)
        self.set("item_id", item.id)
        self.set("item_code", item.code)
        self.set("item_name", v1.name)
        self.set("version_id", v2.id)
        self.set("published_item_id", published_item.id)
        self.set("user_id", target.id)
        self.set("day", day.isoformat())
        self.login_body = {"username": self.users["admin"].username, "password": factories.PASSWORD}
        for build in WORLD_BUILDERS:
            build(s, self)
        s.commit()

    def set(self, name: str, value: Any) -> None:
        self.values[name] = value
        setattr(self, name, value)

    def fresh_refresh_token(self) -> str:
        with self.app.app_context():
            pair = auth_service.login(
                session=self.session,
                settings=self.app.config["SETTINGS"],
                username=self.users["admin"].username,
                password=factories.PASSWORD,
            )
        return pair.refresh_token

    def headers(self, role: str) -> dict[str, str]:
        return {} if role == "anonymous" else factories.auth_headers(self.app, self.users[role])

    def url(self, path: str, expect: Expect) -> str:
        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in expect.path:
                return expect.path[name]
            return str(self.values[expect.path_from.get(name, name)])

        return re.sub(r"<([^<>]+)>", fill, path)

    def close(self) -> None:
        self.session.close()


def expected_code(expect: Expect, role: str) -> str:
    if role in expect.status:
        return str(expect.status[role])
    if role in expect.allow:
        return "2xx"
    if role == "anonymous":
        return "401"
    return "404" if role in expect.hide else "403"


def call(app: Any, world: World, method: str, path: str, expect: Expect, role: str) -> tuple[str, Any]:
    client = app.test_client()
    kwargs: dict[str, Any] = {"headers": world.headers(role)}
    if expect.query:
        kwargs["query_string"] = expect.query(world)
    if expect.files:
        kwargs["data"] = expect.files(world)
        kwargs["content_type"] = "multipart/form-data"
    elif expect.body is not None:
        kwargs["json"] = expect.body(world)
    elif method in ("POST", "PATCH", "PUT"):
        kwargs["json"] = {}
    resp = client.open(world.url(path, expect), method=method, **kwargs)
    got = "2xx" if 200 <= resp.status_code < 300 else str(resp.status_code)
    return got, resp


ENTRIES = [
    pytest.param(key, expect, id=f"{key[0]} {key[1]}" + (f" [{i}]" if isinstance(value, list) else ""))
    for key, value in TABLE.items()
    for i, expect in enumerate(value if isinstance(value, list) else [value])
]


@pytest.mark.parametrize(("key", "expect"), ENTRIES)
def test_endpoint_allows_and_denies_by_role(authz_app, key: tuple[str, str], expect: Expect) -> None:
    from backend.extensions import limiter

    limiter.reset()
    method, path = key
    shared = World(authz_app) if method == "GET" else None  # reads change nothing: one world will do
    failures = []
    try:
        for role in ROLES:
            world = shared or World(authz_app)
            try:
                got, resp = call(authz_app, world, method, path, expect, role)
                want = expected_code(expect, role)
                if got != want:
                    detail = resp.get_data(as_text=True)[:300]
                    failures.append(f"{role:14} expected {want}, got {resp.status_code}: {detail}")
                elif got == "2xx" and expect.marker is not None:
                    body = resp.get_data(as_text=True)
                    seen = expect.marker(world) in body
                    if role in expect.filtered and seen:
                        failures.append(f"{role:14} sees department A's object it must not see")
                    if role not in expect.filtered and not seen:
                        failures.append(f"{role:14} does not see the object it may read")
                resp.close()
            finally:
                if world is not shared:
                    world.close()
    finally:
        if shared:
            shared.close()
    assert not failures, f"{method} {path}\n" + "\n".join(failures)


def test_every_endpoint_declares_its_expectations(authz_app) -> None:
    routes = {
        (method, normalise(rule.rule))
        for rule in authz_app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    missing = sorted(routes - set(TABLE))
    stale = sorted(set(TABLE) - routes)
    message = []
    if missing:
        message.append(
            "These endpoints have no entry in tests/backend/api/authz_table.py (declare who may call them):\n  "
            + "\n  ".join(f"{m} {p}" for m, p in missing)
        )
    if stale:
        message.append("These entries match no endpoint any more:\n  " + "\n  ".join(f"{m} {p}" for m, p in stale))
    assert not message, "\n".join(message)


def test_world_callers_are_what_the_table_assumes(authz_app) -> None:
    world = World(authz_app)
    try:
        assert world.users["planner"].department_id == world.department_id
        assert world.users["planner_other"].department_id != world.department_id
        assert world.users["inspector"].inspector_id == world.inspector_id
        assert all(isinstance(world.values[k], uuid.UUID) for k in ("item_id", "version_id", "conflict_id"))
    finally:
        world.close()
