"""Alembic environment: runs against the engine handed over by the app or CLI."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text
from sqlmodel import SQLModel

import backend.models  # noqa: F401  (registers every table)

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine") or create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Several API workers may start at once; only one migrates, the others wait then find nothing to do.
            connection.execute(text("SELECT pg_advisory_lock(7300316)"))
            connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_unlock(7300316)"))
            connection.commit()


run_migrations_online()
