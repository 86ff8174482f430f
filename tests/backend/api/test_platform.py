"""Health, OpenAPI, docs and the one error shape for unknown routes and methods."""

from __future__ import annotations


def test_health_reports_database_and_store(client):
    resp = client.get("/api/health")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["store"]["ok"] is True


def test_openapi_and_docs(client):
    spec = client.get("/api/openapi.json")
    assert spec.status_code == 200
    doc = spec.get_json()
    assert doc["openapi"].startswith("3.")
    assert "/api/v1/auth/login" in doc["paths"]
    assert "bearerAuth" in doc["components"]["securitySchemes"]
    page = client.get("/api/docs")
    assert page.status_code == 200 and b"swagger" in page.data.lower()
    asset = client.get("/api/docs/static/swagger-ui-bundle.js")
    assert asset.status_code == 200
    asset.close()


def test_unknown_api_route_uses_error_shape(client):
    resp = client.get("/api/v1/nothing-here")
    assert resp.status_code == 404
    body = resp.get_json()
    assert body["code"] == 404 and body["message"] and "errors" in body


def test_wrong_method_uses_error_shape(client):
    resp = client.get("/api/v1/auth/login")
    assert resp.status_code == 405
    assert resp.get_json()["code"] == 405


def test_portal_404_is_a_page(client):
    resp = client.get("/no-such-page")
    assert resp.status_code == 404
    assert "text/html" in resp.content_type
    assert "返回首页" in resp.get_data(as_text=True)
