"""Departments, user accounts and working-day overrides: the administrator's tables."""

from __future__ import annotations

import pytest

from tests import factories


def assert_error(resp, code):
    assert resp.status_code == code, resp.get_json()
    return resp.get_json()


@pytest.fixture
def admin(session, app):
    user = factories.make_user(session, roles=["admin"], username="root")
    return user, factories.auth_headers(app, user)


def test_departments(client, admin, token_for):
    _, headers = admin
    created = client.post(
        "/api/v1/departments",
        json={"code": "SCJG-510802", "name": "广元市利州区市场监督管理局", "region_code": "510802", "level": "county"},
        headers=headers,
    )
    assert created.status_code == 201, created.get_json()
    dept = created.get_json()
    assert_error(client.post("/api/v1/departments", json={**dept, "id": None}, headers=headers), 422)
    dup = {"code": "SCJG-510802", "name": "重复", "region_code": "510802", "level": "county"}
    assert "code" in assert_error(client.post("/api/v1/departments", json=dup, headers=headers), 409)["errors"]
    bad = {"code": "X", "name": "X", "region_code": "51080", "level": "galaxy"}
    errors = assert_error(client.post("/api/v1/departments", json=bad, headers=headers), 422)["errors"]["json"]
    assert {"region_code", "level"} <= set(errors)
    cycle = client.patch(f"/api/v1/departments/{dept['id']}", json={"parent_id": dept["id"]}, headers=headers)
    assert "parent_id" in assert_error(cycle, 422)["errors"]
    renamed = client.patch(f"/api/v1/departments/{dept['id']}", json={"name": "新名称"}, headers=headers)
    assert renamed.get_json()["name"] == "新名称"
    inspector = token_for("inspector")
    assert len(client.get("/api/v1/departments", headers=inspector).get_json()) >= 1
    assert_error(client.patch(f"/api/v1/departments/{dept['id']}", json={"name": "x"}, headers=inspector), 403)


def test_user_lifecycle(client, session, app, admin):
    _, headers = admin
    dept = factories.make_department(session)
    insp = factories.make_inspector(session, department=dept)
    body = {
        "username": "wang.min",
        "display_name": "王敏",
        "password": "long-enough-1",
        "roles": ["inspector"],
        "inspector_id": str(insp.id),
    }
    created = client.post("/api/v1/users", json=body, headers=headers)
    assert created.status_code == 201, created.get_json()
    user = created.get_json()
    assert "password" not in user and "password_hash" not in user
    assert user["department_id"] == str(dept.id) and user["role_labels"] == ["执法检查人员"]
    login = client.post("/api/v1/auth/login", json={"username": "wang.min", "password": "long-enough-1"})
    assert login.status_code == 200
    refresh = login.get_json()["refresh_token"]
    # the same inspector cannot back a second account
    again = client.post("/api/v1/users", json={**body, "username": "other"}, headers=headers)
    assert "inspector_id" in assert_error(again, 409)["errors"]
    # role changes revoke sign-ins
    changed = client.patch(f"/api/v1/users/{user['id']}", json={"roles": ["inspector", "supervisor"]}, headers=headers)
    assert changed.status_code == 200 and changed.get_json()["roles"] == ["inspector", "supervisor"]
    assert_error(client.post("/api/v1/auth/refresh", json={"refresh_token": refresh}), 401)
    assert client.delete(f"/api/v1/users/{user['id']}", headers=headers).status_code == 204
    assert_error(client.post("/api/v1/auth/login", json={"username": "wang.min", "password": "long-enough-1"}), 401)
    listed = client.get("/api/v1/users", query_string={"active": "false"}, headers=headers).get_json()
    assert [u["username"] for u in listed] == ["wang.min"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "ab", "display_name": "x", "password": "long-enough-1", "roles": ["witness"]}, "username"),
        ({"username": "a b c", "display_name": "x", "password": "long-enough-1", "roles": ["witness"]}, "username"),
        ({"username": "abc", "display_name": "x", "password": "short", "roles": ["witness"]}, "password"),
        ({"username": "abc", "display_name": "x", "password": "long-enough-1", "roles": []}, "roles"),
        ({"username": "abc", "display_name": "x", "password": "long-enough-1", "roles": ["god"]}, "roles"),
        ({"username": "abc", "display_name": "", "password": "long-enough-1", "roles": ["witness"]}, "display_name"),
    ],
)
def test_user_validation_names_the_field(client, admin, body, field):
    _, headers = admin
    assert field in assert_error(client.post("/api/v1/users", json=body, headers=headers), 422)["errors"]["json"]


def test_user_rules_across_fields(client, session, admin):
    _, headers = admin
    base = {"username": "abc", "display_name": "x", "password": "long-enough-1"}
    no_dept = client.post("/api/v1/users", json={**base, "roles": ["planner"]}, headers=headers)
    assert "department_id" in assert_error(no_dept, 422)["errors"]
    no_link = client.post(
        "/api/v1/users",
        json={**base, "roles": ["inspector"], "department_id": str(factories.make_department(session).id)},
        headers=headers,
    )
    assert "inspector_id" in assert_error(no_link, 422)["errors"]
    factories.make_user(session, roles=["witness"], username="taken")
    assert (
        "username"
        in assert_error(
            client.post("/api/v1/users", json={**base, "username": "taken", "roles": ["witness"]}, headers=headers), 409
        )["errors"]
    )


def test_admin_cannot_lock_themselves_out(client, admin):
    user, headers = admin
    assert_error(client.delete(f"/api/v1/users/{user.id}", headers=headers), 409)
    assert_error(client.patch(f"/api/v1/users/{user.id}", json={"roles": ["witness"]}, headers=headers), 409)


def test_calendar_overrides(client, admin, token_for):
    _, headers = admin
    url = "/api/v1/calendar/overrides"
    assert (
        client.post(
            url, json={"day": "2026-10-10", "is_workday": True, "note": "调休上班"}, headers=headers
        ).status_code
        == 201
    )
    assert (
        "day"
        in assert_error(client.post(url, json={"day": "2026-10-10", "is_workday": False}, headers=headers), 409)[
            "errors"
        ]
    )
    assert client.post(url, json={"day": "2027-01-02", "is_workday": False}, headers=headers).status_code == 201
    assert [o["day"] for o in client.get(url, query_string={"year": 2026}, headers=headers).get_json()] == [
        "2026-10-10"
    ]
    assert client.patch(f"{url}/2026-10-10", json={"note": "改"}, headers=headers).get_json()["note"] == "改"
    assert "day" in assert_error(client.get(f"{url}/not-a-date", headers=headers), 422)["errors"]
    planner = token_for("planner")
    assert client.get(f"{url}/2026-10-10", headers=planner).status_code == 200
    assert_error(client.delete(f"{url}/2026-10-10", headers=planner), 403)
    assert client.delete(f"{url}/2026-10-10", headers=headers).status_code == 204
    assert_error(client.get(f"{url}/2026-10-10", headers=headers), 404)
