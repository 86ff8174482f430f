"""Object key rules: content addressing for evidence and the safety checks every key passes."""

from __future__ import annotations

import re

from storage.errors import InvalidKey

EVIDENCE_PREFIX = "sha256/"
MAX_KEY_BYTES = 1024

_HEX64 = re.compile(r"[0-9a-f]{64}")
_EVIDENCE_KEY = re.compile(r"sha256/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")


def evidence_key(sha256_hex: str) -> str:
    """Return the content address of evidence bytes: ``sha256/ab/cd/<64 hex>``.

    Two levels of fan-out keep any one directory (LocalStore) or listing prefix small at millions of files.
    """
    digest = sha256_hex.strip().lower()
    if not _HEX64.fullmatch(digest):
        raise InvalidKey("SHA-256 校验值必须是 64 位十六进制字符串", value=sha256_hex)
    return f"{EVIDENCE_PREFIX}{digest[:2]}/{digest[2:4]}/{digest}"


def parse_evidence_key(key: str) -> str | None:
    """Return the SHA-256 hex an evidence key names, or None when `key` is not a well-formed evidence key."""
    match = _EVIDENCE_KEY.fullmatch(key)
    if match is None:
        return None
    first, second, digest = match.groups()
    if digest[:2] != first or digest[2:4] != second:
        return None
    return digest


def is_evidence_key(key: str) -> bool:
    """True for keys under the evidence prefix: those are never deleted through this package."""
    return key.startswith(EVIDENCE_PREFIX)


def validate_key(key: str) -> str:
    """Return `key` unchanged if it is a safe relative object name, else raise InvalidKey.

    The same rules hold for both backends so a key that works on local disk works on S3 and vice versa:
    no empty or dot-leading segments (no traversal, and the local store keeps its bookkeeping in dot-folders),
    no backslashes or control characters, at most 1024 UTF-8 bytes (the S3 limit).
    """
    if not isinstance(key, str) or not key:
        raise InvalidKey(value=key)
    if len(key.encode("utf-8")) > MAX_KEY_BYTES or _CONTROL.search(key):
        raise InvalidKey(value=key)
    for segment in key.split("/"):
        if not segment or segment.startswith("."):
            raise InvalidKey(value=key)
    if key.startswith(EVIDENCE_PREFIX) and parse_evidence_key(key) is None:
        raise InvalidKey("证据对象键必须形如 sha256/ab/cd/<64位十六进制>", value=key)
    return key
