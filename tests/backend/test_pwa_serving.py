"""The PWA's files under /app/: gzip for clients that accept it, the same bytes, caching headers kept."""

from __future__ import annotations

import gzip
from typing import Any

import pytest

import backend


@pytest.fixture
def dist(tmp_path, monkeypatch):
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>双随机检查</title>" + "<p>壳</p>" * 400, encoding="utf-8")
    (root / "assets" / "index-abc123.js").write_text("export const x = 1;\n" * 500)
    (root / "assets" / "tiny-1.css").write_text("a{}")
    (root / "icon.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(4000))
    (root / "sw.js").write_text("self.addEventListener('fetch', () => {});\n" * 100)
    monkeypatch.setattr(backend, "PWA_DIST", root)
    return root


def get(client, path: str, **headers: str) -> tuple[int, Any, bytes]:
    """Status, headers and body of a GET, the response closed (it may hold the served file open)."""
    with client.get(path, headers={k.replace("_", "-"): v for k, v in headers.items()}) as resp:
        return resp.status_code, resp.headers, resp.get_data()


def test_assets_are_gzipped_for_clients_that_accept_it(client, dist):
    status, plain_headers, plain = get(client, "/app/assets/index-abc123.js")
    assert status == 200 and "Content-Encoding" not in plain_headers
    assert "Accept-Encoding" in plain_headers["Vary"]
    status, headers, packed = get(client, "/app/assets/index-abc123.js", Accept_Encoding="gzip, deflate, br")
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed) == plain == (dist / "assets/index-abc123.js").read_bytes()
    assert len(packed) < len(plain) / 5
    assert headers["Content-Type"] == plain_headers["Content-Type"]
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert headers["ETag"] != plain_headers["ETag"]  # a variant of its own


def test_a_gzipped_asset_is_revalidated_with_304(client, dist):
    _status, first, _body = get(client, "/app/assets/index-abc123.js", Accept_Encoding="gzip")
    status, _headers, body = get(
        client, "/app/assets/index-abc123.js", Accept_Encoding="gzip", If_None_Match=first["ETag"]
    )
    assert status == 304 and not body


def test_shell_routes_and_service_worker_keep_no_cache(client, dist):
    for path in ("/app/", "/app/forms/123", "/app/sw.js"):
        status, headers, _body = get(client, path, Accept_Encoding="gzip")
        assert status == 200 and headers["Cache-Control"] == "no-cache" and headers["Content-Encoding"] == "gzip"
    _status, _headers, shell = get(client, "/app/forms/123", Accept_Encoding="gzip")
    assert gzip.decompress(shell) == (dist / "index.html").read_bytes()


def test_small_files_images_and_refusals_stay_identity(client, dist):
    for path in ("/app/assets/tiny-1.css", "/app/icon.png"):
        status, headers, body = get(client, path, Accept_Encoding="gzip")
        assert status == 200 and "Content-Encoding" not in headers
        assert body == (dist / path.removeprefix("/app/")).read_bytes()
    _status, headers, body = get(client, "/app/assets/index-abc123.js", Accept_Encoding="gzip;q=0")
    assert "Content-Encoding" not in headers and body == (dist / "assets/index-abc123.js").read_bytes()
