"""Exceptions raised by the storage package; messages are user-facing (zh-CN), `code` is for machines."""

from __future__ import annotations


class StorageError(Exception):
    """Base class: every failure the storage package reports on purpose is one of these."""

    code = "storage_error"
    default_message = "存储服务出错"

    def __init__(self, message: str | None = None, **details: object) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        self.details = details


class InvalidKey(StorageError, ValueError):
    """The key is not a safe relative object name (empty, absolute, `..`, dot segments, control chars)."""

    code = "invalid_key"
    default_message = "对象键不合法"


class ObjectExists(StorageError):
    """Write-once: the key already holds an object (for an evidence key: these very bytes are stored)."""

    code = "object_exists"
    default_message = "对象已存在，不允许覆盖"


class ObjectNotFound(StorageError):
    """No object under that key."""

    code = "object_not_found"
    default_message = "对象不存在"


class ObjectLocked(StorageError):
    """The object is evidence or under retention and may not be deleted."""

    code = "object_locked"
    default_message = "对象受保留策略保护，不能删除"


class DigestMismatch(StorageError):
    """The bytes do not hash to the SHA-256 the key or the caller declared; nothing was stored."""

    code = "digest_mismatch"
    default_message = "文件校验值（SHA-256）与声明不一致"

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(expected=expected, actual=actual)
        self.expected = expected
        self.actual = actual


class IncompleteStream(StorageError):
    """The stream ended before `length` bytes were read (client disconnected mid-body)."""

    code = "incomplete_stream"
    default_message = "上传数据不完整"

    def __init__(self, expected: int, received: int) -> None:
        super().__init__(expected=expected, received=received)
        self.expected = expected
        self.received = received


class InvalidRange(StorageError, ValueError):
    """A range read starts outside the object (same rule on every backend: S3 answers 416 there)."""

    code = "invalid_range"
    default_message = "请求的字节范围无效"


class PartTooLarge(StorageError, ValueError):
    """One `upload_part` call may carry at most `store.max_part_size` bytes (bounded memory on S3)."""

    code = "part_too_large"
    default_message = "分片过大"


class UploadNotFound(StorageError):
    """The multipart upload reference is unknown, already completed or aborted."""

    code = "upload_not_found"
    default_message = "上传会话不存在或已结束"


class InvalidParts(StorageError, ValueError):
    """The part list handed to `complete_multipart` is not 1..N with tokens this store issued."""

    code = "invalid_parts"
    default_message = "分片列表不完整或无效"


class StorageUnavailable(StorageError):
    """The backend cannot be reached or answered with a server error; retrying later may succeed."""

    code = "storage_unavailable"
    default_message = "存储服务暂不可用，请稍后重试"


class StorageMisconfigured(StorageError):
    """The configuration cannot work (bad URL, retention asked for on a bucket without object lock, ...)."""

    code = "storage_misconfigured"
    default_message = "存储配置错误"


class MediaRejected(StorageError):
    """Not an accepted evidence medium, or unsafe to process; `reason` names the rule that refused it."""

    code = "media_rejected"
    default_message = "文件类型不受支持或文件已损坏"

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.reason = reason


class MediaUnsupported(StorageError):
    """Accepted as evidence, but no derivative can be rendered here (HEIC without a decoder, no ffmpeg)."""

    code = "media_unsupported"
    default_message = "暂不支持为该文件生成预览"
