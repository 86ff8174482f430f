"""S3-only behaviour: server-side write-once, servers without conditional writes, bucket setup, outages."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import uuid
from typing import Any

import pytest
import urllib3
from minio import Minio
from minio.error import S3Error

from storage import (
    InvalidParts,
    ObjectExists,
    S3Store,
    StorageMisconfigured,
    StorageUnavailable,
    UploadNotFound,
    evidence_key,
    open_store,
)
from tests.s3server import S3Server


def new_bucket() -> str:
    return f"t-{uuid.uuid4().hex[:20]}"


def s3_store(server: S3Server, bucket: str, **options: Any) -> S3Store:
    store = open_store(server.url(bucket), **options)
    assert isinstance(store, S3Store)
    return store


def test_write_once_is_enforced_by_the_server(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two API replicas racing past the stat check: the conditional PUT still lets only one win."""
    store = s3_store(s3_server, new_bucket(), create_bucket=True)
    data = b"first writer"
    key = evidence_key(hashlib.sha256(data).hexdigest())
    store.put(key, io.BytesIO(data), len(data))
    monkeypatch.setattr(store, "exists", lambda _key: False)
    with pytest.raises(ObjectExists):
        store.put(key, io.BytesIO(data), len(data))
    big = b"x" * (6 * 1024 * 1024)
    store2 = s3_store(s3_server, store.bucket, part_size=5 * 1024 * 1024)
    monkeypatch.setattr(store2, "exists", lambda _key: False)
    store2.put("derived/big", io.BytesIO(big), len(big))
    with pytest.raises(ObjectExists):  # multipart: If-None-Match on CompleteMultipartUpload
        store2.put("derived/big", io.BytesIO(big), len(big))


def test_falls_back_when_the_server_lacks_conditional_writes(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = s3_store(s3_server, new_bucket(), create_bucket=True)
    original = store._client._put_object

    def old_server(bucket: str, key: str, data: bytes, headers: dict[str, Any], **kwargs: Any) -> Any:
        if "If-None-Match" in headers:
            response = urllib3.HTTPResponse(body=b"", status=501)
            raise S3Error(
                response,
                "NotImplemented",
                "A header you provided implies functionality that is not implemented",
                key,
                "r",
                "h",
            )
        return original(bucket, key, data, headers, **kwargs)

    monkeypatch.setattr(store._client, "_put_object", old_server)
    store.put("derived/a", io.BytesIO(b"abc"), 3)
    assert store.health()["conditional_writes"] is False
    store.put("derived/b", io.BytesIO(b"def"), 3)  # no second round trip with the header
    with pytest.raises(ObjectExists):  # stat-before-write still guards
        store.put("derived/b", io.BytesIO(b"xyz"), 3)


def test_create_bucket_with_object_lock_when_retention_is_configured(s3_server: S3Server) -> None:
    bucket = new_bucket()
    store = s3_store(s3_server, bucket, retention_days=30, create_bucket=True)
    raw = Minio(
        s3_server.endpoint, s3_server.access_key, s3_server.secret_key, secure=False, region="us-east-1"
    )
    assert raw.get_object_lock_config(bucket) is not None
    assert store.health()["object_lock"] is True


def test_retention_on_a_bucket_without_object_lock_is_refused(s3_server: S3Server) -> None:
    bucket = new_bucket()
    s3_store(s3_server, bucket, create_bucket=True)  # no retention: plain bucket
    with pytest.raises(StorageMisconfigured):
        s3_store(s3_server, bucket, retention_days=30, create_bucket=True)
    report = s3_store(s3_server, bucket, retention_days=30).health()
    assert report["ok"] is False and report["object_lock"] is False


def test_missing_bucket(s3_server: S3Server) -> None:
    store = s3_store(s3_server, new_bucket())
    assert store.health()["ok"] is False
    with pytest.raises(StorageMisconfigured):
        store.put("derived/x", io.BytesIO(b"x"), 1)


def test_unreachable_server_is_unavailable_not_a_crash() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on `port` any more: every request is refused at once.
    store = S3Store(f"127.0.0.1:{port}", "key", "secret-value", "bucket", retries=0, connect_timeout=1)
    report = store.health()
    assert report["ok"] is False and "error" in report
    assert "secret-value" not in json.dumps(report) and "secret-value" not in repr(store)
    with pytest.raises(StorageUnavailable):
        store.stat("derived/x")
    with pytest.raises(StorageUnavailable):
        store.begin_multipart()


def test_completion_with_a_lost_pending_tail(s3_server: S3Server) -> None:
    store = s3_store(s3_server, new_bucket(), create_bucket=True)
    ref = store.begin_multipart()
    token = store.upload_part(ref, 1, io.BytesIO(b"small"), 5)
    assert token.startswith("pending:")
    store.purge_temp(older_than_seconds=-60)  # wipes the pending object *and* the upload
    with pytest.raises(UploadNotFound):
        store.complete_multipart(ref, [(1, token)])
    ref = store.begin_multipart()
    token = store.upload_part(ref, 1, io.BytesIO(b"small"), 5)
    store.delete(f"tmp/uploads/{ref.split(':')[1]}/pending-00001")  # only the tail is gone
    with pytest.raises(InvalidParts):
        store.complete_multipart(ref, [(1, token)])


def test_presign_for_a_public_endpoint(s3_server: S3Server) -> None:
    store = s3_store(s3_server, new_bucket(), presign_endpoint="https://files.example.org")
    url = store.presigned_get("derived/x.jpg", 60)
    assert url is not None and url.startswith("https://files.example.org/")


def test_plain_bucket_without_versioning(s3_server: S3Server) -> None:
    """A bucket without object lock (no retention) is unversioned: deletes and purges still work."""
    store = s3_store(s3_server, new_bucket(), create_bucket=True)
    store.put("derived/a.jpg", io.BytesIO(b"a"), 1)
    assert store.delete("derived/a.jpg") is True
    store.put("derived/a.jpg", io.BytesIO(b"b"), 1)
    ref = store.begin_multipart()
    token = store.upload_part(ref, 1, io.BytesIO(b"tail"), 4)
    stored = store.complete_multipart(ref, [(1, token)])
    assert stored.key == evidence_key(hashlib.sha256(b"tail").hexdigest())
    store.upload_part(store.begin_multipart(), 1, io.BytesIO(b"left behind"), 11)
    assert store.purge_temp(older_than_seconds=-60) == 2  # the pending tail and the unfinished upload
