"""An in-process S3 server (moto) on 127.0.0.1 for any test that talks S3; reusable from any conftest."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

import pytest

ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key"  # noqa: S105 - moto accepts any credentials


@dataclass
class S3Server:
    """A running S3-compatible endpoint; `endpoint` is "host:port" (plain HTTP)."""

    endpoint: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = "us-east-1"
    _stop: list[object] = field(default_factory=list, repr=False)

    def url(self, bucket: str, **query: str) -> str:
        """A STORAGE_URL for `open_store` pointing at `bucket` on this server."""
        params = "&".join(f"{name}={value}" for name, value in {"secure": "false", **query}.items())
        return f"s3://{self.access_key}:{self.secret_key}@{self.endpoint}/{bucket}?{params}"

    def stop(self) -> None:
        for server in self._stop:
            server.stop()  # type: ignore[attr-defined]
        self._stop.clear()


def start_s3_server(timeout: float = 15.0) -> S3Server:
    """Start moto's threaded server on a free loopback port and return it once it accepts requests.

    Raises RuntimeError when it cannot start (moto missing, no port): callers decide to fail or skip,
    see `s3_server_or_skip`.
    """
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(f"moto[server] is not installed: {exc}") from exc

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    # ThreadedMotoServer.start() waits forever if the server thread dies while binding; bound the wait.
    starter = threading.Thread(target=server.start, daemon=True)
    starter.start()
    starter.join(timeout)
    if starter.is_alive():
        raise RuntimeError(f"moto server did not start within {timeout:.0f}s")
    host, port = server.get_host_and_port()
    return S3Server(endpoint=f"{host}:{port}", _stop=[server])


def s3_server_or_skip() -> S3Server:
    """Start the server; if that fails, fail under CI (CI=true) and skip with the reason elsewhere."""
    try:
        return start_s3_server()
    except Exception as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"S3 test server (moto) could not start in CI: {exc}")
        pytest.skip(f"S3 test server (moto) could not start: {exc}")
