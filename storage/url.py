"""Build an ObjectStore from a STORAGE_URL: a local folder or an S3-compatible bucket."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit
from urllib.request import url2pathname

from storage.base import ObjectStore
from storage.errors import StorageMisconfigured
from storage.local import LocalStore
from storage.s3 import S3Store


def _flag(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


# Options that may be written in the URL query, with their parsers. Keyword options to open_store win.
_LOCAL_QUERY: dict[str, Callable[[str], Any]] = {
    "retention_days": int,
    "retention_mode": str,
    "max_part_size": int,
    "fsync": _flag,
}
_S3_QUERY: dict[str, Callable[[str], Any]] = {
    "secure": _flag,
    "region": str,
    "retention_days": int,
    "retention_mode": str,
    "temp_prefix": str,
    "part_size": int,
    "max_part_size": int,
    "conditional_writes": _flag,
    "presign_endpoint": str,
    "connect_timeout": float,
    "read_timeout": float,
    "retries": int,
    "cert_check": _flag,
    "create_bucket": _flag,
}


def open_store(url: str, **options: Any) -> ObjectStore:
    """Open the store a URL names.

    * ``/abs/path``, ``relative/path`` or ``file:///abs/path[?retention_days=N]`` → LocalStore
    * ``s3://KEY:SECRET@host:port/bucket?secure=false&region=us-east-1&retention_days=N&retention_mode=COMPLIANCE``
      → S3Store (percent-encode special characters in the key and secret). ``create_bucket=true`` (query or
      keyword) creates the bucket, with object lock when retention is configured, or checks it fits.

    Keyword `options` are passed to the store's constructor and override query parameters.
    """
    if not url:
        raise StorageMisconfigured("未配置存储地址（STORAGE_URL）")
    parsed = urlsplit(url)
    if parsed.scheme == "":
        return LocalStore(Path(url), **options)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise StorageMisconfigured("file:// 地址只能指向本机目录")
        merged = {**_query_options(parsed.query, _LOCAL_QUERY), **options}
        return LocalStore(Path(url2pathname(parsed.path)), **merged)
    if parsed.scheme == "s3":
        return _open_s3(parsed.netloc, parsed.path, parsed.query, options)
    raise StorageMisconfigured(f"不支持的存储地址协议：{parsed.scheme}")


def _open_s3(netloc: str, path: str, query: str, options: dict[str, Any]) -> S3Store:
    # Parsed by hand: urlsplit's hostname/port helpers choke on secrets that contain ':' or '@'.
    credentials, _, hostport = netloc.rpartition("@")
    access_key, _, secret_key = credentials.partition(":")
    bucket = path.strip("/")
    if not hostport or not bucket or "/" in bucket:
        raise StorageMisconfigured("S3 地址应形如 s3://KEY:SECRET@host:port/bucket")
    merged = {**_query_options(query, _S3_QUERY), **options}
    create_bucket = bool(merged.pop("create_bucket", False))
    store = S3Store(hostport, unquote(access_key), unquote(secret_key), bucket, **merged)
    if create_bucket:
        store.ensure_bucket()
    return store


def _query_options(query: str, allowed: dict[str, Callable[[str], Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, raw in parse_qsl(query, keep_blank_values=True):
        parser = allowed.get(name)
        if parser is None:
            raise StorageMisconfigured(f"存储地址中有未知参数：{name}")
        try:
            result[name] = parser(raw)
        except ValueError:
            raise StorageMisconfigured(f"存储地址参数 {name} 的值无效") from None
    return result
