"""The ObjectStore contract shared by every backend, its value types and the stream helpers they use."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import BinaryIO, Literal, Protocol, runtime_checkable

from storage.errors import IncompleteStream, InvalidParts, PartTooLarge, StorageMisconfigured
from storage.keys import is_evidence_key

MiB = 1024 * 1024
#: Reads from caller streams and from stored objects happen in pieces this big (bounded memory).
CHUNK_SIZE = 1 * MiB
#: Default cap on one `upload_part` body; the S3 backend relays a part as it arrives, but holds a part below
#: 5 MiB (a pending tail) or one under retention (Content-MD5) in memory.
DEFAULT_MAX_PART_SIZE = 32 * MiB
#: S3 numbers parts 1..10000; the stores use the caller's part numbers, so the same bound holds for both.
MAX_PART_NUMBER = 10_000

RetentionMode = Literal["GOVERNANCE", "COMPLIANCE"]


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What `stat` knows about a stored object."""

    key: str
    size: int
    content_type: str
    etag: str
    last_modified: datetime
    retention_mode: str | None = None
    retain_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredObject:
    """Result of a write: where the bytes are, how many, and their SHA-256 as computed by the store.

    `deduplicated` is True when `complete_multipart` found the same content already stored under the
    content-addressed key it was asked to write (an idempotent re-upload): nothing new was written.
    """

    key: str
    size: int
    sha256: str
    deduplicated: bool = False


@dataclass(frozen=True, slots=True)
class Retention:
    """Object-lock retention applied to retained objects when they are written."""

    days: int
    mode: RetentionMode = "GOVERNANCE"

    def __post_init__(self) -> None:
        if self.days < 1:
            raise StorageMisconfigured("保留天数必须为正整数", retention_days=self.days)
        if self.mode not in ("GOVERNANCE", "COMPLIANCE"):
            raise StorageMisconfigured("保留模式只能是 GOVERNANCE 或 COMPLIANCE", retention_mode=self.mode)

    def until(self, now: datetime | None = None) -> datetime:
        moment = now or datetime.now(UTC)
        return (moment + timedelta(days=self.days)).replace(microsecond=0)

    @classmethod
    def from_options(cls, days: int | str | None, mode: str | None) -> Retention | None:
        if days in (None, "", 0, "0"):
            return None
        chosen = (mode or "GOVERNANCE").upper()
        if chosen not in ("GOVERNANCE", "COMPLIANCE"):
            raise StorageMisconfigured("保留模式只能是 GOVERNANCE 或 COMPLIANCE", retention_mode=mode)
        return cls(days=int(days or 0), mode="COMPLIANCE" if chosen == "COMPLIANCE" else "GOVERNANCE")


def should_retain(key: str, retain: bool | None, retention: Retention | None) -> bool:
    """Evidence is retained by default; derivatives and temporary data are not unless asked for."""
    if retention is None:
        return False
    return is_evidence_key(key) if retain is None else retain


class ByteSource(Protocol):
    """Anything ObjectReader can pull bytes from: an open file, an HTTP response body."""

    def readinto(self, buffer: memoryview, /) -> int | None: ...


class ObjectReader(io.RawIOBase):
    """A readable binary stream over (a range of) a stored object; close it, or use it as a context manager.

    It is a real file object (`read`, `readinto`, `shutil.copyfileobj`, `hashlib.file_digest` work), and
    iterating it yields chunks of up to 1 MiB (not lines), so a WSGI response can stream it directly.
    """

    def __init__(
        self,
        source: ByteSource,
        size: int,
        content_type: str,
        *,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self._source = source
        self._remaining = size
        self.size = size
        self.content_type = content_type
        self._on_close = on_close

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._remaining <= 0:
            return 0
        view = memoryview(buffer).cast("B")[: self._remaining]
        count = self._source.readinto(view)
        if not count:
            raise IncompleteStream(expected=self.size, received=self.size - self._remaining)
        self._remaining -= count
        return int(count)

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(CHUNK_SIZE):
            yield chunk

    def close(self) -> None:
        if not self.closed:
            try:
                if self._on_close is not None:
                    self._on_close()
            finally:
                super().close()


def iter_exact(stream: BinaryIO, length: int, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield exactly `length` bytes from `stream` in chunks; raise IncompleteStream if it ends early.

    Extra bytes after `length` are left unread: the caller's declared length is the contract.
    """
    if length < 0:
        raise ValueError("length must be >= 0")
    remaining = length
    while remaining:
        chunk = stream.read(min(chunk_size, remaining))
        if not chunk:
            raise IncompleteStream(expected=length, received=length - remaining)
        remaining -= len(chunk)
        yield chunk


def read_exact(stream: BinaryIO, length: int, *, prefix: bytes = b"") -> bytearray:
    """`prefix` followed by exactly `length` bytes of `stream`, in one buffer allocated once.

    Callers bound `length`: this is the only place a body sits in memory, so it is read straight into its
    final buffer (`readinto` where the stream has it) instead of joining pieces (which held it twice).
    """
    if length < 0:
        raise ValueError("length must be >= 0")
    buffer = bytearray(len(prefix) + length)
    buffer[: len(prefix)] = prefix
    read_into(stream, memoryview(buffer)[len(prefix) :])
    return buffer


def read_into(stream: BinaryIO, view: memoryview, chunk_size: int = CHUNK_SIZE) -> None:
    """Fill `view` from `stream` (IncompleteStream if it ends early); at most `chunk_size` per call."""
    length = len(view)
    readinto = getattr(stream, "readinto", None)
    got = 0
    while got < length:
        end = min(length, got + chunk_size)
        if readinto is not None:
            count = readinto(view[got:end])
        else:
            piece = stream.read(end - got)
            count = len(piece) if piece else 0
            view[got : got + count] = piece
        if not count:
            raise IncompleteStream(expected=length, received=got)
        got += count


def check_part(part_number: int, length: int, max_part_size: int) -> None:
    if not 1 <= part_number <= MAX_PART_NUMBER:
        raise InvalidParts(f"分片序号必须在 1 到 {MAX_PART_NUMBER} 之间", part_number=part_number)
    if length < 1:
        raise InvalidParts("分片不能为空", part_number=part_number)
    if length > max_part_size:
        raise PartTooLarge(
            f"单个分片不能超过 {max_part_size} 字节", length=length, max_part_size=max_part_size
        )


def normalize_parts(parts: Sequence[Sequence[object]]) -> list[tuple[int, str]]:
    """Accept [(n, token), ...] (tuples, or lists as they come back from JSON) numbered exactly 1..N."""
    normalized: list[tuple[int, str]] = []
    for entry in parts:
        if len(entry) != 2:
            raise InvalidParts(entry=repr(entry))
        number, token = entry
        if not isinstance(number, int) or isinstance(number, bool) or not isinstance(token, str):
            raise InvalidParts(entry=repr(entry))
        normalized.append((number, token))
    normalized.sort(key=lambda item: item[0])
    if not normalized or [n for n, _ in normalized] != list(range(1, len(normalized) + 1)):
        raise InvalidParts("分片序号必须从 1 开始连续编号", numbers=[n for n, _ in normalized])
    return normalized


@runtime_checkable
class ObjectStore(Protocol):
    """Bytes, not meaning: a write-once, content-addressable object store with resumable uploads.

    Keys are validated by `storage.keys.validate_key`. Evidence lives at `evidence_key(sha256)`; writing an
    evidence key verifies the bytes hash to it, and evidence keys can never be deleted through a store.
    """

    @property
    def backend(self) -> str:
        """Which backend this is: "local" or "s3"."""
        ...

    @property
    def max_part_size(self) -> int:
        """Largest `length` one `upload_part` call accepts; split bigger request bodies into several parts."""
        ...

    def put(
        self,
        key: str,
        stream: BinaryIO,
        length: int,
        content_type: str = "application/octet-stream",
        *,
        retain: bool | None = None,
    ) -> StoredObject:
        """Store exactly `length` bytes from `stream` under a new key; never overwrites (ObjectExists).

        `retain=None` applies the configured retention to evidence keys only; True/False forces it.
        """
        ...

    def get(self, key: str, *, start: int = 0, length: int | None = None) -> ObjectReader:
        """Open the object (or the byte range `start`, `start+length`) for streaming reads."""
        ...

    def stat(self, key: str) -> ObjectInfo: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> bool:
        """Remove a derivative or temporary object; True if something was removed.

        Evidence keys and objects under retention raise ObjectLocked.
        """
        ...

    def presigned_get(
        self,
        key: str,
        expires_seconds: int = 300,
        *,
        download_name: str | None = None,
        content_type: str | None = None,
    ) -> str | None:
        """A time-limited URL a browser can GET directly, or None when the API must proxy the bytes."""
        ...

    def tool_source(self, key: str, expires_seconds: int = 600) -> str:
        """Where a tool on this host (ffmpeg) can read the object in place, without a copy: a file path for
        the local store, a short-lived URL signed for the store's own endpoint (not the public one) for S3.
        Raises ObjectNotFound when the object does not exist."""
        ...

    def health(self) -> dict[str, object]:
        """Cheap liveness and configuration check; never raises, never includes secrets."""
        ...

    def begin_multipart(
        self,
        key_hint: str = "",
        *,
        final_key: str | None = None,
        content_type: str = "application/octet-stream",
        retain: bool | None = None,
    ) -> str:
        """Start a resumable upload; the returned reference is an opaque string safe to keep in a database.

        `final_key` (an evidence key, i.e. the declared SHA-256): the backend may write the upload straight
        onto it (S3: multipart upload on the key itself, invisible until completed); completion then needs
        `verified_sha256` and checks it against the key before anything becomes readable. `content_type` and
        `retain` are only used by such a direct upload (object headers are fixed at S3 multipart create).
        """
        ...

    def upload_part(
        self,
        upload_ref: str,
        part_number: int,
        stream: BinaryIO,
        length: int,
        *,
        previous_token: str | None = None,
    ) -> str:
        """Store chunk `part_number` (1, 2, 3, ... in order; any size up to `max_part_size`); return a token.

        Keep `(part_number, token)` in the database; re-sending the same part number replaces that chunk.
        `previous_token` (the kept token of chunk `part_number - 1`) lets a backend skip look-ups for data
        carried over from the previous chunk; callers that keep tokens should always pass it.
        """
        ...

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
        """Assemble the chunks, hash them, and store the result write-once under `final_key`.

        `verified_sha256`: the caller hashed exactly the bytes it passed to `upload_part` (e.g. a resumable
        hash kept between requests) and vouches for it; a backend that would have to read the assembled
        object back to hash it (S3) skips that read. It is still checked against `expected_sha256` and key.

        `final_key=None` stores under `evidence_key(<computed sha256>)`. If `expected_sha256` is given and
        differs, nothing is stored, the upload is discarded and DigestMismatch is raised.
        """
        ...

    def abort_multipart(self, upload_ref: str) -> None:
        """Discard an unfinished upload and its temporary data (UploadNotFound if unknown)."""
        ...

    def purge_temp(self, older_than_seconds: int) -> int:
        """Remove temporary data and unfinished uploads older than the given age; returns how many went."""
        ...
