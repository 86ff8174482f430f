"""tests/s3server.py: a missing S3 test server fails CI and only skips on a developer's machine."""

from __future__ import annotations

import pytest

from tests import s3server


def _broken() -> s3server.S3Server:
    raise RuntimeError("port in use")


def test_ci_fails_when_moto_cannot_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3server, "start_s3_server", _broken)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="could not start in CI: port in use"):
        s3server.s3_server_or_skip()


def test_elsewhere_it_skips_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3server, "start_s3_server", _broken)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="port in use"):
        s3server.s3_server_or_skip()


def test_server_url_round_trips_through_open_store(s3_server: s3server.S3Server) -> None:
    from storage import S3Store, open_store

    store = open_store(s3_server.url("t-url-check", create_bucket="true"))
    assert isinstance(store, S3Store) and store.health()["ok"] is True
