"""Sign-in, token validation and refresh-token rotation with reuse detection."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from tests import factories
from tests.conftest import JWT_SECRET


@pytest.fixture
def user(session):
    return factories.make_user(session, roles=["planner"], username="planner1")


def login(client, username="planner1", password=factories.PASSWORD):
    return client.post("/api/v1/auth/login", json={"username": username, "password": password})


def assert_error_shape(resp, code):
    assert resp.status_code == code, resp.get_json()
    body = resp.get_json()
    assert set(body) >= {"code", "status", "message", "errors"}
    assert body["code"] == code
    return body


def test_login_returns_pair_and_user(client, user):
    resp = login(client)
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] <= 900
    assert body["user"]["username"] == "planner1"
    assert body["user"]["roles"] == ["planner"]
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.get_json()["id"] == str(user.id)


def test_wrong_password_and_unknown_user_look_the_same(client, user):
    a = assert_error_shape(login(client, password="nope"), 401)
    b = assert_error_shape(login(client, username="ghost"), 401)
    assert a["message"] == b["message"] == "用户名或密码错误"


def test_login_validation_names_the_field(client):
    body = assert_error_shape(client.post("/api/v1/auth/login", json={"username": "x"}), 422)
    assert "password" in body["errors"]["json"]


def test_login_is_rate_limited(client, user):
    codes = [login(client, password="bad").status_code for _ in range(12)]
    assert codes[:10] == [401] * 10
    assert 429 in codes[10:]
    assert_error_shape(login(client), 429)


def _claims(**over):
    now = datetime.now(UTC)
    claims = {
        "sub": "00000000-0000-0000-0000-000000000000",
        "jti": "x1",
        "iss": "shuangsui",
        "aud": "shuangsui-api",
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=5),
        "typ": "access",
    }
    claims.update(over)
    return claims


def _me(client, token):
    return client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})


def test_expired_token(client, user):
    token = jwt.encode(
        _claims(sub=str(user.id), exp=datetime.now(UTC) - timedelta(seconds=5)), JWT_SECRET, algorithm="HS256"
    )
    assert "过期" in assert_error_shape(_me(client, token), 401)["message"]


def test_alg_none_is_refused(client, user):
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=")
    claims = _claims(sub=str(user.id))
    claims = {k: (int(v.timestamp()) if isinstance(v, datetime) else v) for k, v in claims.items()}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    token = (header + b"." + payload + b".").decode()
    assert_error_shape(_me(client, token), 401)


def test_wrong_signature_and_wrong_audience(client, user):
    forged = jwt.encode(_claims(sub=str(user.id)), "another-secret-0123456789abcdef0123", algorithm="HS256")
    assert_error_shape(_me(client, forged), 401)
    wrong_aud = jwt.encode(_claims(sub=str(user.id), aud="someone-else"), JWT_SECRET, algorithm="HS256")
    assert_error_shape(_me(client, wrong_aud), 401)
    wrong_iss = jwt.encode(_claims(sub=str(user.id), iss="evil"), JWT_SECRET, algorithm="HS256")
    assert_error_shape(_me(client, wrong_iss), 401)


def test_missing_or_malformed_header(client):
    assert_error_shape(client.get("/api/v1/auth/me"), 401)
    assert_error_shape(client.get("/api/v1/auth/me", headers={"Authorization": "Basic abc"}), 401)
    assert_error_shape(_me(client, "not.a.jwt"), 401)


def test_token_types_are_not_interchangeable(client, user):
    pair = login(client).get_json()
    # refresh token used as an access token
    assert "类型" in assert_error_shape(_me(client, pair["refresh_token"]), 401)["message"]
    # access token used as a refresh token
    resp = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["access_token"]})
    assert "类型" in assert_error_shape(resp, 401)["message"]


def test_refresh_rotates_and_reuse_revokes_the_family(client, user):
    first = login(client).get_json()
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    second = second.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    # replaying the first (already used) token is theft: the whole family dies
    replay = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert "重复使用" in assert_error_shape(replay, 401)["message"]
    after = client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert_error_shape(after, 401)
    # a separate sign-in is a separate family and still works
    other = login(client).get_json()
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]}).status_code == 200


def test_logout_revokes(client, user):
    pair = login(client).get_json()
    assert client.post("/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]}).status_code == 204
    assert_error_shape(client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}), 401)


def test_deactivated_user_token_stops_working(client, session, user):
    pair = login(client).get_json()
    user.active = False
    session.add(user)
    session.commit()
    assert_error_shape(_me(client, pair["access_token"]), 401)
