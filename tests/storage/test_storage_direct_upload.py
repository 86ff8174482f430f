"""begin_multipart(final_key=evidence_key(declared)): uploads written straight onto their content address."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from storage import DigestMismatch, evidence_key

MiB = 1024 * 1024


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _send(store, ref, chunks, start=1, previous=None):
    parts = []
    for number, chunk in enumerate(chunks, start=start):
        token = store.upload_part(ref, number, io.BytesIO(chunk), len(chunk), previous_token=previous)
        parts.append((number, token))
        previous = token
    return parts


@pytest.mark.parametrize("sizes", [[6 * MiB, 1000], [1000, 2000, 6 * MiB, 3000]], ids=["parts", "pending"])
def test_direct_upload_is_invisible_until_verified_completion(backend, sizes):
    store = backend.open()
    chunks = [os.urandom(n) for n in sizes]
    data = b"".join(chunks)
    key = evidence_key(_sha(data))
    ref = store.begin_multipart("evidence/x", final_key=key, content_type="application/pdf")
    parts = _send(store, ref, chunks)
    assert not store.exists(key)  # an unfinished multipart upload is not an object
    stored = store.complete_multipart(ref, parts, key, expected_sha256=_sha(data), verified_sha256=_sha(data))
    assert (stored.key, stored.size, stored.sha256, stored.deduplicated) == (key, len(data), _sha(data), False)
    with store.get(key) as reader:
        assert reader.read() == data
    if backend.raw is not None:
        # no staging object and no server-side copy: nothing was ever written under tmp/ but the marker
        assert [n for n in backend.temp_names() if not n.endswith("/direct")] == []
        assert store.stat(key).content_type == "application/pdf"


def test_direct_upload_with_a_mismatching_hash_is_aborted_and_nothing_is_readable(backend):
    store = backend.open()
    declared = os.urandom(7 * MiB)
    tampered = declared[:-1] + b"x"
    key = evidence_key(_sha(declared))
    ref = store.begin_multipart(final_key=key)
    parts = _send(store, ref, [tampered[: 6 * MiB], tampered[6 * MiB :]])
    with pytest.raises(DigestMismatch):
        store.complete_multipart(ref, parts, key, expected_sha256=_sha(declared), verified_sha256=_sha(tampered))
    assert not store.exists(key) and not store.exists(evidence_key(_sha(tampered)))
    if backend.raw is not None:
        uploads = backend.raw._list_multipart_uploads(backend.bucket, prefix="evidence/")
        assert [u for u in uploads.uploads if u.object_name == key] == []


def test_direct_upload_of_content_already_stored_is_deduplicated(backend):
    store = backend.open()
    data = os.urandom(6 * MiB + 10)
    key = evidence_key(_sha(data))
    store.put(key, io.BytesIO(data), len(data))
    ref = store.begin_multipart(final_key=key)
    parts = _send(store, ref, [data[: 6 * MiB], data[6 * MiB :]])
    stored = store.complete_multipart(ref, parts, key, expected_sha256=_sha(data), verified_sha256=_sha(data))
    assert stored.deduplicated is True and stored.key == key and stored.size == len(data)


def test_direct_upload_resumes_on_a_new_store_between_chunks(backend):
    """A restart: only the reference and the (n, token) list survive, as in the upload row."""
    chunks = [os.urandom(6 * MiB), os.urandom(2000), os.urandom(5 * MiB)]
    data = b"".join(chunks)
    key = evidence_key(_sha(data))
    first = backend.open()
    ref = first.begin_multipart(final_key=key)
    parts = _send(first, ref, chunks[:2])
    second = backend.open()
    parts += _send(second, ref, chunks[2:], start=3, previous=parts[-1][1])
    stored = second.complete_multipart(ref, parts, key, verified_sha256=_sha(data))
    with second.get(stored.key) as reader:
        assert hashlib.sha256(reader.read()).hexdigest() == _sha(data)


def test_stale_direct_upload_is_swept_by_purge_temp(backend):
    if backend.raw is None:
        pytest.skip("the local store has no server-side multipart uploads")
    store = backend.open()
    data = os.urandom(6 * MiB)
    key = evidence_key(_sha(data))
    ref = store.begin_multipart(final_key=key)
    _send(store, ref, [data])
    assert store.purge_temp(0) >= 1
    uploads = backend.raw._list_multipart_uploads(backend.bucket, prefix="evidence/")
    assert [u for u in uploads.uploads if u.object_name == key] == []
