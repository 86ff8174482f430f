"""enterprise indexes: keep the primary key and the unique USCC, drop the four that serve no query

Every index on `enterprise` is maintained for each of the million rows a directory import writes; these
four cost most of an import's time in PostgreSQL and no query of the application can use them:

- ix_enterprise_region_code, ix_enterprise_industry_code: the directory list and the draw population filter
  these codes by prefix (LIKE '5108%'), which a B-tree with the default operator class cannot serve under a
  non-"C" collation (the databases' default); aggregates over them read the whole population anyway.
- ix_enterprise_status: the draw keeps the eligible statuses, nearly every row.
- ix_enterprise_name: name search is a substring match (LIKE '%term%'). The index did serve one thing, the
  first page of the directory list in its default order by name; without it that page is a top-N sort over
  a scan of the table (about 0.3 s at a million rows), next to the count of the same rows the list makes.

On PostgreSQL, `created_at` and `updated_at` also get the default now(), so the import's COPY leaves both
stamps to the server instead of sending two timestamps per row for it to parse (about a sixth of its time). SQLite
keeps them without a default: it cannot change one without rebuilding the table (a rebuild that foreign keys
from the forms and results make unsafe), and the import writes both stamps itself there.

A branch of its own off 0001_foundation, where the table is created; the app runs `upgrade heads`.

Revision ID: 0006_enterprise_indexes
Revises: 0001_foundation
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_enterprise_indexes"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DROPPED = {
    "ix_enterprise_industry_code": "industry_code",
    "ix_enterprise_name": "name",
    "ix_enterprise_region_code": "region_code",
    "ix_enterprise_status": "status",
}
STAMPS = ("created_at", "updated_at")


def upgrade() -> None:
    for index in DROPPED:
        op.drop_index(index, table_name="enterprise")
    if op.get_bind().dialect.name == "postgresql":
        for column in STAMPS:
            op.alter_column("enterprise", column, server_default=sa.text("now()"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column in STAMPS:
            op.alter_column("enterprise", column, server_default=None)
    for index, column in DROPPED.items():
        op.create_index(index, "enterprise", [column], unique=False)
