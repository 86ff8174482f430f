"""Settings read from the environment, with refusals for unsafe production defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEV_JWT_SECRET = "dev-only-secret-change-me-please-0123456789"  # noqa: S105 - refused in production
DEFAULT_MINIO_CREDENTIALS = {"minioadmin", "minio", "minio123"}


class UnsafeConfiguration(RuntimeError):
    """Raised when production would start with a development secret."""


def _data_dir() -> Path:
    return Path(os.environ.get("SHUANGSUI_DATA", Path.cwd() / "data")).resolve()


@dataclass
class Settings:
    env: str = "development"
    data_dir: Path = field(default_factory=_data_dir)
    database_url: str = ""
    storage_url: str = ""
    jwt_secret: str = DEV_JWT_SECRET
    jwt_issuer: str = "shuangsui"
    jwt_audience: str = "shuangsui-api"
    access_token_seconds: int = 900
    refresh_token_seconds: int = 14 * 24 * 3600
    login_rate_limit: str = "10 per minute"
    ratelimit_storage_uri: str = "memory://"
    upload_limits_mb: dict[str, int] = field(
        default_factory=lambda: {"photo": 40, "video": 4096, "audio": 200, "document": 100}
    )
    user_quota_mb: int = 20480
    evidence_retention_days: int = 0
    public_base_url: str = "http://127.0.0.1:5000"
    auto_migrate: bool = True

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ.get("SHUANGSUI_ENV", "development")
        s = cls(env=env)
        s.database_url = os.environ.get("DATABASE_URL", "")
        s.storage_url = os.environ.get("STORAGE_URL", "")
        s.jwt_secret = os.environ.get("JWT_SECRET", DEV_JWT_SECRET)
        s.ratelimit_storage_uri = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
        s.public_base_url = os.environ.get("PUBLIC_BASE_URL", s.public_base_url)
        if "EVIDENCE_RETENTION_DAYS" in os.environ:
            s.evidence_retention_days = int(os.environ["EVIDENCE_RETENTION_DAYS"])
        if "USER_QUOTA_MB" in os.environ:
            s.user_quota_mb = int(os.environ["USER_QUOTA_MB"])
        return s

    def resolve(self) -> Settings:
        """Fill the embedded defaults (SQLite file + local store under one data folder)."""
        if not self.database_url:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.database_url = f"sqlite:///{self.data_dir / 'shuangsui.sqlite3'}"
        if not self.storage_url:
            self.storage_url = f"file://{self.data_dir / 'objects'}"
        if self.database_url.startswith("postgres://"):
            self.database_url = "postgresql+psycopg://" + self.database_url[len("postgres://") :]
        elif self.database_url.startswith("postgresql://"):
            self.database_url = "postgresql+psycopg://" + self.database_url[len("postgresql://") :]
        if self.env == "production":
            self.check_production()
        return self

    def check_production(self) -> None:
        if self.jwt_secret == DEV_JWT_SECRET or len(self.jwt_secret) < 32:
            raise UnsafeConfiguration("生产环境必须设置至少 32 个字符的 JWT_SECRET，不能使用开发默认值")
        if self.storage_url.startswith("s3://"):
            creds = self.storage_url[5:].split("@", 1)[0]
            key, _, secret = creds.partition(":")
            if key in DEFAULT_MINIO_CREDENTIALS or secret in DEFAULT_MINIO_CREDENTIALS:
                raise UnsafeConfiguration("生产环境不能使用 MinIO 默认凭据")
