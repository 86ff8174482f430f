"""Production refuses development secrets and default MinIO credentials."""

from __future__ import annotations

import pytest

from backend.config import DEV_JWT_SECRET, Settings, UnsafeConfiguration


def _prod(**kw):
    s = Settings(env="production", database_url="postgresql://u@h/db", storage_url="file:///tmp/x")
    for k, v in kw.items():
        setattr(s, k, v)
    return s


def test_dev_jwt_secret_refused_in_production():
    with pytest.raises(UnsafeConfiguration, match="JWT_SECRET"):
        _prod(jwt_secret=DEV_JWT_SECRET).resolve()
    with pytest.raises(UnsafeConfiguration):
        _prod(jwt_secret="short").resolve()


def test_default_minio_credentials_refused_in_production():
    with pytest.raises(UnsafeConfiguration, match="MinIO"):
        _prod(jwt_secret="y" * 40, storage_url="s3://minioadmin:minioadmin@minio:9000/evidence").resolve()


def test_safe_production_settings_pass():
    s = _prod(jwt_secret="y" * 40, storage_url="s3://evidence-admin:long-secret@minio:9000/evidence").resolve()
    assert s.database_url.startswith("postgresql+psycopg://")


def test_embedded_default_is_sqlite_and_local_store(tmp_path):
    s = Settings(data_dir=tmp_path).resolve()
    assert s.database_url == f"sqlite:///{tmp_path / 'shuangsui.sqlite3'}"
    assert s.storage_url == f"file://{tmp_path / 'objects'}"
