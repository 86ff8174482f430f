"""S3-compatible ObjectStore (MinIO, AWS S3, Ceph RGW, ...) on the minio SDK: object lock, resumable uploads.

Write-once. Writes carry `If-None-Match: *`, which AWS, recent MinIO and moto honour atomically; a buffered
`put` also checks the key first (a duplicate costs one HEAD, not an upload). A server that answers
NotImplemented is remembered and then only the stat-before-write check applies; with retention the bucket is
versioned and the first version stays locked, so a lost race cannot destroy evidence.

Relayed bodies. An evidence `put` (up to `part_size`) is one PUT whose body is read from the caller's stream
while it is sent, 256 KiB at a time (`_StreamedBody`): receiving and sending overlap and nothing is buffered.
The key is the SHA-256 the bytes must have, so the request is signed with it (the server refuses a body that
does not match) and carries it as `x-amz-checksum-sha256` (which also stands in for the Content-MD5 object lock
wants); on top of that the store hashes every piece and sends the last one only once the whole body matched,
so a server that checks nothing still never receives a complete wrong body. No HEAD first: a duplicate is
refused by the condition, and the rest of its body is still read and verified. Resumable parts of 5 MiB and
more are relayed the same way as aws-chunked bodies signed piece by piece (STREAMING-AWS4-HMAC-SHA256-PAYLOAD,
`_ChunkSignedBody`), the server checking each piece as it arrives; under retention (Content-MD5 per part) and
without credentials parts are buffered as before. A relayed request is never retried: the stream cannot be
replayed (the tus client resends).

Resumable uploads (the tus server's backend). S3 wants every part but the last to be >= 5 MiB, while a tus
PATCH may deliver any number of bytes (an interrupted request, a small final chunk). Chunk *n* is therefore
handled so:

* a pending tail ``tmp/uploads/<id>/pending-<n-1>`` (the chunks that were too small to be a part, stored in
  the bucket, never in process memory or on local disk) is prepended to chunk *n*;
* if the result is >= 5 MiB it is uploaded as S3 part *first*, the number of the first chunk it contains
  (S3 allows gaps in part numbers), and the token ``part:<first>:<etag>`` is returned;
* otherwise it is stored as ``pending-<n>`` and the token ``pending:<first>`` is returned.

Pending objects are only removed when the upload ends, so re-sending chunk *n* after a crash finds the same
``pending-<n-1>`` and produces the same part. Completion uploads a trailing pending object as the last part.
Everything needed to continue is the upload reference plus the ``(n, token)`` list: any API replica can
resume after a restart.

Hash. hashlib state cannot be serialised, so a running SHA-256 across requests and replicas would tie an
upload to one process. Instead `complete_multipart` assembles the parts into a staging object, re-reads it
streaming (1 MiB at a time) to hash it, and only then copies it server-side to its final key with retention.
A caller that keeps a resumable hash of its own passes `verified_sha256` and the re-read is skipped.
Cost: one extra sequential read of the object from the store to the API (about 0.1 s per 10 MB on a LAN)
and one server-side copy; memory stays bounded. Nothing unverified ever lands under an evidence key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import BinaryIO, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import certifi
import urllib3
from minio import Minio
from minio.commonconfig import ComposeSource
from minio.credentials import Credentials
from minio.error import InvalidResponseError, S3Error, ServerError
from minio.helpers import DictType
from minio.retention import Retention as MinioRetention
from minio.signer import sign_v4_s3
from urllib3 import HTTPHeaderDict

from storage.base import (
    DEFAULT_MAX_PART_SIZE,
    MiB,
    ObjectInfo,
    ObjectReader,
    Retention,
    StoredObject,
    check_part,
    normalize_parts,
    read_exact,
    read_into,
    should_retain,
)
from storage.errors import (
    DigestMismatch,
    IncompleteStream,
    InvalidParts,
    InvalidRange,
    ObjectExists,
    ObjectLocked,
    ObjectNotFound,
    StorageError,
    StorageMisconfigured,
    StorageUnavailable,
    UploadNotFound,
)
from storage.keys import EVIDENCE_PREFIX, evidence_key, is_evidence_key, parse_evidence_key, validate_key

log = logging.getLogger(__name__)

T = TypeVar("T")

#: S3's lower bound for every part but the last.
MIN_PART_SIZE = 5 * MiB
#: A streamed PUT reads, hashes and sends its body in pieces this big (the only buffer it holds).
STREAM_PIECE = 256 * 1024
#: aws-chunked framing around each piece: ";chunk-signature=" + 64 hex digits + CRLF, and the CRLF after the data.
_CHUNK_FRAME = len(";chunk-signature=") + 64 + 2 + 2
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
#: Largest object a single CopyObject may copy; above it the SDK's multipart compose is used.
MAX_COPY_SIZE = 5 * 1024 * MiB
_REF = re.compile(r"s3:([0-9a-f]{32}):(\S+)")
#: An upload begun directly on its content address: s3d:<upload id>:<declared sha256>:<S3 upload id>.
_DIRECT_REF = re.compile(r"s3d:([0-9a-f]{32}):([0-9a-f]{64}):(\S+)")
_PART_TOKEN = re.compile(r"part:(\d+):(\S+)")
_PENDING_TOKEN = re.compile(r"pending:(\d+)")
_TRANSIENT = {
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "RequestTimeout",
    "ConditionalRequestConflict",
}
_LOCKED = {"AccessDenied", "ObjectLocked"}
_FIRST_PART_HEADER = "x-amz-meta-first-part"


#: Internal header carrying a payload SHA-256 we already computed; popped before the request is built.
_PAYLOAD_SHA256 = "x-shuangsui-payload-sha256"


class _Minio(Minio):
    """The SDK, except that a payload hash computed by us is reused for signing instead of hashing again."""

    def _build_headers(
        self,
        host: str,
        headers: DictType | None = None,
        body: bytes | None = None,
        creds: Credentials | None = None,
    ) -> tuple[DictType, datetime]:
        known = headers.pop(_PAYLOAD_SHA256, None) if headers else None
        if isinstance(body, _RelayedBody):
            # Not in memory yet: its length is known, and what the signature covers is the body's own choice
            # (the hash it must have, or per-piece signatures), over HTTPS too.
            built, date = super()._build_headers(host, headers, None, creds)
            built.pop("Content-MD5", None)
            built["Content-Length"] = str(len(body))
            built["x-amz-content-sha256"] = body.content_sha256
            return built, date
        if known is None or not body or creds is None or self._base_url.is_https:
            return super()._build_headers(host, headers, body, creds)
        # Plain HTTP signs the payload hash (the server checks the body against it); over HTTPS the SDK
        # sends UNSIGNED-PAYLOAD with a Content-MD5 of its own, as before.
        built, date = super()._build_headers(host, headers, None, creds)
        built["Content-Length"] = str(len(body))
        built["x-amz-content-sha256"] = str(known)
        return built, date


class _ConditionUnsupported(StorageError):
    """The server rejected `If-None-Match: *` as not implemented (internal signal, never escapes)."""


class _ResponseBody:
    """A streaming urllib3 response for ObjectReader; transport errors become StorageUnavailable."""

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        self._response = response

    def readinto(self, buffer: memoryview) -> int:
        try:
            return self._response.readinto(buffer)
        except urllib3.exceptions.HTTPError as exc:
            raise StorageUnavailable(detail=f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        self._response.close()
        self._response.release_conn()


class _BodyAborted(Exception):
    """Raised inside a streamed request body so that urllib3 drops the request half-sent (internal)."""


class _RelayedBody:
    """A request body read from the caller's stream while it is being sent, one piece (one buffer) at a time.

    Whatever stops it (the caller's stream ends early or fails, a check fails) is kept in `failure` and the
    request is abandoned with bytes still missing, so the server never has a complete request to act on.
    Subclasses frame the pieces (`_frames`) and say what the request signs as its payload hash.
    """

    content_sha256 = ""

    def __init__(self, stream: BinaryIO, length: int, *, prefix: bytes = b"", piece: int = STREAM_PIECE) -> None:
        self.decoded_length = len(prefix) + length
        self.prefix_length = len(prefix)
        self.failure: Exception | None = None
        self.received = 0  # bytes taken from `stream` (the prefix is not counted)
        self._stream = stream
        self._length = length
        self._prefix = memoryview(prefix)
        self._piece = max(1, min(piece, self.decoded_length))
        self._buffer = bytearray(self._piece)
        self._started = False

    def __len__(self) -> int:
        return self.decoded_length

    @property
    def started(self) -> bool:
        """Whether sending has begun (from then on the caller's stream is being consumed)."""
        return self._started

    def __iter__(self) -> Iterator[bytes | memoryview]:
        if self._started:
            raise _BodyAborted("a streamed body cannot be sent twice")  # retries are off; a guard only
        self._started = True
        return self._frames()

    def _frames(self) -> Iterator[bytes | memoryview]:
        yield from self._pieces()

    def _pieces(self) -> Iterator[memoryview]:
        """The decoded body in pieces of `_piece` bytes (the last may be shorter); each piece is copied to the
        socket before the generator resumes, so one buffer is reused."""
        view = memoryview(self._buffer)
        sent = 0
        while sent < self.decoded_length:
            piece = view[: min(len(view), self.decoded_length - sent)]
            try:
                self._fill(piece)
                if sent + len(piece) == self.decoded_length:
                    self._last_piece_read()
            except Exception as exc:
                self.failure = exc
                raise _BodyAborted from exc
            sent += len(piece)
            yield piece

    def _fill(self, piece: memoryview) -> None:
        taken = min(len(piece), len(self._prefix))
        if taken:
            piece[:taken] = self._prefix[:taken]
            self._prefix = self._prefix[taken:]
        if taken < len(piece):
            self._read(piece[taken:])

    def _read(self, view: memoryview) -> None:
        read_into(self._stream, view)
        self.received += len(view)

    def _last_piece_read(self) -> None:
        """Called with the last piece read but not yet sent."""


class _StreamedBody(_RelayedBody):
    """The body of a PUT onto an evidence key. The key names the SHA-256 the bytes must have, so the request is
    signed with it up front (the server refuses a body that does not match). Independently of the server, every
    piece is hashed on its way and the last one is only sent once the whole body hashed to the key."""

    def __init__(self, stream: BinaryIO, length: int, expected: str, piece: int = STREAM_PIECE) -> None:
        super().__init__(stream, length, piece=piece)
        self.expected = self.content_sha256 = expected
        self._digest = hashlib.sha256()

    def _read(self, view: memoryview) -> None:
        super()._read(view)
        self._digest.update(view)

    def _last_piece_read(self) -> None:
        actual = self._digest.hexdigest()
        if actual != self.expected:
            raise DigestMismatch(expected=self.expected, actual=actual)

    def finish(self) -> None:
        """Read and hash whatever the server did not take (it answered before the end), then check the hash;
        DigestMismatch, or IncompleteStream if the caller's stream ends early."""
        if self.failure is not None:
            raise self.failure
        view = memoryview(self._buffer)
        try:
            while self.received < self._length:
                self._read(view[: min(len(view), self._length - self.received)])
        except IncompleteStream as exc:
            raise IncompleteStream(expected=self._length, received=self.received) from exc
        self._last_piece_read()


class _ChunkSignedBody(_RelayedBody):
    """An aws-chunked body signed piece by piece (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), for an upload part whose
    hash is not known before its bytes arrive: every piece carries a signature over its SHA-256, chained from
    the request's own signature, so the server checks each piece as it comes in, exactly as it checks a
    signed payload hash, without the part being buffered first."""

    content_sha256 = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"

    def __init__(self, stream: BinaryIO, length: int, *, prefix: bytes = b"", piece: int = STREAM_PIECE) -> None:
        super().__init__(stream, length, prefix=prefix, piece=piece)
        self._signing: tuple[bytes, str] | None = None
        self._previous = ""

    def __len__(self) -> int:
        """The length on the wire: every piece framed as `<hex size>;chunk-signature=<64 hex>\r\n<data>\r\n`,
        then the empty final piece."""
        full, rest = divmod(self.decoded_length, self._piece)
        sizes = [self._piece] * full + ([rest] if rest else []) + [0]
        return sum(len(f"{size:x}") + _CHUNK_FRAME + size for size in sizes)

    def sign_with(self, signing_key: bytes, amz_date: str, scope: str, seed_signature: str) -> None:
        self._signing = (signing_key, f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n")
        self._previous = seed_signature

    def _sign(self, data: bytes | memoryview) -> str:
        assert self._signing is not None, "sign_with() first"
        key, head = self._signing
        to_sign = f"{head}{self._previous}\n{_EMPTY_SHA256}\n{hashlib.sha256(data).hexdigest()}"
        self._previous = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        return self._previous

    def _frames(self) -> Iterator[bytes | memoryview]:
        for piece in self._pieces():
            yield f"{len(piece):x};chunk-signature={self._sign(piece)}\r\n".encode()
            yield piece
            yield b"\r\n"
        yield f"0;chunk-signature={self._sign(b'')}\r\n\r\n".encode()


def _signing_key(secret_key: str, date: str, region: str) -> bytes:
    key = hmac.new(f"AWS4{secret_key}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


class S3Store:
    """ObjectStore on one bucket of an S3-compatible server."""

    backend = "s3"

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        *,
        secure: bool = False,
        region: str = "us-east-1",
        retention_days: int | None = None,
        retention_mode: str | None = None,
        temp_prefix: str = "tmp/",
        part_size: int = 16 * MiB,
        max_part_size: int = DEFAULT_MAX_PART_SIZE,
        conditional_writes: bool = True,
        presign_endpoint: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        retries: int = 3,
        cert_check: bool = True,
    ) -> None:
        if not bucket or "/" in bucket:
            raise StorageMisconfigured("存储桶名称无效", bucket=bucket)
        if part_size < MIN_PART_SIZE:
            raise StorageMisconfigured("分片大小不能小于 5 MiB", part_size=part_size)
        if not temp_prefix.endswith("/") or temp_prefix.startswith(EVIDENCE_PREFIX):
            raise StorageMisconfigured("临时前缀必须以 / 结尾且不能位于证据前缀下", temp_prefix=temp_prefix)
        validate_key(temp_prefix.rstrip("/"))
        self.endpoint = endpoint
        self.bucket = bucket
        self.secure = secure
        self.region = region
        self.retention = Retention.from_options(retention_days, retention_mode)
        self.temp_prefix = temp_prefix
        self.part_size = part_size
        self.max_part_size = max_part_size
        self._conditional_writes = conditional_writes
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            maxsize=10,
            cert_reqs="CERT_REQUIRED" if cert_check else "CERT_NONE",
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            retries=urllib3.Retry(
                total=retries,
                backoff_factor=0.2,
                status_forcelist=[500, 502, 503, 504],
                raise_on_status=False,
            ),
        )
        # region is always set, so the SDK never spends a request on GetBucketLocation.
        self._client = _Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            http_client=http,
        )
        if presign_endpoint:
            public = urlsplit(presign_endpoint if "://" in presign_endpoint else f"//{presign_endpoint}")
            public_secure = public.scheme == "https" if public.scheme else secure
            self._presigner = Minio(
                public.netloc,
                access_key=access_key,
                secret_key=secret_key,
                secure=public_secure,
                region=region,
            )
        else:
            self._presigner = self._client

    def __repr__(self) -> str:
        return f"S3Store(endpoint={self.endpoint!r}, bucket={self.bucket!r})"

    # -- bucket ----------------------------------------------------------------------------------------------

    def ensure_bucket(self) -> None:
        """Create the bucket (with object lock if retention is configured) or check the existing one fits."""
        with self._errors():
            exists = self._client.bucket_exists(self.bucket)
            if not exists:
                self._client.make_bucket(self.bucket, object_lock=self.retention is not None)
                return
        if self.retention is not None and not self._object_lock_enabled():
            raise StorageMisconfigured(
                f"存储桶 {self.bucket} 未启用对象锁定，无法按配置保留证据；请新建启用对象锁定的存储桶",
                bucket=self.bucket,
            )

    def _object_lock_enabled(self) -> bool:
        try:
            with self._errors():
                config = self._client.get_object_lock_config(self.bucket)
        except StorageError as exc:
            if "ObjectLockConfiguration" in str(exc.details.get("s3_code", "")):
                return False
            raise
        return config is not None

    # -- objects ---------------------------------------------------------------------------------------------

    def put(
        self,
        key: str,
        stream: BinaryIO,
        length: int,
        content_type: str = "application/octet-stream",
        *,
        retain: bool | None = None,
    ) -> StoredObject:
        validate_key(key)
        if length < 0:
            raise ValueError("length must be >= 0")
        expected = parse_evidence_key(key)
        streamed = expected is not None and 0 < length <= self.part_size
        # A streamed evidence PUT relies on If-None-Match: * alone, so a new object costs no HEAD first; a
        # duplicate is refused by the server (and its body still read and verified, see _put_streamed).
        if not (streamed and self._conditional_writes) and self.exists(key):
            raise ObjectExists(key=key)
        retain_until = self._retain_until(key, retain)
        headers = self._object_headers(content_type, retain_until)
        if streamed and expected is not None:
            actual = self._put_streamed(key, _StreamedBody(stream, length, expected), headers)
        elif length <= self.part_size:
            data = read_exact(stream, length)
            actual = hashlib.sha256(data).hexdigest()
            if expected is not None and expected != actual:
                raise DigestMismatch(expected=expected, actual=actual)
            self._with_condition(key, lambda h: self._put_bytes(key, data, h, sha256=actual), headers)
        else:
            actual = self._put_multipart(key, stream, length, headers, expected)
            self._ensure_retention(key, retain_until)
        return StoredObject(key=key, size=length, sha256=actual)

    def get(self, key: str, *, start: int = 0, length: int | None = None) -> ObjectReader:
        validate_key(key)
        if start < 0 or (length is not None and length < 0):
            raise InvalidRange(start=start, length=length)
        if length == 0:
            info = self.stat(key)
            if start and start >= info.size:
                raise InvalidRange(start=start, size=info.size)
            return ObjectReader(_EmptyBody(), 0, info.content_type)
        with self._errors(key):
            response = self._client.get_object(self.bucket, key, offset=start, length=length or 0)
        body = _ResponseBody(response)
        size = int(response.headers.get("content-length", "0"))
        content_type = response.headers.get("content-type") or "application/octet-stream"
        return ObjectReader(body, size, content_type, on_close=body.close)

    def stat(self, key: str) -> ObjectInfo:
        validate_key(key)
        with self._errors(key):
            obj = self._client.stat_object(self.bucket, key)
        headers = obj.metadata or {}
        until = headers.get("x-amz-object-lock-retain-until-date")
        return ObjectInfo(
            key=key,
            size=int(obj.size or 0),
            content_type=obj.content_type or "application/octet-stream",
            etag=obj.etag or "",
            last_modified=obj.last_modified or datetime.now(UTC),
            retention_mode=headers.get("x-amz-object-lock-mode") or None,
            retain_until=datetime.fromisoformat(until) if until else None,
        )

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except ObjectNotFound:
            return False
        return True

    def delete(self, key: str) -> bool:
        validate_key(key)
        if is_evidence_key(key):
            raise ObjectLocked(key=key)
        try:
            return self._remove_versions(key, exact=True) > 0
        except StorageError as exc:
            if exc.details.get("s3_code") in _LOCKED:
                raise ObjectLocked(key=key) from exc
            raise

    def presigned_get(
        self,
        key: str,
        expires_seconds: int = 300,
        *,
        download_name: str | None = None,
        content_type: str | None = None,
    ) -> str | None:
        validate_key(key)
        if not 1 <= expires_seconds <= 7 * 24 * 3600:
            raise ValueError("expires_seconds must be between 1 second and 7 days")
        response_headers: dict[str, str | list[str] | tuple[str]] = {}
        if download_name:
            response_headers["response-content-disposition"] = _content_disposition(download_name)
        if content_type:
            response_headers["response-content-type"] = content_type
        with self._errors(key):
            return self._presigner.presigned_get_object(
                self.bucket,
                key,
                expires=timedelta(seconds=expires_seconds),
                response_headers=response_headers or None,
            )

    def tool_source(self, key: str, expires_seconds: int = 600) -> str:
        """A URL signed with the API's own client (its endpoint, not the public one browsers get)."""
        validate_key(key)
        self.stat(key)  # ObjectNotFound now, not as an HTTP 404 inside the tool
        with self._errors(key):
            return self._client.presigned_get_object(self.bucket, key, expires=timedelta(seconds=expires_seconds))

    def health(self) -> dict[str, object]:
        report: dict[str, object] = {
            "backend": self.backend,
            "endpoint": self.endpoint,
            "bucket": self.bucket,
            "retention_days": self.retention.days if self.retention else None,
            "retention_mode": self.retention.mode if self.retention else None,
            "conditional_writes": self._conditional_writes,
        }
        started = time.monotonic()
        try:
            with self._errors():
                exists = self._client.bucket_exists(self.bucket)
            if not exists:
                report.update(ok=False, error=f"存储桶 {self.bucket} 不存在")
            else:
                lock = self._object_lock_enabled()
                report["object_lock"] = lock
                if self.retention is not None and not lock:
                    report.update(ok=False, error="已配置保留期限，但存储桶未启用对象锁定")
                else:
                    report["ok"] = True
        except StorageError as exc:
            report.update(ok=False, error=exc.message, detail=str(exc.details.get("detail", "")))
        report["latency_ms"] = round((time.monotonic() - started) * 1000, 1)
        return report

    # -- resumable uploads -----------------------------------------------------------------------------------

    def begin_multipart(
        self,
        key_hint: str = "",
        *,
        final_key: str | None = None,
        content_type: str = "application/octet-stream",
        retain: bool | None = None,
    ) -> str:
        # The id starts with the creation time, so purge_temp does not depend on the server's "Initiated"
        # field (moto, for one, reports a constant there).
        upload_id = f"{int(time.time()):010x}{secrets.token_hex(11)}"
        declared = parse_evidence_key(validate_key(final_key)) if final_key is not None else None
        if declared is not None and final_key is not None:
            # Straight onto the content address: an unfinished multipart upload is invisible, and it is only
            # completed (If-None-Match: *) once the caller's streamed hash matched the key. Retention must be
            # given now; completion extends it if the upload took a while.
            headers = self._object_headers(content_type, self._retain_until(final_key, retain))
            with self._errors(final_key):
                s3_upload_id = self._client._create_multipart_upload(self.bucket, final_key, _sdk(headers))
            ref = f"s3d:{upload_id}:{declared}:{s3_upload_id}"
            # A marker in the temp prefix lets purge_temp abort it if the caller loses the reference.
            marker = f"{final_key}\n{s3_upload_id}\n".encode()
            with self._errors(self._marker_key(upload_id)):
                self._put_bytes(self._marker_key(upload_id), marker, {"Content-Type": "text/plain"})
            return ref
        headers = {
            "Content-Type": "application/octet-stream",
            "x-amz-meta-key-hint": quote(key_hint[:200], safe=""),
        }
        with self._errors(self._staging_key(upload_id)):
            s3_upload_id = self._client._create_multipart_upload(
                self.bucket, self._staging_key(upload_id), _sdk(headers)
            )
        return f"s3:{upload_id}:{s3_upload_id}"

    def upload_part(
        self,
        upload_ref: str,
        part_number: int,
        stream: BinaryIO,
        length: int,
        *,
        previous_token: str | None = None,
    ) -> str:
        """`previous_token`: the token kept for chunk `part_number - 1`; when given, the pending tail is read
        only if that chunk was pending, and a stale pending object of an earlier attempt at this chunk is
        left alone (later chunks and completion follow the tokens, so it is never prepended)."""
        upload_id, s3_upload_id = self._parse_ref(upload_ref)
        check_part(part_number, length, self.max_part_size)
        pending = None
        if part_number > 1 and (previous_token is None or _PENDING_TOKEN.fullmatch(previous_token)):
            pending = self._read_pending(upload_id, part_number - 1)
        first = pending[0] if pending else part_number
        prefix = pending[1] if pending else b""
        del pending
        if len(prefix) + length >= MIN_PART_SIZE and self._streams_parts():
            # Relayed to S3 while it arrives (receiving and sending overlap; one piece in memory).
            etag = self._upload_part_streamed(upload_ref, first, _ChunkSignedBody(stream, length, prefix=prefix))
        else:
            # One buffer, pending tail first: the chunk is never held twice.
            body = read_exact(stream, length, prefix=prefix)
            del prefix
            if len(body) < MIN_PART_SIZE:
                self._require_upload(upload_ref)  # fail now, not at completion, when the upload no longer exists
                self._write_pending(upload_id, part_number, first, body)
                return f"pending:{first}"
            etag = self._upload_part_bytes(upload_ref, first, body)
        if previous_token is None:
            # A pending object from an earlier attempt at this chunk must not be prepended to the next one.
            stale = self._pending_key(upload_id, part_number)
            if self.exists(stale):
                self._remove_versions(stale, exact=True)
        return f"part:{first}:{etag}"

    def complete_multipart(
        self,
        upload_ref: str,
        parts: Sequence[Sequence[object]],
        final_key: str | None = None,
        *,
        expected_sha256: str | None = None,
        content_type: str = "application/octet-stream",
        retain: bool | None = None,
        verified_sha256: str | None = None,
    ) -> StoredObject:
        upload_id, s3_upload_id = self._parse_ref(upload_ref)
        entries = normalize_parts(parts)
        pending_used = any(_PENDING_TOKEN.fullmatch(token) for _number, token in entries)
        if final_key is not None:
            validate_key(final_key)
        etags: dict[int, str] = {}
        for number, token in entries:
            part = _PART_TOKEN.fullmatch(token)
            pending = _PENDING_TOKEN.fullmatch(token)
            first = int(part.group(1) if part else pending.group(1) if pending else 0)
            if not 1 <= first <= number:
                raise InvalidParts(part_number=number, token=token)
            if part:
                etags[first] = part.group(2)  # a later chunk of the same group supersedes the earlier etag
        if _DIRECT_REF.fullmatch(upload_ref):
            return self._complete_direct(
                upload_ref,
                etags,
                entries,
                final_key,
                expected_sha256=expected_sha256,
                verified_sha256=verified_sha256,
                pending_used=pending_used,
                retain=retain,
            )
        staging = self._staging_key(upload_id)
        try:
            last_number, last_token = entries[-1]
            if _PENDING_TOKEN.fullmatch(last_token):
                tail = self._read_pending(upload_id, last_number)
                if tail is None:
                    self._require_upload(upload_ref)  # gone entirely (UploadNotFound) or just this tail
                    raise InvalidParts("末尾分片的暂存数据不存在", part_number=last_number)
                etags[tail[0]] = self._upload_part_bytes(upload_ref, tail[0], tail[1])
            self._complete(staging, s3_upload_id, sorted(etags.items()), upload_ref=upload_ref)
        except UploadNotFound:
            # A retry after a crash that happened after S3 had already assembled the staging object.
            if not self.exists(staging):
                raise
        if verified_sha256 is not None:
            # The caller hashed these very bytes while they streamed through it: no second full read.
            size, actual = self.stat(staging).size, verified_sha256.strip().lower()
        else:
            size, actual = self._digest(staging)
        try:
            if expected_sha256 is not None and expected_sha256.strip().lower() != actual:
                raise DigestMismatch(expected=expected_sha256, actual=actual)
            key = final_key or evidence_key(actual)
            named = parse_evidence_key(key)
            if named is not None and named != actual:
                raise DigestMismatch(expected=named, actual=actual)
            deduplicated = False
            try:
                if self.exists(key):
                    raise ObjectExists(key=key)
                retain_until = self._retain_until(key, retain)
                self._copy(staging, key, size, self._object_headers(content_type, retain_until))
                self._ensure_retention(key, retain_until)
            except ObjectExists:
                if named != actual:
                    raise
                deduplicated = True  # same bytes already stored under their own hash: an idempotent retry
        except (DigestMismatch, ObjectExists):
            self._discard(upload_id)
            raise
        self._discard(upload_id, staging_only=not pending_used)
        return StoredObject(key=key, size=size, sha256=actual, deduplicated=deduplicated)

    def _complete_direct(
        self,
        upload_ref: str,
        etags: dict[int, str],
        entries: list[tuple[int, str]],
        final_key: str | None,
        *,
        expected_sha256: str | None,
        verified_sha256: str | None,
        pending_used: bool,
        retain: bool | None,
    ) -> StoredObject:
        """Complete an upload begun on its content address: the hash is checked first, then the conditional
        CompleteMultipartUpload makes the object visible; an existing object means a deduplicated upload."""
        upload_id, s3_upload_id = self._parse_ref(upload_ref)
        key = self._upload_key(upload_ref)
        declared = parse_evidence_key(key)
        if final_key is not None and final_key != key:
            self.abort_multipart(upload_ref)
            raise InvalidParts("该上传已直接写向另一个内容地址", final_key=final_key, key=key)
        if verified_sha256 is None:
            # Assembling first and hashing after would make unverified bytes readable under the key.
            self.abort_multipart(upload_ref)
            raise InvalidParts("直接写向内容地址的上传必须提供流式计算的 SHA-256")
        actual = verified_sha256.strip().lower()
        expected = (expected_sha256 or actual).strip().lower()
        if actual != expected or actual != declared:
            self.abort_multipart(upload_ref)
            raise DigestMismatch(expected=expected if expected != actual else declared, actual=actual)
        last_number, last_token = entries[-1]
        deduplicated = False
        try:
            if _PENDING_TOKEN.fullmatch(last_token):
                tail = self._read_pending(upload_id, last_number)
                if tail is None:
                    self._require_upload(upload_ref)
                    raise InvalidParts("末尾分片的暂存数据不存在", part_number=last_number)
                etags[tail[0]] = self._upload_part_bytes(upload_ref, tail[0], tail[1])
            if not self._conditional_writes and self.exists(key):
                raise ObjectExists(key=key)
            self._complete(key, s3_upload_id, sorted(etags.items()), conditional=True)
        except ObjectExists:
            deduplicated = True  # the same bytes (same hash) are already stored: nothing new is written
            self.abort_multipart(upload_ref)
        except UploadNotFound:
            # A retry after a crash that happened after S3 had completed it (or a lost dedupe abort).
            if not self.exists(key):
                raise
        info = self.stat(key)
        if not deduplicated:
            self._extend_retention(key, info, self._retain_until(key, retain))
            if pending_used:
                self._discard(upload_id)
        return StoredObject(key=key, size=info.size, sha256=actual, deduplicated=deduplicated)

    def _extend_retention(self, key: str, info: ObjectInfo, retain_until: datetime | None) -> None:
        """Retention set at multipart create counts from the upload's start: extend it to count from now."""
        if retain_until is None or self.retention is None:
            return
        if info.retention_mode and info.retain_until is not None and info.retain_until >= retain_until:
            return
        with self._errors(key):
            self._client.set_object_retention(
                self.bucket, key, MinioRetention(self.retention.mode, retain_until)
            )

    def abort_multipart(self, upload_ref: str) -> None:
        upload_id, s3_upload_id = self._parse_ref(upload_ref)
        key = self._upload_key(upload_ref)
        try:
            with self._errors(key, upload_ref=upload_ref):
                self._client._abort_multipart_upload(self.bucket, key, s3_upload_id)
        finally:
            self._discard(upload_id)

    def purge_temp(self, older_than_seconds: int) -> int:
        """Remove temp objects and unfinished uploads older than the cutoff (longer than the tus expiry).

        Handles up to 1000 unfinished uploads per call; a periodic job catches up over several runs.
        """
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_seconds)
        removed = 0
        with self._errors(self.temp_prefix):
            for obj in self._client.list_objects(
                self.bucket, prefix=self.temp_prefix, recursive=True, include_version=True
            ):
                if obj.object_name and obj.last_modified and obj.last_modified < cutoff:
                    if obj.object_name.endswith("/direct") and not obj.is_delete_marker:
                        self._abort_marked(obj.object_name, obj.version_id)
                    self._client.remove_object(self.bucket, obj.object_name, version_id=obj.version_id)
                    removed += 1
            listing = self._client._list_multipart_uploads(
                self.bucket, prefix=self.temp_prefix, max_uploads=1000
            )
            for upload in listing.uploads:
                started = _started_at(upload.object_name, self.temp_prefix) or upload.initiated_time
                if upload.upload_id and started and started < cutoff:
                    self._client._abort_multipart_upload(self.bucket, upload.object_name, upload.upload_id)
                    removed += 1
        return removed

    # -- internals -------------------------------------------------------------------------------------------

    def _staging_key(self, upload_id: str) -> str:
        return f"{self.temp_prefix}uploads/{upload_id}/object"

    def _marker_key(self, upload_id: str) -> str:
        return f"{self.temp_prefix}uploads/{upload_id}/direct"

    def _abort_marked(self, marker: str, version_id: str | None) -> None:
        """Abort the direct upload a stale marker names (a no-op if it was completed or aborted)."""
        response = self._client.get_object(self.bucket, marker, version_id=version_id)
        try:
            key, s3_upload_id = response.read().decode().split("\n")[:2]
        finally:
            response.close()
            response.release_conn()
        try:
            self._client._abort_multipart_upload(self.bucket, key, s3_upload_id)
        except S3Error as exc:
            if exc.code != "NoSuchUpload":
                raise

    def _upload_key(self, upload_ref: str) -> str:
        """The key the S3 multipart upload is on: the content address itself, or the staging object."""
        direct = _DIRECT_REF.fullmatch(upload_ref or "")
        if direct:
            return evidence_key(direct.group(2))
        return self._staging_key(self._parse_ref(upload_ref)[0])

    def _pending_key(self, upload_id: str, part_number: int) -> str:
        return f"{self.temp_prefix}uploads/{upload_id}/pending-{part_number:05d}"

    def _parse_ref(self, upload_ref: str) -> tuple[str, str]:
        direct = _DIRECT_REF.fullmatch(upload_ref or "")
        if direct:
            return direct.group(1), direct.group(3)
        match = _REF.fullmatch(upload_ref or "")
        if match is None:
            raise UploadNotFound(upload_ref=upload_ref)
        return match.group(1), match.group(2)

    def _require_upload(self, upload_ref: str) -> None:
        _upload_id, s3_upload_id = self._parse_ref(upload_ref)
        key = self._upload_key(upload_ref)
        with self._errors(key, upload_ref=upload_ref):
            self._client._list_parts(self.bucket, key, s3_upload_id, max_parts=1)

    def _retain_until(self, key: str, retain: bool | None) -> datetime | None:
        if self.retention is None or not should_retain(key, retain, self.retention):
            return None
        return self.retention.until()

    def _object_headers(self, content_type: str, retain_until: datetime | None) -> dict[str, str]:
        headers = {"Content-Type": content_type or "application/octet-stream"}
        if retain_until is not None and self.retention is not None:
            headers["x-amz-object-lock-mode"] = self.retention.mode
            headers["x-amz-object-lock-retain-until-date"] = retain_until.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return headers

    @contextmanager
    def _errors(
        self, key: str | None = None, *, upload_ref: str | None = None, conditional: bool = False
    ) -> Iterator[None]:
        """Translate SDK and transport failures into storage errors (credentials never reach messages)."""
        try:
            yield
        except S3Error as exc:
            raise self._translate(exc, key, upload_ref, conditional) from exc
        except (ServerError, InvalidResponseError) as exc:
            raise StorageUnavailable(detail=str(exc)[:500]) from exc
        except (urllib3.exceptions.HTTPError, ConnectionError) as exc:
            raise StorageUnavailable(detail=f"{type(exc).__name__}: {exc}"[:500]) from exc

    def _translate(
        self, exc: S3Error, key: str | None, upload_ref: str | None, conditional: bool
    ) -> StorageError:
        code = exc.code or ""
        status = exc.response.status if exc.response is not None else 0
        if conditional and (code == "NotImplemented" or status == 501):
            return _ConditionUnsupported()
        if code in ("NoSuchKey", "NoSuchVersion"):
            return ObjectNotFound(key=key)
        if code == "NoSuchUpload":
            return UploadNotFound(upload_ref=upload_ref)
        if code == "PreconditionFailed":
            return ObjectExists(key=key)
        if code == "NoSuchBucket":
            return StorageMisconfigured(f"存储桶 {self.bucket} 不存在", bucket=self.bucket)
        if code == "InvalidRange":
            return InvalidRange(key=key)
        if code in _TRANSIENT or status >= 500:
            return StorageUnavailable(s3_code=code, key=key)
        return StorageError(f"存储服务拒绝了请求（{code}）", s3_code=code, key=key, status=status)

    def _with_condition(self, key: str, send: Callable[[dict[str, str]], T], headers: dict[str, str]) -> T:
        """Write with `If-None-Match: *`; if the server does not implement it, remember, send without."""
        if self._conditional_writes:
            try:
                with self._errors(key, conditional=True):
                    return send({**headers, "If-None-Match": "*"})
            except _ConditionUnsupported:
                log.warning(
                    "S3 server at %s does not support conditional writes; using stat-before-write",
                    self.endpoint,
                )
                self._conditional_writes = False
        with self._errors(key):
            return send(dict(headers))

    def _body_headers(self, data: bytes | bytearray, sha256: str | None = None) -> dict[str, str]:
        """Integrity headers for a body. Over plain HTTP the signed payload SHA-256 already lets the server
        reject a corrupted body (given here when we computed it anyway, so it is not hashed twice); over HTTPS
        the SDK adds Content-MD5 itself. Object-lock buckets (AWS) insist on Content-MD5: sent with retention."""
        headers: dict[str, str] = {}
        if sha256 is not None:
            headers[_PAYLOAD_SHA256] = sha256
        if self.retention is not None:
            headers["Content-MD5"] = _md5_b64(data)
        return headers

    def _put_bytes(
        self, key: str, data: bytes | bytearray, headers: dict[str, str], *, sha256: str | None = None
    ) -> None:
        self._client._put_object(self.bucket, key, data, {**headers, **self._body_headers(data, sha256)})

    def _put_streamed(self, key: str, body: _StreamedBody, headers: dict[str, str]) -> str:
        """One PUT whose body is relayed from the caller's stream as it arrives (see _StreamedBody): receiving
        and sending overlap, and memory holds one piece. Returns the verified SHA-256."""
        # The object's own SHA-256 checksum, checked by the server: it also stands in for the Content-MD5 that
        # object-lock PUTs (explicit or bucket-default retention) otherwise need and that only a buffered
        # body could provide.
        headers = {
            **headers,
            "x-amz-sdk-checksum-algorithm": "SHA256",
            "x-amz-checksum-sha256": base64.b64encode(bytes.fromhex(body.expected)).decode("ascii"),
        }
        conditional = self._conditional_writes
        if conditional:
            headers["If-None-Match"] = "*"
        try:
            with self._relayed(body), self._errors(key, conditional=conditional):
                self._send_streamed(key, body, headers)
        except _ConditionUnsupported:
            # The body is spent, so it cannot be sent again without the header: remember, and let the
            # caller retry (the next attempt checks with a HEAD first).
            log.warning("S3 server at %s does not support conditional writes; using stat-before-write", self.endpoint)
            self._conditional_writes = False
            raise StorageUnavailable(detail="conditional write not supported; retry") from None
        except ObjectExists:
            body.finish()  # the same content, if the rest of the body hashes to the key as well
            raise
        return body.expected

    @staticmethod
    @contextmanager
    def _relayed(body: _RelayedBody) -> Iterator[None]:
        """What stopped a relayed body on the caller's side (the client went away, a check refused the bytes)
        reaches the caller as it was raised, not as a storage outage."""
        try:
            yield
        except StorageError:
            if body.failure is not None:
                raise body.failure from None
            raise

    def _send_streamed(
        self, key: str, body: _RelayedBody, headers: dict[str, str], query: DictType | None = None
    ) -> urllib3.BaseHTTPResponse:
        """PUT a relayed body (signed as the body says), without retries: the caller's stream cannot be replayed
        (the tus client resends instead). Raises the body's own failure if that is what stopped it."""
        client = self._client
        creds = client._provider.retrieve() if client._provider else None
        url = client._base_url.build(
            method="PUT", region=self.region, bucket_name=self.bucket, object_name=key, query_params=query
        )
        built, date = client._build_headers(url.netloc, _sdk(headers), body, creds)  # type: ignore[arg-type]
        if creds is not None:
            built = sign_v4_s3(
                method="PUT",
                url=url,
                region=self.region,
                headers=built,
                credentials=creds,
                content_sha256=body.content_sha256,
                date=date,
            )
            if isinstance(body, _ChunkSignedBody):
                seed = str(built["Authorization"]).rpartition("Signature=")[2]
                scope = f"{date:%Y%m%d}/{self.region}/s3/aws4_request"
                body.sign_with(
                    _signing_key(creds.secret_key, f"{date:%Y%m%d}", self.region), str(built["x-amz-date"]), scope, seed
                )
        http_headers = HTTPHeaderDict()
        for name, value in built.items():
            http_headers.add(name, str(value))
        for attempt in (1, 2):
            try:
                response = client._http.urlopen(
                    "PUT", urlunsplit(url), body=body, headers=http_headers, retries=False, preload_content=True
                )
                break
            except _BodyAborted:
                assert body.failure is not None
                raise body.failure from None
            except urllib3.exceptions.HTTPError:
                if body.failure is not None:
                    raise body.failure from None
                if attempt == 1 and not body.started:
                    continue  # failed before the first byte of the body was taken (a stale connection): resend
                raise
        if response.status in (200, 204):
            if body.received != body.decoded_length - body.prefix_length:
                # A success before the whole body was sent would mean the server kept something else.
                raise StorageUnavailable(detail="server answered before the body was complete")
            return response
        content_type = response.headers.get("content-type", "")
        if response.data and "xml" in content_type:
            raise S3Error.fromxml(response)
        raise InvalidResponseError(response.status, content_type, response.data.decode(errors="replace"))

    def _put_multipart(
        self, key: str, stream: BinaryIO, length: int, headers: dict[str, str], expected: str | None
    ) -> str:
        with self._errors(key):
            upload_id = self._client._create_multipart_upload(self.bucket, key, _sdk(headers))
        try:
            digest = hashlib.sha256()
            etags: list[tuple[int, str]] = []
            remaining = length
            while remaining:
                data = read_exact(stream, min(self.part_size, remaining))
                digest.update(data)
                number = len(etags) + 1
                with self._errors(key):
                    etags.append((number, self._upload_part_raw(key, upload_id, number, data)))
                remaining -= len(data)
            actual = digest.hexdigest()
            if expected is not None and expected != actual:
                raise DigestMismatch(expected=expected, actual=actual)
            self._complete(key, upload_id, etags, conditional=True)
        except BaseException:
            try:
                with self._errors(key):
                    self._client._abort_multipart_upload(self.bucket, key, upload_id)
            except StorageError:
                log.warning("could not abort multipart upload %s for %s", upload_id, key)
            raise
        return actual

    def _upload_part_raw(self, key: str, upload_id: str, number: int, data: bytes | bytearray) -> str:
        return self._client._upload_part(
            self.bucket, key, data, self._body_headers(data), upload_id, number  # type: ignore[arg-type]
        )

    def _streams_parts(self) -> bool:
        """Parts are relayed with per-piece signatures unless there are no credentials to sign with, or object
        lock wants a Content-MD5 per part (retention), which needs the whole part first."""
        return self.retention is None and self._client._provider is not None

    def _upload_part_streamed(self, upload_ref: str, number: int, body: _ChunkSignedBody) -> str:
        _upload_id, s3_upload_id = self._parse_ref(upload_ref)
        key = self._upload_key(upload_ref)
        headers = {
            "Content-Encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(body.decoded_length),
        }
        with self._relayed(body), self._errors(key, upload_ref=upload_ref):
            response = self._send_streamed(
                key, body, headers, {"partNumber": str(number), "uploadId": s3_upload_id}
            )
        return str(response.headers.get("etag", "")).replace('"', "")

    def _upload_part_bytes(self, upload_ref: str, number: int, data: bytes | bytearray) -> str:
        _upload_id, s3_upload_id = self._parse_ref(upload_ref)
        key = self._upload_key(upload_ref)
        with self._errors(key, upload_ref=upload_ref):
            return self._upload_part_raw(key, s3_upload_id, number, data)

    def _complete(
        self,
        key: str,
        upload_id: str,
        etags: Sequence[tuple[int, str]],
        *,
        conditional: bool = False,
        upload_ref: str | None = None,
    ) -> None:
        root = ET.Element("CompleteMultipartUpload")
        for number, etag in etags:
            part = ET.SubElement(root, "Part")
            ET.SubElement(part, "PartNumber").text = str(number)
            ET.SubElement(part, "ETag").text = f'"{etag}"'
        body = ET.tostring(root)
        headers = {"Content-Type": "application/xml", "Content-MD5": _md5_b64(body)}

        def send(request_headers: dict[str, str]) -> None:
            response = self._client._execute(
                "POST",
                self.bucket,
                key,
                body=body,
                headers=_sdk(request_headers),
                query_params={"uploadId": upload_id},
            )
            _raise_embedded_error(response.data, key)

        if conditional:
            self._with_condition(key, send, headers)
        else:
            with self._errors(key, upload_ref=upload_ref):
                send(headers)

    def _copy(self, source: str, key: str, size: int, headers: dict[str, str]) -> None:
        if size > MAX_COPY_SIZE:
            # Multipart copy cannot carry the condition; the caller's stat-before-write is the guard here.
            retention = None
            if "x-amz-object-lock-mode" in headers:
                until = datetime.fromisoformat(headers["x-amz-object-lock-retain-until-date"])
                retention = MinioRetention(headers["x-amz-object-lock-mode"], until)
            with self._errors(key):
                self._client.compose_object(
                    self.bucket,
                    key,
                    [ComposeSource(self.bucket, source)],
                    metadata={"Content-Type": headers["Content-Type"]},
                    retention=retention,
                )
            return
        copy_headers = {
            **headers,
            "x-amz-copy-source": quote(f"/{self.bucket}/{source}"),
            "x-amz-metadata-directive": "REPLACE",
            # The body is empty, but some servers (moto; AWS once) demand Content-MD5 with lock headers.
            "Content-MD5": _md5_b64(b""),
        }

        def send(request_headers: dict[str, str]) -> None:
            response = self._client._execute("PUT", self.bucket, key, headers=_sdk(request_headers))
            _raise_embedded_error(response.data, key)

        self._with_condition(key, send, copy_headers)

    def _ensure_retention(self, key: str, retain_until: datetime | None) -> None:
        """Some servers drop lock headers on multipart create; set retention explicitly when it is missing."""
        if retain_until is None or self.retention is None:
            return
        if self.stat(key).retention_mode:
            return
        with self._errors(key):
            self._client.set_object_retention(
                self.bucket, key, MinioRetention(self.retention.mode, retain_until)
            )

    def _digest(self, key: str) -> tuple[int, str]:
        digest = hashlib.sha256()
        size = 0
        with self.get(key) as reader:
            for chunk in reader:
                digest.update(chunk)
                size += len(chunk)
        return size, digest.hexdigest()

    def _read_pending(self, upload_id: str, part_number: int) -> tuple[int, bytes] | None:
        key = self._pending_key(upload_id, part_number)
        try:
            with self._errors(key):
                response = self._client.get_object(self.bucket, key)
        except ObjectNotFound:
            return None
        try:
            with self._errors(key):
                first = int(response.headers.get(_FIRST_PART_HEADER) or part_number)
                data = response.read()  # below MIN_PART_SIZE by construction
        finally:
            response.close()
            response.release_conn()
        return first, data

    def _write_pending(self, upload_id: str, part_number: int, first: int, data: bytes) -> None:
        key = self._pending_key(upload_id, part_number)
        headers = {"Content-Type": "application/octet-stream", _FIRST_PART_HEADER: str(first)}
        with self._errors(key):
            self._put_bytes(key, data, headers)

    def _remove_versions(self, key_or_prefix: str, *, exact: bool) -> int:
        """Delete every version (the bucket is versioned under object lock); returns how many objects went."""
        removed = 0
        with self._errors(key_or_prefix):
            for obj in self._client.list_objects(
                self.bucket, prefix=key_or_prefix, recursive=True, include_version=True
            ):
                name = obj.object_name
                if not name or (exact and name != key_or_prefix):
                    continue
                self._client.remove_object(self.bucket, name, version_id=obj.version_id)
                if not obj.is_delete_marker:
                    removed += 1
        return removed

    def _discard(self, upload_id: str, *, staging_only: bool = False) -> None:
        """Remove an upload's temporary objects. `staging_only` (no pending chunk was part of it): one plain
        DELETE of the staging object instead of listing versions, which some servers do in time proportional
        to the bucket; on a versioned bucket the old version and stray pending objects go with purge_temp."""
        try:
            if staging_only:
                with self._errors(self._staging_key(upload_id)):
                    self._client.remove_object(self.bucket, self._staging_key(upload_id))
                return
            self._remove_versions(f"{self.temp_prefix}uploads/{upload_id}/", exact=False)
        except StorageError:
            log.warning("could not remove temporary data of upload %s; purge_temp will", upload_id)


def _started_at(staging_key: str, temp_prefix: str) -> datetime | None:
    """Creation time encoded in one of our upload ids (see begin_multipart), None for anything else."""
    match = re.fullmatch(re.escape(temp_prefix) + r"uploads/([0-9a-f]{10})[0-9a-f]{22}/object", staging_key)
    return datetime.fromtimestamp(int(match.group(1), 16), UTC) if match else None


class _EmptyBody:
    def readinto(self, buffer: memoryview) -> int:
        return 0


def _sdk(headers: dict[str, str]) -> DictType:
    """The SDK's header type allows lists; ours are plain strings (a fresh dict: the SDK adds to it)."""
    return dict(headers.items())


def _md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")


def _raise_embedded_error(body: bytes | None, key: str) -> None:
    """CopyObject and CompleteMultipartUpload may answer 200 with an <Error> body: treat it as an error."""
    if not body:
        return
    try:
        # The configured server's own reply (minio-py parses it alike); expat limits entity expansion.
        root = ET.fromstring(body)  # noqa: S314
    except ET.ParseError:
        return
    if root.tag.rsplit("}", 1)[-1] != "Error":
        return
    code = root.findtext("Code") or ""
    if code == "PreconditionFailed":
        raise ObjectExists(key=key)
    raise StorageUnavailable(s3_code=code, key=key)


def _content_disposition(filename: str) -> str:
    fallback = (
        "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename) or "download"
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
