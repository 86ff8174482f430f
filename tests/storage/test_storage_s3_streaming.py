"""S3 bodies relayed while they arrive: evidence PUTs signed with their own hash, parts signed piece by piece."""

from __future__ import annotations

import hashlib
import io
import os
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
import urllib3
from minio.credentials import Credentials
from minio.signer import sign_v4_s3

from storage import (
    DigestMismatch,
    IncompleteStream,
    ObjectExists,
    S3Store,
    StorageUnavailable,
    evidence_key,
    open_store,
)
from storage.s3 import STREAM_PIECE, _ChunkSignedBody, _signing_key
from tests.s3server import S3Server

MiB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def s3_store(server: S3Server, **options: Any) -> S3Store:
    from uuid import uuid4

    store = open_store(server.url(f"t-{uuid4().hex[:20]}", create_bucket="true"), **options)
    assert isinstance(store, S3Store)
    return store


class Recording(io.RawIOBase):
    """A caller's stream that records how much was asked for and taken, and can fail after `fail_after`."""

    def __init__(self, data: bytes, fail_after: int | None = None, error: Exception | None = None) -> None:
        super().__init__()
        self._data = memoryview(data)
        self.taken = 0
        self.largest_read = 0
        self._fail_after = fail_after
        self._error = error or ConnectionError("client disconnected")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._fail_after is not None and self.taken >= self._fail_after:
            raise self._error
        self.largest_read = max(self.largest_read, len(buffer))
        n = min(len(buffer), len(self._data) - self.taken)
        buffer[:n] = self._data[self.taken : self.taken + n]
        self.taken += n
        return n


def test_chunk_signatures_match_the_aws_example() -> None:
    """AWS's published STREAMING-AWS4-HMAC-SHA256-PAYLOAD example (66,560 bytes of 'a' in 64 KiB chunks): the
    seed signature comes from the SDK's signer, the chain and the framing from _ChunkSignedBody. moto does not
    check chunk signatures, so this is what keeps them right for AWS and MinIO."""
    date = datetime(2013, 5, 24, tzinfo=UTC)
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # noqa: S105 - AWS's documentation example
    headers = sign_v4_s3(
        method="PUT",
        url=urlsplit("https://s3.amazonaws.com/examplebucket/chunkObject.txt"),
        region="us-east-1",
        headers={
            "Host": "s3.amazonaws.com",
            "x-amz-date": "20130524T000000Z",
            "x-amz-storage-class": "REDUCED_REDUNDANCY",
            "Content-Encoding": "aws-chunked",
            "Content-Length": "66824",
            "x-amz-decoded-content-length": "66560",
            "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        },
        credentials=Credentials("AKIAIOSFODNN7EXAMPLE", secret),
        content_sha256="STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        date=date,
    )
    seed = str(headers["Authorization"]).rpartition("Signature=")[2]
    assert seed == "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    # The first 64 KiB come from a pending tail (prefix), the rest from the caller's stream.
    body = _ChunkSignedBody(io.BytesIO(b"a" * 1024), 1024, prefix=b"a" * 65536, piece=65536)
    body.sign_with(_signing_key(secret, "20130524", "us-east-1"), "20130524T000000Z", "20130524/us-east-1/s3/aws4_request", seed)
    wire = b"".join(bytes(frame) for frame in body)
    assert len(body) == len(wire) == 66824
    assert re.findall(rb"(?:^|\n)([0-9a-f]+);chunk-signature=([0-9a-f]{64})\r\n", wire) == [
        (b"10000", b"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"),
        (b"400", b"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"),
        (b"0", b"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"),
    ]
    assert wire.endswith(b"\r\n\r\n")


def test_evidence_put_is_relayed_in_pieces_without_a_head_first(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = s3_store(s3_server)
    data = os.urandom(3 * MiB + 17)
    source = Recording(data)
    monkeypatch.setattr(store, "exists", lambda key: pytest.fail(f"HEAD {key} before a conditional write"))
    stored = store.put(evidence_key(sha(data)), source, len(data), "video/mp4")
    assert (stored.sha256, stored.size) == (sha(data), len(data))
    assert source.largest_read <= STREAM_PIECE  # never the whole body in memory
    monkeypatch.undo()
    with store.get(stored.key) as reader:
        assert reader.read() == data
    assert store.stat(stored.key).content_type == "video/mp4"


def test_a_mismatching_body_is_never_completed(s3_server: S3Server) -> None:
    """moto does not check x-amz-content-sha256: only withholding the last piece keeps the object out."""
    store = s3_store(s3_server)
    data = os.urandom(2 * MiB)
    declared = sha(data[:-1] + bytes([data[-1] ^ 1]))  # certainly not the hash of `data`
    with pytest.raises(DigestMismatch) as raised:
        store.put(evidence_key(declared), io.BytesIO(data), len(data))
    assert raised.value.details["actual"] == sha(data)
    assert not store.exists(evidence_key(declared))


@pytest.mark.parametrize("error", [ConnectionError("client disconnected"), ValueError("refused by a caller check")])
def test_a_body_that_stops_early_stores_nothing(s3_server: S3Server, error: Exception) -> None:
    store = s3_store(s3_server)
    data = os.urandom(2 * MiB)
    key = evidence_key(sha(data))
    with pytest.raises(type(error)):  # the caller's own error, not a transport error
        store.put(key, Recording(data, fail_after=MiB, error=error), len(data))
    assert not store.exists(key)
    with pytest.raises(IncompleteStream):
        store.put(key, io.BytesIO(data[:MiB]), len(data))
    assert not store.exists(key)
    store.put(key, io.BytesIO(data), len(data))  # and the connection pool is still usable
    assert store.exists(key)


def test_a_duplicate_is_refused_by_the_server_and_its_body_still_verified(s3_server: S3Server) -> None:
    store = s3_store(s3_server)
    data = os.urandom(MiB + 5)
    key = evidence_key(sha(data))
    store.put(key, io.BytesIO(data), len(data))
    source = Recording(data)
    with pytest.raises(ObjectExists):
        store.put(key, source, len(data))
    assert source.taken == len(data)
    tampered = data[:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(DigestMismatch):  # same key, other bytes: not "the same content"
        store.put(key, io.BytesIO(tampered), len(tampered))


def test_streamed_put_on_a_server_without_conditional_writes(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The body cannot be replayed, so the first PUT fails as unavailable (the tus client retries); from then
    on a HEAD guards the write, as for buffered bodies."""
    store = s3_store(s3_server)
    http = store._client._http
    original = http.urlopen

    def old_server(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        headers = kwargs.get("headers") or {}
        if method == "PUT" and "If-None-Match" in headers:
            body = b"<Error><Code>NotImplemented</Code><Message>not implemented</Message></Error>"
            return urllib3.HTTPResponse(body=body, status=501, headers={"Content-Type": "application/xml"})
        return original(method, url, *args, **kwargs)

    monkeypatch.setattr(http, "urlopen", old_server)
    data = os.urandom(1000)
    key = evidence_key(sha(data))
    with pytest.raises(StorageUnavailable):
        store.put(key, io.BytesIO(data), len(data))
    assert store.health()["conditional_writes"] is False
    store.put(key, io.BytesIO(data), len(data))
    with pytest.raises(ObjectExists):
        store.put(key, io.BytesIO(data), len(data))


def test_parts_are_relayed_and_an_interrupted_part_changes_nothing(s3_server: S3Server) -> None:
    store = s3_store(s3_server)
    first, second = os.urandom(6 * MiB), os.urandom(5 * MiB + 3)
    ref = store.begin_multipart("evidence/x")
    source = Recording(first)
    parts = [(1, store.upload_part(ref, 1, source, len(first)))]
    assert source.largest_read <= STREAM_PIECE
    with pytest.raises(ConnectionError):  # the client went away half-way through part 2
        store.upload_part(ref, 2, Recording(second, fail_after=2 * MiB), len(second))
    parts.append((2, store.upload_part(ref, 2, io.BytesIO(second), len(second))))
    stored = store.complete_multipart(ref, parts, expected_sha256=sha(first + second))
    with store.get(stored.key) as reader:
        assert reader.read() == first + second


def test_parts_under_retention_keep_their_content_md5(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """Object lock wants a Content-MD5 per part, which needs the whole part: those stay buffered."""
    store = s3_store(s3_server, retention_days=1)
    monkeypatch.setattr(store, "_upload_part_streamed", lambda *a: pytest.fail("streamed under retention"))
    data = os.urandom(5 * MiB)
    ref = store.begin_multipart("evidence/y")
    parts = [(1, store.upload_part(ref, 1, io.BytesIO(data), len(data)))]
    assert store.complete_multipart(ref, parts).sha256 == sha(data)


def test_a_stale_connection_before_the_body_started_is_retried_once(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = s3_store(s3_server)
    http = store._client._http
    original = http.urlopen
    failures: list[str] = []

    def flaky(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if method == "PUT" and not failures:
            failures.append(url)
            raise urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
        return original(method, url, *args, **kwargs)

    monkeypatch.setattr(http, "urlopen", flaky)
    data = os.urandom(300_000)
    stored = store.put(evidence_key(sha(data)), io.BytesIO(data), len(data))
    assert failures and stored.sha256 == sha(data)
