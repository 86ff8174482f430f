"""open_store: STORAGE_URL parsing for local folders and S3 buckets (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import LocalStore, S3Store, StorageMisconfigured, open_store


def test_file_url_and_plain_paths(tmp_path: Path) -> None:
    by_url = open_store(f"file://{tmp_path}/a?retention_days=3650")
    assert isinstance(by_url, LocalStore)
    assert by_url.root == tmp_path / "a"
    assert by_url.retention is not None and by_url.retention.days == 3650
    by_path = open_store(str(tmp_path / "b"))
    assert isinstance(by_path, LocalStore) and by_path.root == tmp_path / "b"


def test_relative_path_becomes_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("data/store")
    assert isinstance(store, LocalStore) and store.root == tmp_path / "data" / "store"


def test_s3_url() -> None:
    store = open_store(
        "s3://AKIA:p%40ss%3Aw%2Frd@minio.internal:9000/evidence"
        "?secure=true&region=cn-north-1&retention_days=3650&retention_mode=compliance"
    )
    assert isinstance(store, S3Store)
    assert (store.endpoint, store.bucket, store.secure, store.region) == (
        "minio.internal:9000",
        "evidence",
        True,
        "cn-north-1",
    )
    assert store.retention is not None and (store.retention.days, store.retention.mode) == (
        3650,
        "COMPLIANCE",
    )
    credentials = store._client._provider.retrieve()  # type: ignore[union-attr]
    assert (credentials.access_key, credentials.secret_key) == ("AKIA", "p@ss:w/rd")
    assert "p@ss" not in repr(store)


def test_keyword_options_override_the_query() -> None:
    store = open_store("s3://k:s@host:9000/bucket?region=a", region="b", retention_days=7)
    assert isinstance(store, S3Store) and store.region == "b" and store.retention is not None


@pytest.mark.parametrize(
    "url",
    [
        "",
        "ftp://host/x",
        "s3://k:s@host:9000/",
        "s3://k:s@host:9000/a/b",
        "s3://k:s@host:9000/bucket?colour=blue",
        "s3://k:s@host:9000/bucket?secure=maybe",
        "s3://k:s@host:9000/bucket?retention_mode=FOREVER&retention_days=1",
        "file://otherhost/data",
    ],
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(StorageMisconfigured):
        open_store(url)
