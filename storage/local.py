"""Local-disk ObjectStore: the embedded default; one folder holds objects, their metadata and upload data.

Layout under `root`::

    <key>                      the bytes, read-only (0444); written to .tmp, then hard-linked (no overwrite)
    .meta/<key>.json           content type, sha256 and retain-until of the object
    .tmp/put-<uuid>            a `put` in progress
    .tmp/uploads/<uuid>/       a resumable upload: part-00001, part-00002, ... concatenated at completion

Keys never have dot-leading segments (see `validate_key`): the bookkeeping folders cannot collide with them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from storage.base import (
    CHUNK_SIZE,
    DEFAULT_MAX_PART_SIZE,
    ObjectInfo,
    ObjectReader,
    Retention,
    StoredObject,
    check_part,
    iter_exact,
    normalize_parts,
    should_retain,
)
from storage.errors import (
    DigestMismatch,
    InvalidKey,
    InvalidParts,
    InvalidRange,
    ObjectExists,
    ObjectLocked,
    ObjectNotFound,
    StorageError,
    StorageMisconfigured,
    UploadNotFound,
)
from storage.keys import evidence_key, is_evidence_key, parse_evidence_key, validate_key

_REF = re.compile(r"local:([0-9a-f]{32})")
_TOKEN = re.compile(r"local:(\d+):([0-9a-f]{32})")


class LocalStore:
    """ObjectStore on a local folder; safe for several processes on one host (atomic link/rename), not NFS."""

    backend = "local"

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        retention_days: int | None = None,
        retention_mode: str | None = None,
        max_part_size: int = DEFAULT_MAX_PART_SIZE,
        create: bool = True,
        fsync: bool = True,
    ) -> None:
        self.root = Path(root).expanduser().absolute()
        self.retention = Retention.from_options(retention_days, retention_mode)
        self.max_part_size = max_part_size
        self._fsync = fsync
        self._meta_root = self.root / ".meta"
        self._tmp = self.root / ".tmp"
        self._uploads = self._tmp / "uploads"
        if create:
            self._uploads.mkdir(parents=True, exist_ok=True)
            self._meta_root.mkdir(parents=True, exist_ok=True)
        elif not self.root.is_dir():
            raise StorageMisconfigured(f"本地存储目录不存在：{self.root}")

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

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
        path = self._path(validate_key(key))
        if path.exists():
            # Fail before reading the body: a duplicate upload should not cost a full transfer.
            raise ObjectExists(key=key)
        self._tmp.mkdir(parents=True, exist_ok=True)
        tmp = self._tmp / f"put-{uuid.uuid4().hex}"
        try:
            digest = hashlib.sha256()
            with open(tmp, "xb") as out:
                for chunk in iter_exact(stream, length):
                    digest.update(chunk)
                    out.write(chunk)
                self._flush(out)
            actual = digest.hexdigest()
            expected = parse_evidence_key(key)
            if expected is not None and expected != actual:
                raise DigestMismatch(expected=expected, actual=actual)
            self._commit(tmp, key, content_type=content_type, sha256=actual, retain=retain)
        finally:
            tmp.unlink(missing_ok=True)
        return StoredObject(key=key, size=length, sha256=actual)

    def get(self, key: str, *, start: int = 0, length: int | None = None) -> ObjectReader:
        info = self.stat(key)
        count = _range_length(info.size, start, length)
        try:
            handle = open(self._path(key), "rb")  # noqa: SIM115 - the reader owns and closes it
        except FileNotFoundError:
            raise ObjectNotFound(key=key) from None
        if start:
            handle.seek(start)
        return ObjectReader(handle, count, info.content_type, on_close=handle.close)

    def stat(self, key: str) -> ObjectInfo:
        path = self._path(validate_key(key))
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(key=key) from None
        if not path.is_file():
            raise ObjectNotFound(key=key)
        meta = self._read_meta(key)
        retain_until = _parse_time(meta.get("retain_until"))
        return ObjectInfo(
            key=key,
            size=st.st_size,
            content_type=str(meta.get("content_type") or "application/octet-stream"),
            etag=str(meta.get("sha256") or f"{st.st_size:x}-{st.st_mtime_ns:x}"),
            last_modified=datetime.fromtimestamp(st.st_mtime, UTC),
            retention_mode=str(meta["retention_mode"])
            if retain_until and meta.get("retention_mode")
            else None,
            retain_until=retain_until,
        )

    def exists(self, key: str) -> bool:
        return self._path(validate_key(key)).is_file()

    def delete(self, key: str) -> bool:
        path = self._path(validate_key(key))
        if is_evidence_key(key):
            raise ObjectLocked(key=key)
        if not path.is_file():
            return False
        retain_until = _parse_time(self._read_meta(key).get("retain_until"))
        if retain_until is not None and retain_until > datetime.now(UTC):
            raise ObjectLocked(key=key, retain_until=retain_until.isoformat())
        path.unlink(missing_ok=True)
        self._meta_path(key).unlink(missing_ok=True)
        return True

    def presigned_get(
        self,
        key: str,
        expires_seconds: int = 300,
        *,
        download_name: str | None = None,
        content_type: str | None = None,
    ) -> str | None:
        validate_key(key)
        return None

    def tool_source(self, key: str, expires_seconds: int = 600) -> str:
        validate_key(key)
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFound(key=key)
        return str(path)

    def health(self) -> dict[str, object]:
        report: dict[str, object] = {
            "backend": self.backend,
            "root": str(self.root),
            "retention_days": self.retention.days if self.retention else None,
        }
        try:
            self._tmp.mkdir(parents=True, exist_ok=True)
            probe = self._tmp / f"health-{uuid.uuid4().hex}"
            probe.write_bytes(b"ok")
            probe.unlink()
            report["free_bytes"] = shutil.disk_usage(self.root).free
            report["ok"] = True
        except OSError as exc:
            report["ok"] = False
            report["error"] = f"{type(exc).__name__}: {exc}"
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
        # The parts are assembled, hashed and renamed into place at completion: `final_key` changes nothing.
        upload_id = uuid.uuid4().hex
        folder = self._uploads / upload_id
        folder.mkdir(parents=True)
        info = {"key_hint": key_hint[:200], "created": datetime.now(UTC).isoformat()}
        (folder / "info.json").write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")
        return f"local:{upload_id}"

    def upload_part(
        self,
        upload_ref: str,
        part_number: int,
        stream: BinaryIO,
        length: int,
        *,
        previous_token: str | None = None,
    ) -> str:
        check_part(part_number, length, self.max_part_size)
        folder = self._upload_folder(upload_ref)
        tmp = folder / f".part-{part_number:05d}-{uuid.uuid4().hex}"
        try:
            digest = hashlib.md5(usedforsecurity=False)
            with open(tmp, "xb") as out:
                for chunk in iter_exact(stream, length):
                    digest.update(chunk)
                    out.write(chunk)
                self._flush(out)
            # Replacing atomically makes a re-sent part number win without a half-written window.
            os.replace(tmp, folder / f"part-{part_number:05d}")
        except FileNotFoundError:
            raise UploadNotFound(upload_ref=upload_ref) from None
        finally:
            tmp.unlink(missing_ok=True)
        return f"local:{length}:{digest.hexdigest()}"

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
        # The concatenation below hashes anyway, so a caller's `verified_sha256` is checked, not trusted.
        expected_sha256 = expected_sha256 or verified_sha256
        folder = self._upload_folder(upload_ref)
        entries = normalize_parts(parts)
        if final_key is not None:
            validate_key(final_key)
        assembled = folder / "assembled"
        digest = hashlib.sha256()
        size = 0
        # One pass: concatenate, check each part against its token, and hash the whole. No re-read needed.
        with open(assembled, "wb") as out:
            for number, token in entries:
                match = _TOKEN.fullmatch(token)
                if match is None:
                    raise InvalidParts(part_number=number, token=token)
                part_md5 = hashlib.md5(usedforsecurity=False)
                part_size = 0
                try:
                    with open(folder / f"part-{number:05d}", "rb") as part:
                        while chunk := part.read(CHUNK_SIZE):
                            part_md5.update(chunk)
                            digest.update(chunk)
                            out.write(chunk)
                            part_size += len(chunk)
                except FileNotFoundError:
                    raise InvalidParts(f"分片 {number} 不存在", part_number=number) from None
                if part_size != int(match.group(1)) or part_md5.hexdigest() != match.group(2):
                    raise InvalidParts(f"分片 {number} 与记录不一致", part_number=number)
                size += part_size
            self._flush(out)
        actual = digest.hexdigest()
        try:
            if expected_sha256 is not None and expected_sha256.strip().lower() != actual:
                raise DigestMismatch(expected=expected_sha256, actual=actual)
            key = final_key or evidence_key(actual)
            named = parse_evidence_key(key)
            if named is not None and named != actual:
                raise DigestMismatch(expected=named, actual=actual)
            deduplicated = False
            try:
                self._commit(assembled, key, content_type=content_type, sha256=actual, retain=retain)
            except ObjectExists:
                if named != actual:
                    raise
                deduplicated = True  # same bytes already stored under their own hash: an idempotent retry
        except StorageError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        shutil.rmtree(folder, ignore_errors=True)
        return StoredObject(key=key, size=size, sha256=actual, deduplicated=deduplicated)

    def abort_multipart(self, upload_ref: str) -> None:
        folder = self._upload_folder(upload_ref)
        shutil.rmtree(folder, ignore_errors=True)

    def purge_temp(self, older_than_seconds: int) -> int:
        cutoff = time.time() - older_than_seconds
        removed = 0
        for folder in (self._tmp, self._uploads):
            if not folder.is_dir():
                continue
            for entry in folder.iterdir():
                if entry == self._uploads:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    if entry.stat().st_mtime >= cutoff:
                        continue
                    if entry.is_dir():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink()
                    removed += 1
        return removed

    # -- internals -------------------------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    def _meta_path(self, key: str) -> Path:
        parts = key.split("/")
        return self._meta_root.joinpath(*parts[:-1], parts[-1] + ".json")

    def _read_meta(self, key: str) -> dict[str, object]:
        try:
            loaded = json.loads(self._meta_path(key).read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def _upload_folder(self, upload_ref: str) -> Path:
        match = _REF.fullmatch(upload_ref or "")
        if match is None:
            raise UploadNotFound(upload_ref=upload_ref)
        folder = self._uploads / match.group(1)
        if not folder.is_dir():
            raise UploadNotFound(upload_ref=upload_ref)
        return folder

    def _flush(self, handle: BinaryIO) -> None:
        handle.flush()
        if self._fsync:
            os.fsync(handle.fileno())

    def _commit(self, tmp: Path, key: str, *, content_type: str, sha256: str, retain: bool | None) -> None:
        """Publish a fully written temp file under `key`; the hard link is the atomic, no-overwrite commit."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise InvalidKey("对象键与已有对象的路径冲突", key=key) from None
        if path.is_dir():
            raise InvalidKey("对象键与已有对象的路径冲突", key=key)
        os.chmod(tmp, 0o444)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise ObjectExists(key=key) from None
        if self._fsync:
            _fsync_dir(path.parent)
        meta: dict[str, object] = {"content_type": content_type, "sha256": sha256}
        if self.retention is not None and should_retain(key, retain, self.retention):
            meta["retention_mode"] = self.retention.mode
            meta["retain_until"] = self.retention.until().isoformat()
        meta_path = self._meta_path(key)
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        meta_tmp = meta_path.with_name(f".{meta_path.name}.{uuid.uuid4().hex}")
        meta_tmp.write_text(json.dumps(meta), encoding="utf-8")
        os.replace(meta_tmp, meta_path)


def _range_length(size: int, start: int, length: int | None) -> int:
    """Bytes a range read returns; the rules match S3's (start must fall inside the object)."""
    if start < 0 or (length is not None and length < 0):
        raise InvalidRange(start=start, length=length)
    if start and start >= size:
        raise InvalidRange(start=start, size=size)
    available = size - start
    return available if length is None else min(length, available)


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
