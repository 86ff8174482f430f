"""complete_multipart(verified_sha256=...): a caller-streamed hash spares S3 the re-read (both backends)."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from storage import DigestMismatch, evidence_key


def _upload(store, chunks: list[bytes]) -> tuple[str, list[tuple[int, str]]]:
    ref = store.begin_multipart("evidence/test")
    parts = [(i, store.upload_part(ref, i, io.BytesIO(c), len(c))) for i, c in enumerate(chunks, start=1)]
    return ref, parts


def test_verified_hash_completes_under_the_content_address(store):
    chunks = [os.urandom(6 * 1024 * 1024), os.urandom(1000)]
    data = b"".join(chunks)
    digest = hashlib.sha256(data).hexdigest()
    ref, parts = _upload(store, chunks)
    stored = store.complete_multipart(
        ref, parts, evidence_key(digest), expected_sha256=digest, verified_sha256=digest
    )
    assert stored.key == evidence_key(digest) and stored.sha256 == digest and stored.size == len(data)
    with store.get(stored.key) as reader:
        assert hashlib.sha256(reader.read()).hexdigest() == digest


def test_verified_hash_must_agree_with_the_declared_one(store):
    data = os.urandom(2000)
    digest = hashlib.sha256(data).hexdigest()
    ref, parts = _upload(store, [data])
    with pytest.raises(DigestMismatch):
        store.complete_multipart(
            ref, parts, evidence_key(digest), expected_sha256="0" * 64, verified_sha256=digest
        )
    assert not store.exists(evidence_key(digest))
