"""The ObjectStore contract against every backend: local disk, moto's S3 and (when configured) real MinIO."""

from __future__ import annotations

import hashlib
import io
import json
import os
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image

from storage import (
    DigestMismatch,
    IncompleteStream,
    InvalidKey,
    InvalidParts,
    InvalidRange,
    ObjectExists,
    ObjectLocked,
    ObjectNotFound,
    ObjectStore,
    PartTooLarge,
    UploadNotFound,
    evidence_key,
)
from storage.media import poster_frame
from tests.media_clips import encoded_clip, needs_ffmpeg

if TYPE_CHECKING:
    from tests.storage.conftest import Backend

MiB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put_bytes(store: ObjectStore, key: str, data: bytes, content_type: str = "application/octet-stream"):
    return store.put(key, io.BytesIO(data), len(data), content_type)


def read_all(store: ObjectStore, key: str, **kwargs: int) -> bytes:
    with store.get(key, **kwargs) as reader:
        return reader.read()


def upload(
    store: ObjectStore, chunks: list[bytes], ref: str | None = None
) -> tuple[str, list[tuple[int, str]]]:
    ref = ref or store.begin_multipart("evidence/test")
    parts = [
        (n, store.upload_part(ref, n, io.BytesIO(chunk), len(chunk))) for n, chunk in enumerate(chunks, 1)
    ]
    return ref, parts


def test_store_satisfies_protocol(store: ObjectStore, backend: Backend) -> None:
    assert isinstance(store, ObjectStore)
    assert store.backend == ("local" if backend.name == "local" else "s3")


# -- put / get / stat ----------------------------------------------------------------------------------------


def test_put_then_get_stat_exists(store: ObjectStore) -> None:
    data = os.urandom(70_000)
    stored = put_bytes(store, "derived/thumb/a.jpg", data, "image/jpeg")
    assert stored.sha256 == sha(data) and stored.size == len(data) and stored.key == "derived/thumb/a.jpg"
    assert store.exists("derived/thumb/a.jpg")
    info = store.stat("derived/thumb/a.jpg")
    assert (info.size, info.content_type) == (len(data), "image/jpeg")
    assert info.last_modified.tzinfo is not None
    with store.get("derived/thumb/a.jpg") as reader:
        assert reader.size == len(data)
        assert b"".join(reader) == data  # iteration yields chunks, not lines


def test_zero_byte_object(store: ObjectStore) -> None:
    put_bytes(store, "derived/empty", b"")
    assert store.stat("derived/empty").size == 0
    assert read_all(store, "derived/empty") == b""


def test_evidence_is_content_addressed_and_verified(store: ObjectStore) -> None:
    data = b"photo bytes"
    key = evidence_key(sha(data))
    assert put_bytes(store, key, data, "image/jpeg").sha256 == sha(data)
    with pytest.raises(DigestMismatch):
        put_bytes(store, evidence_key(sha(b"other")), b"not the other bytes")
    assert not store.exists(evidence_key(sha(b"other")))


def test_put_never_overwrites(store: ObjectStore) -> None:
    put_bytes(store, "derived/display/x.jpg", b"first")
    with pytest.raises(ObjectExists):
        put_bytes(store, "derived/display/x.jpg", b"second")
    assert read_all(store, "derived/display/x.jpg") == b"first"


def test_put_short_stream_stores_nothing(store: ObjectStore) -> None:
    with pytest.raises(IncompleteStream):
        store.put("derived/short", io.BytesIO(b"abc"), 10)
    assert not store.exists("derived/short")


def test_large_put_goes_in_parts_and_stays_write_once(backend: Backend) -> None:
    store = backend.open(part_size=5 * MiB) if backend.name != "local" else backend.open()
    data = os.urandom(11 * MiB + 123)
    key = evidence_key(sha(data))
    assert put_bytes(store, key, data, "video/mp4").size == len(data)
    assert read_all(store, key) == data
    with pytest.raises(ObjectExists):
        put_bytes(store, key, data)
    corrupt = bytearray(data)
    corrupt[-1] ^= 0xFF
    with pytest.raises(DigestMismatch):
        put_bytes(store, evidence_key(sha(data + b"x")), bytes(corrupt) + b"x")
    assert not store.exists(evidence_key(sha(data + b"x")))


def test_range_reads(store: ObjectStore) -> None:
    data = bytes(range(256)) * 40
    put_bytes(store, "derived/range", data)
    assert read_all(store, "derived/range", start=100, length=50) == data[100:150]
    assert read_all(store, "derived/range", start=10_000) == data[10_000:]
    assert read_all(store, "derived/range", start=10_200, length=500) == data[10_200:]
    with pytest.raises(InvalidRange):
        store.get("derived/range", start=len(data))


def test_missing_objects(store: ObjectStore) -> None:
    assert not store.exists("derived/nope")
    with pytest.raises(ObjectNotFound):
        store.stat("derived/nope")
    with pytest.raises(ObjectNotFound):
        store.get("derived/nope")
    assert store.delete("derived/nope") is False


@pytest.mark.parametrize(
    "key", ["", "/abs", "a//b", "../escape", "a/../b", ".tmp/x", "a\\b", "a\nb", "sha256/zz"]
)
def test_unsafe_keys_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidKey):
        put_bytes(store, key, b"x")


def test_delete_only_derivatives(store: ObjectStore) -> None:
    put_bytes(store, "derived/thumb/b.jpg", b"thumb")
    assert store.delete("derived/thumb/b.jpg") is True
    assert not store.exists("derived/thumb/b.jpg")
    put_bytes(store, "derived/thumb/b.jpg", b"thumb again")  # a deleted derivative can be regenerated
    data = b"evidence"
    put_bytes(store, evidence_key(sha(data)), data)
    with pytest.raises(ObjectLocked):
        store.delete(evidence_key(sha(data)))
    assert store.exists(evidence_key(sha(data)))


# -- retention -----------------------------------------------------------------------------------------------


def test_retention_applies_to_evidence(backend: Backend) -> None:
    store = backend.open(retention_days=2, retention_mode="GOVERNANCE")
    data = os.urandom(1000)
    key = evidence_key(sha(data))
    put_bytes(store, key, data)
    info = store.stat(key)
    assert info.retention_mode == "GOVERNANCE"
    assert info.retain_until is not None
    expected = datetime.now(UTC) + timedelta(days=2)
    assert abs((info.retain_until - expected).total_seconds()) < 3600
    put_bytes(store, "derived/thumb/c.jpg", b"thumb")
    assert store.stat("derived/thumb/c.jpg").retention_mode is None
    store.put("derived/report.pdf", io.BytesIO(b"%PDF"), 4, "application/pdf", retain=True)
    with pytest.raises(ObjectLocked):
        store.delete("derived/report.pdf")
    if backend.raw is not None:
        # The server itself refuses, not only this library: remove the locked version directly.
        version = backend.raw.stat_object(str(backend.bucket), key).version_id
        with pytest.raises(Exception, match="AccessDenied"):
            backend.raw.remove_object(str(backend.bucket), key, version_id=version)


def test_retention_on_assembled_upload(backend: Backend) -> None:
    store = backend.open(retention_days=1, retention_mode="COMPLIANCE")
    data = os.urandom(6 * MiB)
    ref, parts = upload(store, [data[: 5 * MiB], data[5 * MiB :]])
    stored = store.complete_multipart(ref, parts, expected_sha256=sha(data), content_type="video/mp4")
    info = store.stat(stored.key)
    assert info.retention_mode == "COMPLIANCE" and info.retain_until is not None
    assert info.content_type == "video/mp4"


# -- resumable uploads ---------------------------------------------------------------------------------------


def test_multipart_with_small_chunks_anywhere(backend: Backend) -> None:
    store = backend.open()
    # 8 MiB, an interrupted PATCH that delivered 3 MiB, two 1 MiB pieces, 5 MiB, and a small last chunk.
    chunks = [os.urandom(size) for size in (8 * MiB, 3 * MiB, 1 * MiB, 1 * MiB, 5 * MiB, 300)]
    whole = b"".join(chunks)
    ref, parts = upload(store, chunks)
    stored = store.complete_multipart(ref, parts, expected_sha256=sha(whole), content_type="video/mp4")
    assert stored.key == evidence_key(sha(whole))
    assert (stored.size, stored.sha256, stored.deduplicated) == (len(whole), sha(whole), False)
    assert read_all(store, stored.key) == whole
    assert store.stat(stored.key).content_type == "video/mp4"
    assert backend.temp_names() == []


def test_single_small_chunk_upload(store: ObjectStore) -> None:
    ref, parts = upload(store, [b"tiny photo"])
    stored = store.complete_multipart(ref, parts)
    assert stored.key == evidence_key(sha(b"tiny photo"))
    assert read_all(store, stored.key) == b"tiny photo"


def test_resume_from_serialized_state_in_a_fresh_store(backend: Backend) -> None:
    chunks = [os.urandom(size) for size in (6 * MiB, 2 * MiB, 4 * MiB, 700_000)]
    whole = b"".join(chunks)
    first = backend.open()
    ref, parts = upload(first, chunks[:2])
    # What the API keeps in its database between requests: strings and ints only.
    saved = json.dumps({"upload_ref": ref, "parts": parts})
    del first

    state = json.loads(saved)
    second = backend.open()  # another replica, after a restart
    ref, parts = state["upload_ref"], state["parts"]
    # The client re-sends chunk 3 after a dropped response: the same part number simply replaces it.
    second.upload_part(ref, 3, io.BytesIO(chunks[2]), len(chunks[2]))
    parts.append([3, second.upload_part(ref, 3, io.BytesIO(chunks[2]), len(chunks[2]))])
    parts.append([4, second.upload_part(ref, 4, io.BytesIO(chunks[3]), len(chunks[3]))])
    stored = backend.open().complete_multipart(ref, json.loads(json.dumps(parts)), expected_sha256=sha(whole))
    assert read_all(second, stored.key) == whole
    assert backend.temp_names() == []


def test_retried_chunk_of_different_size_replaces_the_first_attempt(store: ObjectStore) -> None:
    """A chunk first buffered as a small pending tail, then re-sent whole, must not be counted twice."""
    head, middle, tail = os.urandom(5 * MiB), os.urandom(6 * MiB), os.urandom(1000)
    ref = store.begin_multipart()
    parts = [(1, store.upload_part(ref, 1, io.BytesIO(head), len(head)))]
    store.upload_part(ref, 2, io.BytesIO(middle[: 1 * MiB]), 1 * MiB)  # interrupted, token never recorded
    parts.append((2, store.upload_part(ref, 2, io.BytesIO(middle), len(middle))))
    parts.append((3, store.upload_part(ref, 3, io.BytesIO(tail), len(tail))))
    stored = store.complete_multipart(ref, parts)
    assert read_all(store, stored.key) == head + middle + tail


def test_digest_mismatch_discards_the_upload(backend: Backend) -> None:
    store = backend.open()
    ref, parts = upload(store, [os.urandom(1000)])
    with pytest.raises(DigestMismatch):
        store.complete_multipart(ref, parts, expected_sha256="0" * 64)
    assert not store.exists(evidence_key("0" * 64))
    assert backend.temp_names() == []
    with pytest.raises(UploadNotFound):
        store.upload_part(ref, 2, io.BytesIO(b"more"), 4)


def test_reuploading_stored_evidence_is_idempotent(store: ObjectStore) -> None:
    data = os.urandom(5000)
    ref, parts = upload(store, [data])
    assert store.complete_multipart(ref, parts).deduplicated is False
    ref, parts = upload(store, [data[:2000], data[2000:]])
    again = store.complete_multipart(ref, parts, expected_sha256=sha(data))
    assert again.deduplicated is True and again.key == evidence_key(sha(data))


def test_complete_to_named_key_is_write_once(store: ObjectStore) -> None:
    ref, parts = upload(store, [b"report v1"])
    assert store.complete_multipart(ref, parts, "derived/report.pdf").key == "derived/report.pdf"
    ref, parts = upload(store, [b"report v2"])
    with pytest.raises(ObjectExists):
        store.complete_multipart(ref, parts, "derived/report.pdf")
    assert read_all(store, "derived/report.pdf") == b"report v1"


def test_abort_discards_everything(backend: Backend) -> None:
    store = backend.open()
    ref, _parts = upload(store, [os.urandom(6 * MiB), b"pending tail"])
    store.abort_multipart(ref)
    assert backend.temp_names() == []
    with pytest.raises(UploadNotFound):
        store.upload_part(ref, 3, io.BytesIO(b"late"), 4)
    with pytest.raises(UploadNotFound):
        store.abort_multipart(ref)


def test_upload_argument_checks(store: ObjectStore) -> None:
    ref = store.begin_multipart()
    with pytest.raises(PartTooLarge):
        store.upload_part(ref, 1, io.BytesIO(b""), store.max_part_size + 1)
    with pytest.raises(InvalidParts):
        store.upload_part(ref, 0, io.BytesIO(b"x"), 1)
    with pytest.raises(InvalidParts):
        store.upload_part(ref, 1, io.BytesIO(b""), 0)
    with pytest.raises(IncompleteStream):
        store.upload_part(ref, 1, io.BytesIO(b"abc"), 5)
    token = store.upload_part(ref, 1, io.BytesIO(b"abc"), 3)
    with pytest.raises(InvalidParts):
        store.complete_multipart(ref, [(2, token)])
    with pytest.raises(InvalidParts):
        store.complete_multipart(ref, [(1, "forged")])
    for unknown in ("", "nonsense", "local:" + "0" * 32, "s3:" + "0" * 32 + ":nope"):
        with pytest.raises(UploadNotFound):
            store.upload_part(unknown, 1, io.BytesIO(b"x"), 1)


def test_purge_temp_removes_stale_uploads(backend: Backend) -> None:
    store = backend.open()
    ref, _parts = upload(store, [b"abandoned"])
    assert store.purge_temp(older_than_seconds=3600) == 0
    assert backend.temp_names() != []
    assert store.purge_temp(older_than_seconds=-60) >= 1
    assert backend.temp_names() == []
    with pytest.raises(UploadNotFound):
        store.complete_multipart(ref, _parts)


# -- serving and health --------------------------------------------------------------------------------------


def test_presigned_get(store: ObjectStore, backend: Backend) -> None:
    data = os.urandom(4096)
    put_bytes(store, "derived/share.bin", data, "application/pdf")
    url = store.presigned_get("derived/share.bin", 120, download_name="检查报告.pdf")
    if backend.name == "local":
        assert url is None  # the API streams it itself
        return
    assert url is not None
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback test server
        assert response.read() == data
        served = response.headers.get("Content-Disposition")
    # The download name is part of the signed request; moto ignores such overrides, MinIO and AWS apply them.
    signed = parse_qs(urlsplit(url).query)["response-content-disposition"][0]
    assert "filename*=UTF-8''%E6%A3%80%E6%9F%A5%E6%8A%A5%E5%91%8A.pdf" in signed
    if backend.name == "minio":
        assert served == signed


def test_tool_source_reads_the_object_in_place(store: ObjectStore, backend: Backend) -> None:
    data = os.urandom(3000)
    put_bytes(store, "derived/tool.bin", data, "application/octet-stream")
    source = store.tool_source("derived/tool.bin", 60)
    if backend.name == "local":
        assert Path(source).read_bytes() == data
    else:
        # Signed for the API's own endpoint, readable with a range request (what ffmpeg sends).
        request = urllib.request.Request(source, headers={"Range": "bytes=100-199"})  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback test server
            assert response.read() == data[100:200]
    with pytest.raises(ObjectNotFound):
        store.tool_source("derived/missing.bin")


@needs_ffmpeg
def test_poster_frame_from_the_store(store: ObjectStore, tmp_path: Path) -> None:
    """ffmpeg reads the video where the store keeps it; `moov` at the end, as phones often write it."""
    data = encoded_clip(tmp_path / "clip.mp4")
    assert data.index(b"moov") > data.index(b"mdat")
    key = evidence_key(sha(data))
    store.put(key, io.BytesIO(data), len(data), "video/mp4")
    still = poster_frame(store.tool_source(key), mime="video/mp4", max_px=160)
    assert still is not None and still.startswith(b"\xff\xd8")
    assert max(Image.open(io.BytesIO(still)).size) == 160


def test_health(store: ObjectStore, backend: Backend) -> None:
    report = store.health()
    assert report["ok"] is True
    assert report["backend"] == store.backend
    if backend.name != "local":
        assert report["object_lock"] is True
