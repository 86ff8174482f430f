"""Content addressing and key validation."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage import InvalidKey, evidence_key, is_evidence_key, parse_evidence_key, validate_key


def test_evidence_key_layout() -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    assert evidence_key(digest) == f"sha256/{digest[:2]}/{digest[2:4]}/{digest}"
    assert evidence_key(digest.upper()) == evidence_key(digest)
    assert is_evidence_key(evidence_key(digest))


@pytest.mark.parametrize("value", ["", "abc", "g" * 64, "a" * 63, "a" * 65])
def test_evidence_key_needs_a_sha256(value: str) -> None:
    with pytest.raises(InvalidKey):
        evidence_key(value)


@settings(database=None, max_examples=200)
@given(st.binary(min_size=0, max_size=64))
def test_evidence_keys_round_trip(data: bytes) -> None:
    digest = hashlib.sha256(data).hexdigest()
    key = evidence_key(digest)
    assert parse_evidence_key(key) == digest
    assert validate_key(key) == key


def test_parse_rejects_inconsistent_fan_out() -> None:
    digest = "ab" + "cd" + "e" * 60
    assert parse_evidence_key(f"sha256/ab/cd/{digest}") == digest
    assert parse_evidence_key(f"sha256/ab/ce/{digest}") is None
    with pytest.raises(InvalidKey):
        validate_key(f"sha256/ab/ce/{digest}")


@pytest.mark.parametrize(
    "key", ["derived/thumb/a.jpg", "tmp/uploads/x/object", "报告/2025/检查.pdf", "a" * 1000]
)
def test_valid_keys(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(
    "key", ["", "/a", "a/", "a//b", "..", "a/../b", ".hidden", "a/.b", "a\\b", "a\x00b", "a\x7fb", "é" * 600]
)
def test_invalid_keys(key: str) -> None:
    with pytest.raises(InvalidKey):
        validate_key(key)
