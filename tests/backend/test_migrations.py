"""Migrations against the models: the enterprise table as migration 0006 leaves it, and its way back."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlmodel import SQLModel

from backend.migrations import alembic_config, upgrade

DROPPED = {"ix_enterprise_industry_code", "ix_enterprise_name", "ix_enterprise_region_code", "ix_enterprise_status"}


def enterprise_indexes(engine) -> dict[str, bool]:  # type: ignore[no-untyped-def]
    return {ix["name"]: bool(ix["unique"]) for ix in inspect(engine).get_indexes("enterprise")}


def test_enterprise_table_agrees_with_its_model(app):
    engine = app.extensions["shuangsui.engine"]
    postgres = engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        # SQLite keeps the stamps without their server default (see migration 0006): compared on PostgreSQL.
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": postgres})
        diff = compare_metadata(context, SQLModel.metadata)
    assert [d for d in diff if "enterprise" in repr(d)] == []
    assert enterprise_indexes(engine) == {"ix_enterprise_uscc": True}
    if postgres:
        defaults = {c["name"]: c["default"] for c in inspect(engine).get_columns("enterprise")}
        assert defaults["created_at"] == defaults["updated_at"] == "now()"


def test_0006_downgrades_to_the_five_indexes_and_back(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    try:
        upgrade(engine)
        assert enterprise_indexes(engine) == {"ix_enterprise_uscc": True}
        command.downgrade(alembic_config(engine), "0006_enterprise_indexes@-1")
        assert enterprise_indexes(engine) == {"ix_enterprise_uscc": True} | dict.fromkeys(DROPPED, False)
        upgrade(engine)
        assert enterprise_indexes(engine) == {"ix_enterprise_uscc": True}
    finally:
        engine.dispose()
