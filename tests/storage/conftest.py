"""Fixtures for the storage tests: every ObjectStore backend behind one `backend` fixture.

The moto server comes from the session fixture `s3_server` in tests/conftest.py (built on tests/s3server.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from minio import Minio

from storage import LocalStore, ObjectStore, open_store
from tests.s3server import S3Server


@dataclass
class Backend:
    """One place bytes can live. `open()` returns a *new* store object on the same folder or bucket."""

    name: str
    open: Callable[..., ObjectStore]
    raw: Minio | None = None
    bucket: str | None = None
    root: Path | None = None

    def temp_names(self) -> list[str]:
        """Every temporary object or file left behind (uploads in progress, pending tails)."""
        if self.raw is not None and self.bucket is not None:
            return [
                str(obj.object_name)
                for obj in self.raw.list_objects(
                    self.bucket, prefix="tmp/", recursive=True, include_version=True
                )
            ]
        assert self.root is not None
        tmp = self.root / ".tmp"
        return [str(path.relative_to(tmp)) for path in tmp.rglob("*") if path.is_file()]


def _s3_backend(name: str, endpoint: str, access_key: str, secret_key: str, secure: bool) -> Backend:
    bucket = f"t-{uuid.uuid4().hex[:20]}"
    raw = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region="us-east-1")
    # Like production (docker-compose): the bucket is created with object lock, hence versioned.
    raw.make_bucket(bucket, object_lock=True)
    query = f"secure={'true' if secure else 'false'}&region=us-east-1"
    url = f"s3://{access_key}:{secret_key}@{endpoint}/{bucket}?{query}"

    def open_(**options: Any) -> ObjectStore:
        return open_store(url, **options)

    return Backend(name, open_, raw=raw, bucket=bucket)


# Real MinIO joins the matrix only when configured, so a normal run shows no wall of skips.
BACKENDS = ["local", "moto"] + (["minio"] if os.environ.get("MINIO_ENDPOINT") else [])


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        root = tmp_path / "store"

        def open_local(**options: Any) -> ObjectStore:
            return LocalStore(root, **options)

        return Backend("local", open_local, root=root)
    if request.param == "moto":
        server: S3Server = request.getfixturevalue("s3_server")
        return _s3_backend("moto", server.endpoint, server.access_key, server.secret_key, secure=False)
    return _s3_backend(
        "minio",
        os.environ["MINIO_ENDPOINT"],
        os.environ.get("MINIO_ACCESS_KEY", "minioadmin"),
        os.environ.get("MINIO_SECRET_KEY", "minioadmin"),
        secure=os.environ.get("MINIO_SECURE", "false").lower() == "true",
    )


@pytest.fixture
def store(backend: Backend) -> ObjectStore:
    return backend.open()
