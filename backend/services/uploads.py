"""Resumable evidence uploads (tus 1.0: creation, checksum, termination, expiration) onto the object store.

Each PATCH body is read from the request stream in bounded blocks and handed to the store's multipart upload
as one numbered chunk per block, so no file is ever held whole in memory (or on local disk in S3 mode). All
state needed to continue (offset, the store's multipart reference and (chunk, token) list, the running
SHA-256 state, the first and last bytes for media checks) is in the `upload` row, so any replica, or one after
a restart, carries on. A PATCH holds a short lease on its upload row so two requests never append at once.

At the last byte: the streamed SHA-256 is compared with the hash the device declared (460 and the upload is
discarded on mismatch); the store assembles the object under its content address (verifying the hash again);
the media is probed (type from magic bytes, structure, bombs, limits); photos get a thumbnail and a
watermarked display derivative, stored beside the untouched original.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import logging
import secrets
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from sqlalchemy import bindparam, case, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session

from ..config import Settings
from ..errors import BadRequest, ChecksumMismatch, Conflict, DomainError, Gone, Invalid, NotFound, TooLarge
from ..models.accounts import User
from ..models.base import utcnow
from ..models.directory import Enterprise, Inspector
from ..models.fieldwork import Evidence, Upload
from ..models.forms import InspectionForm
from . import audit
from .form_scope import is_assigned, require_field_inspector
from .resumable_hash import ResumableSha256
from .sync import (
    FORM_STATUS_AFTER_FIRST_WRITE,
    check_size_and_quota,
    evidence_limit_bytes,
    lock_form,
    mark_form_changed,
)

log = logging.getLogger(__name__)

MiB = 1024 * 1024
TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = ("creation", "creation-with-upload", "checksum", "termination", "expiration")
#: store_ref of an upload whose content address already holds these bytes (an identical file was received
#: before): nothing is stored, the body is only hashed and compared with the declared SHA-256.
DEDUPE_REF = "dedupe"
CHECKSUM_ALGORITHMS = ("sha1", "sha256")
UPLOAD_TTL = timedelta(hours=24)
LOCK_LEASE = timedelta(minutes=5)
HEAD_BYTES = 64 * 1024  # kept for media checks: magic bytes and container headers
TAIL_BYTES = 64 * 1024
SNIFF_BYTES = 4096  # refuse an executable or an EPS after its first 4 KiB, not after gigabytes
MAX_BLOCK = 16 * MiB  # one store chunk (on S3 relayed as it arrives, buffered only under retention)
READ_SIZE = 1 * MiB
EVIDENCE_MEDIA_KINDS = {
    "photo": ("image",),
    "video": ("video",),
    "audio": ("audio", "video"),  # a WebM recording sniffs as video until probed
    "document": ("document", "image"),
}
PROBE_MEDIA_KINDS = {
    "photo": ("image",),
    "video": ("video",),
    "audio": ("audio",),
    "document": ("document", "image"),
}

_LEASED_EVIDENCE = "shuangsui.upload_evidence"  # session.info: the evidence create_upload(lease=True) read


# The statements of every append and acceptance, built once: with SQLite most of a small statement's cost is
# building it and deriving its cache key, not running it. Core tables, values passed as parameters (the SET
# clause is the parameters' column names); the b_ names are the WHERE clause's.
_UPLOADS = Upload.__table__  # type: ignore[attr-defined]
_EVIDENCE = Evidence.__table__  # type: ignore[attr-defined]
_FORMS = InspectionForm.__table__  # type: ignore[attr-defined]
_UPLOAD_ROW = update(_UPLOADS).where(_UPLOADS.c.id == bindparam("b_upload"))
_LEASED_ROW = _UPLOAD_ROW.where(_UPLOADS.c.lock_token == bindparam("b_token"))
_FREE_ROW_AT = _UPLOAD_ROW.where(
    _UPLOADS.c.state == "open",
    _UPLOADS.c.offset == bindparam("b_offset"),
    or_(_UPLOADS.c.lock_token.is_(None), _UPLOADS.c.locked_until < bindparam("b_now")),
)
_RECEIVE_EVIDENCE = update(_EVIDENCE).where(
    _EVIDENCE.c.id == bindparam("b_evidence"), _EVIDENCE.c.status != "received"
)
_BUMP_FORM = (
    update(_FORMS)
    .where(_FORMS.c.id == bindparam("b_form"))
    .values(
        version=_FORMS.c.version + 1,
        updated_at=bindparam("b_now"),
        status=case(
            *((_FORMS.c.status == before, after) for before, after in FORM_STATUS_AFTER_FIRST_WRITE.items()),
            else_=_FORMS.c.status,
        ),
    )
)


def _update_upload(session: Session, upload_id: uuid.UUID, values: dict[str, Any], *, token: str | None = None) -> int:
    """UPDATE the upload row (only while `token` is still its lease, if given); the number of rows changed."""
    if token is None:
        result = session.execute(_UPLOAD_ROW, {"b_upload": upload_id, **values})
    else:
        result = session.execute(_LEASED_ROW, {"b_upload": upload_id, "b_token": token, **values})
    return int(result.rowcount)  # type: ignore[attr-defined]


class UploadLocked(DomainError):
    """Another request is appending to this upload right now (tus clients retry 423)."""

    status_code = 423


class UnsupportedMedia(DomainError):
    status_code = 415


# -- creation ------------------------------------------------------------------------------------


def parse_metadata(header: str | None) -> dict[str, str]:
    """`Upload-Metadata: key b64,key b64` → {key: value}; values are UTF-8 text here."""
    result: dict[str, str] = {}
    if not header:
        return result
    for pair in header.split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, encoded = pair.partition(" ")
        try:
            result[key] = base64.b64decode(encoded.strip(), validate=True).decode("utf-8") if encoded else ""
        except (binascii.Error, ValueError):
            raise BadRequest(
                "Upload-Metadata 格式错误", errors={"Upload-Metadata": [f"{key} 不是有效的 base64"]}
            ) from None
    return result


def max_upload_size(settings: Settings) -> int:
    return max(evidence_limit_bytes(settings, k) for k in settings.upload_limits_mb)


def create_upload(
    *,
    session: Session,
    actor: User,
    settings: Settings,
    store: Any,
    length: int | None,
    metadata: dict[str, str],
    lease: bool = False,
) -> Upload:
    """tus creation. `lease=True` (creation-with-upload: the same request appends next) creates the upload
    already holding its append lease (`upload.lock_token`), which saves that request a read, an update and a
    commit; the caller passes the token to `append` and must `release_lease` if it does not get that far."""
    require_field_inspector(actor)
    if length is None:
        raise BadRequest("缺少 Upload-Length（不支持延迟声明长度）", errors={"Upload-Length": ["必填"]})
    if length < 0:
        raise BadRequest("Upload-Length 无效", errors={"Upload-Length": ["必须是非负整数"]})
    try:
        evidence_id = uuid.UUID(metadata.get("evidence_id", ""))
    except ValueError:
        raise Invalid(
            "Upload-Metadata 必须包含 evidence_id（证据 UUID）", errors={"evidence_id": ["必填"]}
        ) from None
    if length == 0:
        raise Invalid("文件为空（0 字节），不能作为证据", errors={"Upload-Length": ["文件为空"]})
    evidence = session.get(Evidence, evidence_id)
    kind = None
    if evidence is not None:
        _check_evidence_access(session, actor, evidence)
        if evidence.size != length:
            raise Invalid(
                "文件大小与登记的证据不符", errors={"Upload-Length": [f"登记为 {evidence.size} 字节"]}
            )
        if evidence.status == "rejected":
            raise Conflict(f"该证据已被拒收：{evidence.rejected_reason or ''}".rstrip("："))
        kind = evidence.kind
    check_size_and_quota(session, settings, actor, kind, length, evidence_id)
    now = utcnow()
    upload = Upload(
        evidence_id=evidence_id,
        length=length,
        filename=metadata.get("filename", "")[:255],
        filetype=metadata.get("filetype", "")[:128],
        metadata_=metadata,
        created_by=actor.id,
        created_at=now,
        expires_at=now + UPLOAD_TTL,
        hash_state=ResumableSha256().state(),
    )
    if evidence is not None and evidence.status == "received":
        # The bytes are already here and verified (a client that lost the final answer starts over): done.
        upload.offset = length
        upload.state = "completed"
        upload.completed_at = now
    elif lease:
        upload.lock_token = secrets.token_hex(16)
        upload.locked_until = now + LOCK_LEASE
        # The identity map holds objects weakly: keep the evidence for the append this request makes next, which
        # then reads it without another SELECT (its acceptance checks it again under the form lock anyway).
        session.info[_LEASED_EVIDENCE] = evidence
    # The store's multipart upload is begun by the first PATCH that needs one: a file sent in one request
    # goes straight to its content address instead.
    session.add(upload)
    audit.record(
        session=session,
        actor=actor,
        action="upload.create",
        entity="upload",
        entity_id=upload.id,
        data={
            "evidence_id": str(evidence_id),
            "length": length,
            "filename": upload.filename,
            "state": upload.state,
        },
    )
    session.commit()
    return upload


def _check_evidence_access(session: Session, actor: User, evidence: Evidence) -> None:
    if evidence.user_id == actor.id or is_assigned(session, evidence.form_id, actor.inspector_id):
        return
    raise NotFound("证据记录不存在")


def get_upload(*, session: Session, actor: User, upload_id: uuid.UUID, store: Any | None = None) -> Upload:
    """The caller's own upload (others get 404); an expired or terminated one is 410."""
    upload = session.get(Upload, upload_id, populate_existing=True)
    if upload is None or upload.created_by != actor.id:
        raise NotFound("上传任务不存在")
    if upload.state == "open" and upload.expires_at <= utcnow():
        _expire(session, upload, store)
    if upload.state in ("aborted", "failed") or (upload.state == "expired"):
        raise Gone("上传任务已终止或已过期，请重新上传", reason=upload.error or upload.state)
    return upload


def _expire(session: Session, upload: Upload, store: Any | None) -> None:
    _end_upload(session, upload, store, state="expired", error="expired", action="upload.expire", actor=None)


def _end_upload(
    session: Session, upload: Upload, store: Any | None, *, state: str, error: str, action: str, actor: User | None
) -> None:
    """Abort the store's multipart upload (if any), mark the upload ended and audit it, in one commit."""
    if store is not None and upload.store_ref:
        _abort_quietly(store, upload.store_ref)
    upload.state = state
    upload.error = error
    session.add(upload)
    audit.record(
        session=session,
        actor=actor,
        action=action,
        entity="upload",
        entity_id=upload.id,
        data={"evidence_id": str(upload.evidence_id), "offset": upload.offset},
    )
    session.commit()


def _abort_quietly(store: Any, ref: str) -> None:
    from storage import StorageError

    if ref == DEDUPE_REF:
        return
    try:
        store.abort_multipart(ref)
    except StorageError as exc:
        log.info("abort of %s: %s", ref, exc)


def terminate(*, session: Session, actor: User, store: Any, upload_id: uuid.UUID) -> None:
    upload = get_upload(session=session, actor=actor, upload_id=upload_id, store=store)
    if upload.state == "completed":
        raise Conflict("上传已完成，证据不可删除")
    if upload.lock_token and upload.locked_until and upload.locked_until > utcnow():
        raise UploadLocked("该上传正在写入，请稍后再试")
    _end_upload(session, upload, store, state="aborted", error="terminated", action="upload.terminate", actor=actor)


def purge_expired(*, session: Session, store: Any, limit: int = 500) -> int:
    """Abort uploads past their expiry (a periodic job; requests also expire them lazily)."""
    rows = (
        session.execute(
            select(Upload).where(Upload.state == "open", Upload.expires_at <= utcnow()).limit(limit)
        )
        .scalars()
        .all()
    )
    for upload in rows:
        _expire(session, upload, store)
    return len(rows)


# -- appending -----------------------------------------------------------------------------------


@dataclass
class ChunkChecksum:
    algorithm: str
    digest: bytes

    @classmethod
    def parse(cls, header: str | None) -> ChunkChecksum | None:
        if not header:
            return None
        algorithm, _, encoded = header.strip().partition(" ")
        algorithm = algorithm.lower()
        if algorithm not in CHECKSUM_ALGORITHMS:
            raise BadRequest(
                "不支持的校验算法", errors={"Upload-Checksum": [f"仅支持 {', '.join(CHECKSUM_ALGORITHMS)}"]}
            )
        try:
            digest = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(
                "Upload-Checksum 不是有效的 base64", errors={"Upload-Checksum": ["格式错误"]}
            ) from None
        return cls(algorithm, digest)


class _BlockReader(io.RawIOBase):
    """Reads `length` bytes of one block from the request, feeding the hashes and head/tail samples."""

    def __init__(self, source: BinaryIO, length: int, on_bytes: Callable[[bytes], None]) -> None:
        super().__init__()
        self._source = source
        self._remaining = length
        self._on_bytes = on_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._remaining <= 0:
            return 0
        want = min(len(buffer), self._remaining, READ_SIZE)
        view = memoryview(buffer).cast("B")[:want]
        readinto = getattr(self._source, "readinto", None)
        if readinto is not None:
            n = readinto(view) or 0
        else:
            data = self._source.read(want)
            n = len(data) if data else 0
            view[:n] = data
        if not n:
            return 0  # the store reports IncompleteStream
        self._on_bytes(view[:n])
        self._remaining -= n
        return n


def append(
    *,
    session: Session,
    actor: User,
    settings: Settings,
    store: Any,
    upload_id: uuid.UUID,
    offset: int | None,
    content_length: int | None,
    stream: BinaryIO,
    checksum: ChunkChecksum | None,
    lease_token: str | None = None,
) -> Upload:
    """tus PATCH: append the body at `offset`; complete the evidence when the last byte arrives.

    `lease_token`: the lease `create_upload(lease=True)` took for this request; if this raises before the
    bytes are written, the caller releases it (`release_lease`).
    """

    created: Evidence | None = None
    if lease_token is None:
        upload = get_upload(session=session, actor=actor, upload_id=upload_id, store=store)
    else:
        upload = session.get(Upload, upload_id)  # created by this request, in this session
        if upload is None or upload.created_by != actor.id or upload.lock_token != lease_token:
            raise Conflict("上传租约已失效，请查询偏移量后续传")
        created = session.info.pop(_LEASED_EVIDENCE, None)  # as create_upload read it a moment ago
    if offset is None or offset < 0:
        raise BadRequest("缺少或无效的 Upload-Offset", errors={"Upload-Offset": ["必填，非负整数"]})
    if content_length is None:
        raise BadRequest("PATCH 请求必须带 Content-Length", errors={"Content-Length": ["必填"]})
    if upload.state == "completed" and offset == upload.offset and content_length == 0:
        return upload  # nothing left to send: an idempotent no-op
    if offset != upload.offset:
        raise Conflict("上传偏移量不一致，请先用 HEAD 查询当前偏移量", offset=upload.offset)
    if offset + content_length > upload.length:
        raise TooLarge("数据超出声明的文件长度（Upload-Length）")
    final = offset + content_length == upload.length
    evidence = created if created is not None and created.id == upload.evidence_id else None
    if evidence is None:
        evidence = session.get(Evidence, upload.evidence_id)
    if evidence is not None:
        _check_evidence_access(session, actor, evidence)
    if final and evidence is None:
        raise Conflict(
            "证据记录尚未同步到服务器：请先同步检查表，再继续上传", evidence_id=str(upload.evidence_id)
        )
    if evidence is not None and evidence.status == "rejected":
        raise Conflict(f"该证据已被拒收：{evidence.rejected_reason or ''}".rstrip("："))

    token = lease_token if lease_token is not None else _acquire_lease(session, upload, offset)
    if evidence is not None and evidence.status == "received":
        # Received through another upload meanwhile: this one is done, without a second receipt.
        return _settle_received(session=session, actor=actor, store=store, upload_id=upload.id)
    if final and offset == 0 and checksum is None and not upload.parts and evidence is not None:
        return _append_whole(
            session=session,
            actor=actor,
            settings=settings,
            store=store,
            upload=upload,
            token=token,
            stream=stream,
            evidence=evidence,
            created_here=lease_token is not None,
        )
    with _writing_upload(session, upload, store, actor, evidence, token, checksum_mismatch_fails=False):
        progress = _stream_blocks(
            session=session,
            upload=upload,
            token=token,
            store=store,
            stream=stream,
            length=content_length,
            checksum=checksum,
            kind=evidence.kind if evidence is not None else None,
            declared_sha256=evidence.sha256 if evidence is not None else None,
        )
    # The last bytes: the lease is kept until completion is committed, so a HEAD meanwhile (finish_pending)
    # never completes the same upload a second time.
    final = progress.offset == upload.length
    upload = _commit_progress(session, upload, token, progress, release=not final)
    if final:
        upload = complete(
            session=session, actor=actor, settings=settings, store=store, upload=upload, token=token
        )
    return upload


class _Verified:
    def __init__(self, hexdigest: str) -> None:
        self._hex = hexdigest

    def hexdigest(self) -> str:
        return self._hex


class _MediaRefused(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class _Progress:
    offset: int
    parts: list[list[Any]]
    hash_state: str
    head: bytes
    tail: bytes
    media_type: str | None


def _acquire_lease(session: Session, upload: Upload, offset: int) -> str:
    token = secrets.token_hex(16)
    now = utcnow()
    lease = {"lock_token": token, "locked_until": now + LOCK_LEASE}
    result = session.execute(_FREE_ROW_AT, {"b_upload": upload.id, "b_offset": offset, "b_now": now, **lease})
    session.commit()
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return token
    fresh = session.get(Upload, upload.id, populate_existing=True)
    if fresh is None or fresh.state != "open":
        raise Gone("上传任务已结束")
    if fresh.offset != offset:
        raise Conflict("上传偏移量不一致，请先用 HEAD 查询当前偏移量", offset=fresh.offset)
    raise UploadLocked("该上传正有另一个请求在写入，请稍后重试")


def _renew_lease(session: Session, upload_id: uuid.UUID, token: str) -> None:
    _update_upload(session, upload_id, {"locked_until": utcnow() + LOCK_LEASE}, token=token)
    session.commit()


def release_lease(*, session: Session, upload_id: uuid.UUID, token: str) -> None:
    """Give up a lease this request holds (a no-op if it was already released or taken over)."""
    _release(session, upload_id, token)


def _release(session: Session, upload_id: uuid.UUID, token: str, *, record: dict[str, Any] | None = None) -> None:
    """Give up the lease (if this request still holds it), writing `record` (upload columns) with it."""
    session.rollback()
    _update_upload(session, upload_id, {**(record or {}), "lock_token": None, "locked_until": None}, token=token)
    session.commit()


def _stream_blocks(
    *,
    session: Session,
    upload: Upload,
    token: str,
    store: Any,
    stream: BinaryIO,
    length: int,
    checksum: ChunkChecksum | None,
    kind: str | None,
    declared_sha256: str | None = None,
) -> _Progress:
    """Copy the body into store chunks. Without a chunk checksum, whole blocks that arrived count even if the
    connection drops later; with one, the body counts only if it all arrived and matches."""
    from storage import IncompleteStream, MediaRejected
    from storage.media import sniff

    committed = _Progress(
        upload.offset, list(upload.parts), upload.hash_state, upload.head, upload.tail, upload.media_type
    )
    hasher = ResumableSha256.resume(upload.hash_state)
    body_hash = hashlib.new(checksum.algorithm) if checksum else None
    position = upload.offset
    head = bytearray(upload.head)
    tail = bytearray(upload.tail)
    media_type = upload.media_type
    block_size = max(1, min(int(getattr(store, "max_part_size", MAX_BLOCK)), MAX_BLOCK))
    pending: list[list[Any]] = []
    staged = committed  # what is safe to keep if the body stops here

    def sniff_now() -> None:
        nonlocal media_type
        try:
            media_kind, mime = sniff(bytes(head))
        except MediaRejected as exc:
            raise _MediaRefused(exc.reason, exc.message) from None
        allowed = EVIDENCE_MEDIA_KINDS.get(kind or "", ("image", "video", "audio", "document"))
        if media_kind not in allowed:
            raise _MediaRefused("kind_mismatch", _kind_mismatch_message(kind))
        media_type = mime

    def on_bytes(data: memoryview) -> None:
        nonlocal position, tail
        hasher.update(data)
        if body_hash is not None:
            body_hash.update(data)
        if len(head) < HEAD_BYTES:
            head.extend(data[: HEAD_BYTES - len(head)])
        tail.extend(data[-TAIL_BYTES:])
        if len(tail) > TAIL_BYTES:
            del tail[: len(tail) - TAIL_BYTES]
        before = position
        position += len(data)
        if media_type is None and (position >= upload.length or (before < SNIFF_BYTES <= position)):
            sniff_now()

    if not upload.store_ref and length:
        content_type = upload.media_type
        if content_type is None and upload.offset == 0:
            # The stored object's type comes from the bytes, never from the client's declared filetype.
            prefix = _read_up_to(stream, min(length, SNIFF_BYTES))
            stream = _Prefixed(prefix, stream)  # type: ignore[assignment]
            if len(prefix) >= min(SNIFF_BYTES, upload.length):
                try:
                    content_type = sniff(prefix)[1]
                except MediaRejected:
                    pass  # refused, with its reason, as the bytes stream in below
        store_ref = _begin(store, upload, declared_sha256, content_type)
        _update_upload(session, upload.id, {"store_ref": store_ref}, token=token)
        session.commit()
        set_committed_value(upload, "store_ref", store_ref)  # not a pending change: no second UPDATE at the next flush
    remaining = length
    try:
        while remaining:
            n = min(block_size, remaining)
            done = committed.parts + pending
            number = len(done) + 1
            reader = _BlockReader(stream, n, on_bytes)
            if upload.store_ref == DEDUPE_REF:
                _drain(reader, n)
                chunk_token = DEDUPE_REF
            else:
                chunk_token = store.upload_part(
                    upload.store_ref, number, reader, n, previous_token=done[-1][1] if done else None
                )
            pending.append([number, chunk_token])
            remaining -= n
            staged = _Progress(
                position, committed.parts + pending, hasher.state(), bytes(head), bytes(tail), media_type
            )
            if remaining:
                _renew_lease(session, upload.id, token)
    except (IncompleteStream, OSError):
        if checksum is None and staged is not committed:
            _commit_progress(session, upload, token, staged, release=True)
        raise
    if body_hash is not None and body_hash.digest() != checksum.digest:  # type: ignore[union-attr]
        # Not appended: the same chunk numbers are simply sent again by the retry and replace these.
        _release(session, upload.id, token)
        raise ChecksumMismatch("分片校验和不符，本次数据未被接收，请重传该分片")
    return staged


def _begin(store: Any, upload: Upload, declared_sha256: str | None, content_type: str | None) -> str:
    """Begin the store's multipart upload, on the content address itself when the declared hash is known."""
    from storage import evidence_key

    if declared_sha256 is None:
        return str(store.begin_multipart(f"evidence/{upload.evidence_id}"))
    key = evidence_key(declared_sha256)
    if store.exists(key):
        return DEDUPE_REF  # one HEAD per upload: an identical file is never transferred to the store again
    return str(
        store.begin_multipart(
            f"evidence/{upload.evidence_id}",
            final_key=key,
            content_type=content_type or "application/octet-stream",
        )
    )


def _read_up_to(stream: BinaryIO, size: int) -> bytes:
    """Up to `size` bytes from the start of the body (fewer only if it ends early)."""
    buffer = bytearray()
    while len(buffer) < size:
        data = stream.read(size - len(buffer))
        if not data:
            break
        buffer.extend(data)
    return bytes(buffer)


class _Prefixed:
    """The request body with its first bytes, already read for sniffing, put back in front."""

    def __init__(self, prefix: bytes, rest: BinaryIO) -> None:
        self._prefix = memoryview(prefix)
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if self._prefix:
            n = len(self._prefix) if size < 0 else min(size, len(self._prefix))
            data = bytes(self._prefix[:n])
            self._prefix = self._prefix[n:]
            return data
        return self._rest.read(size)

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        readinto = getattr(self._rest, "readinto", None)
        if readinto is None:
            data = self._rest.read(len(buffer))
            buffer[: len(data)] = data
            return len(data)
        return readinto(buffer) or 0


def _drain(reader: io.RawIOBase, length: int) -> None:
    """Read (and so hash) `length` bytes without keeping them; IncompleteStream if the body ends early."""
    from storage import IncompleteStream

    buffer = bytearray(min(length, READ_SIZE))
    view = memoryview(buffer)
    remaining = length
    while remaining:
        n = reader.readinto(view[: min(remaining, len(view))])
        if not n:
            raise IncompleteStream(expected=length, received=length - remaining)
        remaining -= n


def _kind_mismatch_message(kind: str | None) -> str:
    labels = {"photo": "照片", "video": "视频", "audio": "录音", "document": "文档（PDF 或图片）"}
    return f"文件内容与登记的证据类型（{labels.get(kind or '', kind)}）不符"


def _commit_progress(
    session: Session, upload: Upload, token: str, progress: _Progress, *, release: bool = True
) -> Upload:
    """Record what was appended, only while this request still holds the lease: one conditional UPDATE, and
    `upload` is set to what the row now holds (no read back)."""
    session.rollback()
    values: dict[str, Any] = {
        "offset": progress.offset,
        "parts": progress.parts,
        "hash_state": progress.hash_state,
        "head": progress.head,
        "tail": progress.tail,
        "media_type": progress.media_type,
        "expires_at": utcnow() + UPLOAD_TTL,
    }
    if release:
        values.update(lock_token=None, locked_until=None)
    changed = _update_upload(session, upload.id, values, token=token)
    session.commit()
    if changed != 1:
        raise Conflict("上传租约已失效（另一个请求接管了该上传），请查询偏移量后续传")
    for name, value in values.items():
        set_committed_value(upload, name, value)
    return upload


def _fail_upload(
    session: Session,
    upload: Upload,
    store: Any,
    actor: User,
    evidence: Evidence | None,
    *,
    reason: str,
    token: str | None = None,
    reject: bool = False,
) -> None:
    session.rollback()
    fresh = session.get(Upload, upload.id, populate_existing=True)
    assert fresh is not None
    if fresh.store_ref and fresh.state == "open":
        _abort_quietly(store, fresh.store_ref)
    fresh.state = "failed"
    fresh.error = reason[:500]
    fresh.lock_token = None
    fresh.locked_until = None
    session.add(fresh)
    if reject and evidence is not None:
        _reject_evidence(session, actor, evidence.id, reason)
    audit.record(
        session=session,
        actor=actor,
        action="upload.fail",
        entity="upload",
        entity_id=fresh.id,
        data={"evidence_id": str(fresh.evidence_id), "reason": reason, "offset": fresh.offset},
    )
    session.commit()


def _reject_evidence(session: Session, actor: User | None, evidence_id: uuid.UUID, reason: str) -> None:
    evidence = session.get(Evidence, evidence_id, populate_existing=True)
    if evidence is None or evidence.status == "received":
        return
    form = lock_form(session, evidence.form_id)
    evidence = session.get(Evidence, evidence_id, populate_existing=True)
    assert evidence is not None
    evidence.status = "rejected"
    evidence.rejected_reason = reason[:500]
    session.add(evidence)
    form.version += 1
    form.updated_at = utcnow()
    session.add(form)
    audit.record(
        session=session,
        actor=actor,
        action="evidence.rejected",
        entity="evidence",
        entity_id=evidence.id,
        data={"form_id": str(form.id), "reason": reason, "sha256": evidence.sha256},
    )


def _storage_error(exc: Exception) -> DomainError:
    from storage import StorageUnavailable

    err = DomainError(getattr(exc, "message", "存储服务出错"))
    err.status_code = 503 if isinstance(exc, StorageUnavailable) else 500
    return err


# -- completion ----------------------------------------------------------------------------------


def complete(
    *, session: Session, actor: User, settings: Settings, store: Any, upload: Upload, token: str
) -> Upload:
    """All bytes are in the store: verify the hash, assemble under the content address, accept.

    The caller holds the upload's lease (`token`); it is released when completion commits or fails.
    """
    from storage import DigestMismatch, StorageError, StoredObject, evidence_key

    evidence = session.get(Evidence, upload.evidence_id, populate_existing=True)
    if evidence is None:
        _release(session, upload.id, token)
        raise Conflict("证据记录尚未同步到服务器：请先同步检查表", evidence_id=str(upload.evidence_id))
    if evidence.status == "received":
        return _settle_received(session=session, actor=actor, store=store, upload_id=upload.id)
    if not upload.store_ref:
        # Sent whole (_append_whole): the store wrote it to the content address only after hashing it against
        # that address, so there is no streamed hash state to check; only completion itself was interrupted.
        key = evidence_key(evidence.sha256)
        try:
            size = store.stat(key).size
        except StorageError as exc:
            _release(session, upload.id, token)
            raise _storage_error(exc) from exc
        if size != upload.length:
            _release(session, upload.id, token)
            raise Conflict("已存储的文件与登记的大小不符")
        stored = StoredObject(key=key, size=size, sha256=evidence.sha256, deduplicated=False)
        return _accept(
            session=session,
            actor=actor,
            settings=settings,
            store=store,
            upload=upload,
            evidence=evidence,
            stored=stored,
            media_type=upload.media_type,
            token=token,
        )
    actual = ResumableSha256.resume(upload.hash_state).hexdigest()
    if actual != evidence.sha256:
        _checksum_failed(session, upload, store, actor, evidence, actual)
    if upload.store_ref == DEDUPE_REF:
        # Found under the content address when the upload began; evidence objects are never deleted, and
        # the streamed bytes hash to the same address: acknowledge without storing anything.
        stored = StoredObject(key=evidence_key(actual), size=upload.length, sha256=actual, deduplicated=True)
        return _accept(
            session=session,
            actor=actor,
            settings=settings,
            store=store,
            upload=upload,
            evidence=evidence,
            stored=stored,
            media_type=upload.media_type,
            token=token,
        )
    try:
        stored = store.complete_multipart(
            upload.store_ref,
            upload.parts,
            evidence_key(actual),
            expected_sha256=evidence.sha256,
            content_type=upload.media_type or "application/octet-stream",
            verified_sha256=actual,  # hashed while streaming (resumable state): no re-read of the object
        )
    except DigestMismatch as exc:
        _checksum_failed(session, upload, store, actor, evidence, exc.actual)
    except StorageError as exc:
        _release(session, upload.id, token)
        raise _storage_error(exc) from exc
    return _accept(
        session=session,
        actor=actor,
        settings=settings,
        store=store,
        upload=upload,
        evidence=evidence,
        stored=stored,
        media_type=upload.media_type,
        token=token,
    )


def _append_whole(
    *,
    session: Session,
    actor: User,
    settings: Settings,
    store: Any,
    upload: Upload,
    token: str,
    stream: BinaryIO,
    evidence: Evidence,
    created_here: bool = False,
) -> Upload:
    """The whole file in one request: stream it straight to its content address (no multipart, no copy).

    The store verifies the bytes hash to the key (the declared SHA-256) before anything becomes visible.
    `created_here`: the upload was created by this same request (creation-with-upload), see below.
    """
    from storage import (
        DigestMismatch,
        IncompleteStream,
        MediaRejected,
        ObjectExists,
        StoredObject,
        evidence_key,
    )
    from storage.media import sniff

    # The store hashes the body itself and refuses it unless it matches the evidence key, so it is hashed here
    # only when the store declined to read it (the object already exists).
    digest: Any = None
    head = bytearray()
    tail = bytearray()
    state: dict[str, Any] = {"media_type": None, "position": 0}

    def on_bytes(data: memoryview) -> None:
        if digest is not None:
            digest.update(data)
        if len(head) < HEAD_BYTES:
            head.extend(data[: HEAD_BYTES - len(head)])
        tail.extend(data[-TAIL_BYTES:])
        if len(tail) > TAIL_BYTES:
            del tail[: len(tail) - TAIL_BYTES]
        before = state["position"]
        state["position"] += len(data)
        if state["media_type"] is None and (
            state["position"] >= upload.length or before < SNIFF_BYTES <= state["position"]
        ):
            try:
                media_kind, mime = sniff(bytes(head))
            except MediaRejected as exc:
                raise _MediaRefused(exc.reason, exc.message) from None
            if media_kind not in EVIDENCE_MEDIA_KINDS.get(evidence.kind, ()):
                raise _MediaRefused("kind_mismatch", _kind_mismatch_message(evidence.kind))
            state["media_type"] = mime

    reader = _BlockReader(stream, upload.length, on_bytes)
    key = evidence_key(evidence.sha256)
    with _writing_upload(session, upload, store, actor, evidence, token, checksum_mismatch_fails=True):
        try:
            stored = store.put(key, reader, upload.length)
        except ObjectExists:
            # Same content already kept (an identical file, or a retry after a lost answer). Found before the
            # body was read: read and verify it now. Found at the write itself: the store had already checked
            # the whole body against the key (evidence keys are verified before any write).
            if state["position"] == 0:
                digest = hashlib.sha256()
                _drain(reader, upload.length)
            elif state["position"] == upload.length:
                digest = _Verified(evidence.sha256)
            if state["position"] != upload.length:
                raise IncompleteStream(expected=upload.length, received=state["position"]) from None
            if digest.hexdigest() != evidence.sha256:
                raise DigestMismatch(expected=evidence.sha256, actual=digest.hexdigest()) from None
            stored = StoredObject(key=key, size=upload.length, sha256=evidence.sha256, deduplicated=True)
    done = {"offset": upload.length, "media_type": state["media_type"], "head": bytes(head), "tail": bytes(tail)}
    pending: dict[str, Any] | None = None
    if created_here:
        # Nobody else can know of this upload before this request answers (the answer carries its address): the
        # full offset is written by the acceptance's own commit, or, if acceptance fails, by the failure path
        # together with the lease's release (the answer is then 201 at full length and a HEAD completes it).
        pending = done
    else:
        # Recorded before the evidence is accepted, so that a failed acceptance is finished by a later HEAD. One
        # UPDATE under the lease (no re-read); the lease stays until _accept commits: until then the upload is
        # open at its full length, and a HEAD (finish_pending) must not take it for an interrupted completion.
        changed = _update_upload(session, upload.id, {**done, "locked_until": utcnow() + LOCK_LEASE}, token=token)
        session.commit()
        if changed != 1:
            raise Conflict("上传租约已失效（另一个请求接管了该上传），请查询偏移量后续传")
    for name, value in done.items():
        set_committed_value(upload, name, value)  # what the row holds (or will with `pending`), without a read
    return _accept(
        session=session,
        actor=actor,
        settings=settings,
        store=store,
        upload=upload,
        evidence=evidence,
        stored=stored,
        media_type=state["media_type"],
        token=token,
        pending=pending,
    )


def _accept(
    *,
    session: Session,
    actor: User,
    settings: Settings,
    store: Any,
    upload: Upload,
    evidence: Evidence,
    stored: Any,
    media_type: str | None,
    token: str,
    pending: dict[str, Any] | None = None,
) -> Upload:
    """The verified bytes are stored: probe, make derivatives, mark the evidence received (one commit).

    Runs under the upload's lease, which the final commit (or a failure) releases. `pending`: upload columns
    not written yet (the full offset of a creation-with-upload), written by that commit or by the release.
    """
    from storage import StorageError

    try:
        return _accept_locked(
            session=session,
            actor=actor,
            settings=settings,
            store=store,
            upload=upload,
            evidence=evidence,
            stored=stored,
            media_type=media_type,
            pending=pending,
        )
    except StorageError as exc:
        # The bytes are safe under their content address: a later HEAD (finish_pending) completes it.
        _release(session, upload.id, token, record=pending)
        raise _storage_error(exc) from exc
    except BaseException:
        _release(session, upload.id, token, record=pending)  # a no-op once the upload was marked failed
        raise


def _accept_locked(
    *,
    session: Session,
    actor: User,
    settings: Settings,
    store: Any,
    upload: Upload,
    evidence: Evidence,
    stored: Any,
    media_type: str | None,
    pending: dict[str, Any] | None = None,
) -> Upload:
    from storage import MediaRejected

    info: dict[str, Any] = {
        "mime": media_type,
        "sha256_verified": stored.sha256,
        "size": stored.size,
        "deduplicated": stored.deduplicated,
    }
    try:
        media = probe_stored(
            store, stored.key, stored.size, settings, evidence.kind, head=upload.head, tail=upload.tail
        )
        info.update(media)
    except MediaRejected as exc:
        _mark_upload(session, upload.id, "failed", exc.message)
        _reject_evidence(session, actor, evidence.id, exc.message)
        session.commit()
        raise UnsupportedMedia(exc.message, reason=exc.reason) from None
    except _MediaRefused as refused:
        _mark_upload(session, upload.id, "failed", refused.message)
        _reject_evidence(session, actor, evidence.id, refused.message)
        session.commit()
        raise UnsupportedMedia(refused.message, reason=refused.reason) from None

    derivatives = make_derivatives(
        session=session, store=store, evidence=evidence, key=stored.key, mime=info.get("mime")
    )
    info.update(derivatives.pop("media", {}))

    now = utcnow()
    _bump_form(session, evidence.form_id, now)
    received: dict[str, Any] = {
        "status": "received",
        "received_at": now,
        "object_key": stored.key,
        "thumbnail_key": derivatives.get("thumbnail_key"),
        "display_key": derivatives.get("display_key"),
        "media": info,
    }
    # Under the form's lock taken just above, and only if no other upload of the same evidence was accepted while
    # this one was verified (then the first receipt is kept): the check and the write are one statement.
    result = session.execute(_RECEIVE_EVIDENCE, {"b_evidence": evidence.id, **received})
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()  # the form's version bump: nothing was received
        return _settle_received(session=session, actor=actor, store=None, upload_id=upload.id)
    completed: dict[str, Any] = {
        **(pending or {}),
        "state": "completed",
        "completed_at": now,
        "lock_token": None,
        "locked_until": None,
    }
    _update_upload(session, upload.id, completed)
    mark_form_changed(session, evidence.form_id)  # Core writes: stamped for pull at commit all the same
    audit.record(
        session=session,
        actor=actor,
        action="evidence.received",
        entity="evidence",
        entity_id=evidence.id,
        data={
            "form_id": str(evidence.form_id),
            "upload_id": str(upload.id),
            "sha256_declared": evidence.sha256,
            "sha256_computed": stored.sha256,
            "size": stored.size,
            "object_key": stored.key,
            "deduplicated": stored.deduplicated,
            "mime": info.get("mime"),
            "thumbnail_key": received["thumbnail_key"],
            "display_key": received["display_key"],
        },
    )
    session.commit()
    for name, value in received.items():
        set_committed_value(evidence, name, value)  # what the rows now hold, without reading them back
    for name, value in completed.items():
        set_committed_value(upload, name, value)
    return upload


def _bump_form(session: Session, form_id: uuid.UUID, now: datetime) -> None:
    """sync.lock_form + sync.touch_form in one statement: the form's row lock (PostgreSQL) / the write lock
    (SQLite), its version bumped and 'dispatched' left, without loading the form."""
    result = session.execute(_BUMP_FORM, {"b_form": form_id, "b_now": now})
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound("检查表不存在")
    loaded = session.identity_map.get(identity_key(InspectionForm, form_id))
    if loaded is not None:
        session.expire(loaded)  # read before the bump (the watermark's enterprise): its version is stale now


def _settle_received(*, session: Session, actor: User, store: Any | None, upload_id: uuid.UUID) -> Upload:
    """The evidence is already received (through another upload): complete this upload without accepting
    again (no second receipt, received_at and derivatives untouched), as create_upload does for a new one.

    The caller holds the upload's lease; this commit releases it. `store` set: discard a multipart upload
    that was never assembled.
    """
    row = session.get(Upload, upload_id, populate_existing=True)
    assert row is not None
    if store is not None and row.store_ref:
        _abort_quietly(store, row.store_ref)
    now = utcnow()
    row.offset = row.length
    row.state = "completed"
    row.completed_at = now
    row.lock_token = None
    row.locked_until = None
    session.add(row)
    audit.record(
        session=session,
        actor=actor,
        action="upload.complete",
        entity="upload",
        entity_id=row.id,
        data={"evidence_id": str(row.evidence_id), "already_received": True},
    )
    session.commit()
    return row


@contextmanager
def _writing_upload(
    session: Session,
    upload: Upload,
    store: Any,
    actor: User,
    evidence: Evidence | None,
    token: str,
    *,
    checksum_mismatch_fails: bool,
) -> Iterator[None]:
    """Map what can go wrong while bytes are written to the upload's fate and the API error; the lease is
    always released or handed to the failure path, so no upload stays locked by a dead request."""
    from storage import DigestMismatch, IncompleteStream, StorageError

    try:
        yield
    except _MediaRefused as refused:
        _fail_upload(
            session, upload, store, actor, evidence, reason=refused.message, token=token, reject=True
        )
        raise UnsupportedMedia(refused.message, reason=refused.reason) from None
    except DigestMismatch as exc:
        if checksum_mismatch_fails and evidence is not None:
            _checksum_failed(session, upload, store, actor, evidence, exc.actual)
        _release(session, upload.id, token)
        raise _storage_error(exc) from exc
    except (IncompleteStream, OSError) as exc:
        # The client went away mid-body: keep the whole blocks that arrived (none with a checksum).
        _release(session, upload.id, token)
        raise BadRequest("上传连接中断，请查询偏移量后续传") from exc
    except StorageError as exc:
        _release(session, upload.id, token)
        raise _storage_error(exc) from exc
    except BaseException:
        _release(session, upload.id, token)
        raise


def _checksum_failed(
    session: Session, upload: Upload, store: Any, actor: User, evidence: Evidence, actual: str
) -> None:
    """460: the bytes are not the ones the device declared; discard them, the evidence stays declared."""
    session.rollback()
    fresh = session.get(Upload, upload.id, populate_existing=True)
    assert fresh is not None
    if fresh.store_ref and fresh.state == "open":
        _abort_quietly(store, fresh.store_ref)
    fresh.state = "failed"
    fresh.error = "checksum_mismatch"
    fresh.lock_token = None
    fresh.locked_until = None
    session.add(fresh)
    audit.record(
        session=session,
        actor=actor,
        action="evidence.checksum_mismatch",
        entity="evidence",
        entity_id=evidence.id,
        data={"upload_id": str(upload.id), "sha256_declared": evidence.sha256, "sha256_computed": actual},
    )
    session.commit()
    raise ChecksumMismatch(
        "文件校验失败：服务器计算的 SHA-256 与登记值不一致，本次上传已作废，请重新上传",
        sha256_declared=evidence.sha256,
        sha256_computed=actual,
    )


def _mark_upload(session: Session, upload_id: uuid.UUID, state: str, error: str | None) -> None:
    session.rollback()
    upload = session.get(Upload, upload_id, populate_existing=True)
    if upload is not None:
        upload.state = state
        upload.error = error[:500] if error else None
        upload.lock_token = None
        upload.locked_until = None
        session.add(upload)


class StoreRangeFile(io.RawIOBase):
    """A seekable read-only file over a stored object, read through range requests with a small read-ahead."""

    def __init__(
        self, store: Any, key: str, size: int, block: int = 1 * MiB, *, head: bytes = b"", tail: bytes = b""
    ) -> None:
        super().__init__()
        self._store = store
        self._key = key
        self._size = size
        self._block = block
        self._pos = 0
        self._buf = b""
        self._buf_start = 0
        # The first and last bytes seen while streaming (the same bytes: the hash was verified) answer
        # most container probes without a request to the store.
        self._head = head[:size]
        self._tail = tail[-size:] if tail else b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        """Fill as much of `buffer` as the object has left (callers may assume full reads)."""
        view = memoryview(buffer).cast("B")
        total = 0
        while total < len(view):
            n = self._read_some(view[total:])
            if not n:
                break
            total += n
        return total

    def _read_some(self, buffer: Any) -> int:
        if self._pos >= self._size:
            return 0
        want = min(len(buffer), self._size - self._pos)
        if self._pos < len(self._head):
            chunk = self._head[self._pos : self._pos + want]
            buffer[: len(chunk)] = chunk
            self._pos += len(chunk)
            return len(chunk)
        tail_start = self._size - len(self._tail)
        if self._tail and self._pos >= tail_start:
            chunk = self._tail[self._pos - tail_start : self._pos - tail_start + want]
            buffer[: len(chunk)] = chunk
            self._pos += len(chunk)
            return len(chunk)
        if self._tail:
            want = min(want, tail_start - self._pos)
        start_in_buf = self._pos - self._buf_start
        if not (0 <= start_in_buf < len(self._buf)):
            fetch = min(max(want, self._block), (self._size - len(self._tail)) - self._pos)
            with self._store.get(self._key, start=self._pos, length=fetch) as reader:
                self._buf = reader.read()
            self._buf_start = self._pos
            start_in_buf = 0
        chunk = self._buf[start_in_buf : start_in_buf + want]
        buffer[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)


def media_limits(settings: Settings) -> Any:
    from storage.media import MediaLimits

    limits = settings.upload_limits_mb
    return MediaLimits(
        max_image_bytes=int(limits.get("photo", 40)) * MiB,
        max_video_bytes=int(limits.get("video", 4096)) * MiB,
        max_audio_bytes=int(limits.get("audio", 200)) * MiB,
        max_document_bytes=max(int(limits.get("document", 100)), int(limits.get("photo", 40))) * MiB,
        max_video_seconds=4 * 3600,
        max_audio_seconds=6 * 3600,
    )


def probe_stored(
    store: Any, key: str, size: int, settings: Settings, kind: str, *, head: bytes = b"", tail: bytes = b""
) -> dict[str, Any]:
    """Probe the stored object (type, structure, pixel bombs, limits) by range reads; raise MediaRejected."""
    from storage.media import probe

    with StoreRangeFile(store, key, size, head=head, tail=tail) as fh:
        info = probe(fh, limits=media_limits(settings))  # type: ignore[arg-type]
    if info.kind not in PROBE_MEDIA_KINDS.get(kind, (info.kind,)):
        raise _MediaRefused("kind_mismatch", _kind_mismatch_message(kind))
    return {
        "kind": info.kind,
        "mime": info.mime,
        "width": info.width,
        "height": info.height,
        "duration_s": info.duration_s,
        "flags": list(info.flags),
    }


def derivative_keys(evidence_id: uuid.UUID) -> tuple[str, str]:
    return f"derivatives/{evidence_id}/thumbnail.jpg", f"derivatives/{evidence_id}/display.jpg"


def make_derivatives(
    *, session: Session, store: Any, evidence: Evidence, key: str, mime: str | None
) -> dict[str, Any]:
    """Thumbnail and watermarked display copy for photos, and for videos from a poster frame (when ffmpeg is
    installed: it reads the video where the store keeps it); the original is never modified."""
    from storage import MediaRejected, MediaUnsupported, ObjectExists, StorageError
    from storage.media import derivatives, format_watermark, poster_frame

    kind = (mime or "").split("/")[0]
    if kind not in ("image", "video"):
        return {}
    thumb_key, display_key = derivative_keys(evidence.id)
    inspector = session.get(Inspector, evidence.inspector_id)
    form = session.get(InspectionForm, evidence.form_id)
    enterprise = session.get(Enterprise, form.enterprise_id) if form else None
    enterprise_name = (
        (enterprise.name if enterprise else None) or (form.enterprise_snapshot or {}).get("name", "")
        if form
        else ""
    )
    lines = format_watermark(
        captured_at=evidence.captured_at,
        inspector=inspector.name if inspector else "",
        certificate_no=inspector.certificate_no if inspector else "",
        enterprise=enterprise_name or "",
        lat=evidence.lat,
        lng=evidence.lng,
        accuracy_m=evidence.accuracy_m,
    )
    result: dict[str, Any] = {"media": {"watermark": lines}}
    try:
        if kind == "video":
            # A still at 0.5 s (ffmpeg range-reads the stored object; nothing is copied), then the same two
            # derivatives as a photo's, watermark included.
            poster = poster_frame(store.tool_source(key), mime=mime, max_px=1600)
            if poster is None:
                return {"media": {"poster": "ffmpeg 未安装，未生成视频封面"}}
            rendered = derivatives(io.BytesIO(poster), 320, 1600, watermark_lines=lines)
        else:
            # One read of the original and one decode for both (the thumbnail is scaled from the display copy).
            with StoreRangeFile(store, key, store.stat(key).size) as fh:
                rendered = derivatives(fh, 320, 1600, watermark_lines=lines)
    except (MediaUnsupported, MediaRejected) as exc:
        result["media"]["derivative_error"] = exc.message
        return result
    except StorageError as exc:
        log.warning("derivatives of %s failed: %s", evidence.id, exc)
        result["media"]["derivative_error"] = exc.message
        return result
    for target, data in zip((thumb_key, display_key), rendered, strict=True):
        try:
            try:
                store.put(target, io.BytesIO(data), len(data), "image/jpeg")
            except ObjectExists:
                pass  # a retry after a crash: the same derivative is already there
            result["thumbnail_key" if target == thumb_key else "display_key"] = target
        except StorageError as exc:
            log.warning("derivative %s of %s failed: %s", target, evidence.id, exc)
            result["media"]["derivative_error"] = exc.message
    return result


def finish_pending(
    *, session: Session, actor: User, settings: Settings, store: Any, upload: Upload
) -> Upload:
    """An upload whose bytes all arrived but whose completion failed (store outage, crash): complete it now.

    Only under the upload's lease: while the request that sent the last bytes is still completing (it holds the
    lease), the upload is reported as it is (offset = length) and left to that request.
    """
    if upload.state != "open" or upload.offset != upload.length:
        return upload
    if upload.lock_token is not None and upload.locked_until is not None and upload.locked_until > utcnow():
        return upload
    try:
        token = _acquire_lease(session, upload, upload.length)
    except (UploadLocked, Conflict, Gone):
        # Another request took it over or finished it in the meantime: report its current state.
        return get_upload(session=session, actor=actor, upload_id=upload.id, store=store)
    return complete(session=session, actor=actor, settings=settings, store=store, upload=upload, token=token)


def expires_header(upload: Upload) -> str:
    from email.utils import format_datetime

    return format_datetime(upload.expires_at.astimezone(UTC), usegmt=True)


__all__ = [
    "CHECKSUM_ALGORITHMS",
    "TUS_EXTENSIONS",
    "TUS_VERSION",
    "ChunkChecksum",
    "StoreRangeFile",
    "UploadLocked",
    "append",
    "create_upload",
    "finish_pending",
    "get_upload",
    "max_upload_size",
    "parse_metadata",
    "purge_expired",
    "release_lease",
    "terminate",
]
