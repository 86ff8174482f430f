"""Listing helpers shared by the directory services: paging, sorting, text search, JSON-list filters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import cast, exists, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import Select
from sqlmodel import Session

from ..errors import Invalid

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: list[T]
    total: int


def paginate(session: Session, stmt: Select, *, page: int, page_size: int) -> Page[Any]:
    total = session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    rows = session.execute(stmt.limit(page_size).offset((page - 1) * page_size)).scalars().all()
    return Page(list(rows), total)


def order_by(stmt: Select, sort: str | None, columns: Mapping[str, Any], *, default: str, tiebreak: Any) -> Select:
    """Apply `sort` ("name" or "-name"), always ending with a unique column so pages are stable."""
    sort = sort or default
    key = sort.lstrip("-")
    if key not in columns:
        raise Invalid("排序字段不支持", errors={"sort": [f"可选值：{', '.join(sorted(columns))}"]})
    column = columns[key]
    return stmt.order_by(column.desc() if sort.startswith("-") else column.asc(), tiebreak)


def like_pattern(term: str, *, prefix: bool = False) -> str:
    """A LIKE pattern matching `term` literally (its % and _ are not wildcards); use escape='\\'."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%" if prefix else f"%{escaped}%"


def json_list_contains(session: Session, column: Any, value: str) -> Any:
    """SQL condition: the JSON array in `column` contains the string `value` (PostgreSQL and SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(column, JSONB).contains([value])
    each = func.json_each(column).table_valued("value")
    return exists(select(1).select_from(each).where(each.c.value == value))


def split_list(values: Sequence[str] | str | None) -> list[str]:
    """Query parameters given as repeated keys or comma-separated values."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for v in values:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out
