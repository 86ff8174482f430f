"""Evidence bytes for shuangsui: write-once content-addressed object stores (local, S3) and media handling.

No Flask in here: the application opens a store once from its settings and passes it around::

    store = open_store(app.config["STORAGE_URL"])
    ref = store.begin_multipart("evidence/<uuid>")
    token = store.upload_part(ref, 1, request.stream, int(request.headers["Content-Length"]))
    stored = store.complete_multipart(ref, [(1, token)], expected_sha256=declared)   # → evidence_key(sha)

Media sniffing, probing and derivatives live in `storage.media` (imported on demand: it loads Pillow).
"""

from storage.base import ObjectInfo, ObjectReader, ObjectStore, Retention, StoredObject
from storage.errors import (
    DigestMismatch,
    IncompleteStream,
    InvalidKey,
    InvalidParts,
    InvalidRange,
    MediaRejected,
    MediaUnsupported,
    ObjectExists,
    ObjectLocked,
    ObjectNotFound,
    PartTooLarge,
    StorageError,
    StorageMisconfigured,
    StorageUnavailable,
    UploadNotFound,
)
from storage.keys import EVIDENCE_PREFIX, evidence_key, is_evidence_key, parse_evidence_key, validate_key
from storage.local import LocalStore
from storage.s3 import S3Store
from storage.url import open_store

__all__ = [
    "EVIDENCE_PREFIX",
    "DigestMismatch",
    "IncompleteStream",
    "InvalidKey",
    "InvalidParts",
    "InvalidRange",
    "LocalStore",
    "MediaRejected",
    "MediaUnsupported",
    "ObjectExists",
    "ObjectInfo",
    "ObjectLocked",
    "ObjectNotFound",
    "ObjectReader",
    "ObjectStore",
    "PartTooLarge",
    "Retention",
    "S3Store",
    "StorageError",
    "StorageMisconfigured",
    "StorageUnavailable",
    "StoredObject",
    "UploadNotFound",
    "evidence_key",
    "is_evidence_key",
    "open_store",
    "parse_evidence_key",
    "validate_key",
]
