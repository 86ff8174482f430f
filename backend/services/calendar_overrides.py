"""Local working-day overrides (地方调休) that an administrator lays over the statutory calendar."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import extract, select
from sqlmodel import Session

from ..errors import Conflict, NotFound
from ..models.accounts import User
from ..models.directory import CalendarOverride
from . import access, audit
from .changes import apply_changes, commit_or_conflict


def list_overrides(*, session: Session, actor: User, year: int | None) -> list[CalendarOverride]:
    access.scope(actor, "calendar", access.READ)
    stmt = select(CalendarOverride).order_by(CalendarOverride.day)
    if year is not None:
        stmt = stmt.where(extract("year", CalendarOverride.day) == year)
    return list(session.execute(stmt).scalars())


def get_override(*, session: Session, actor: User, day: date) -> CalendarOverride:
    access.scope(actor, "calendar", access.READ)
    row = session.get(CalendarOverride, day)
    if row is None:
        raise NotFound("该日期没有调整记录")
    return row


def create_override(*, session: Session, actor: User, values: dict[str, Any]) -> CalendarOverride:
    access.authorize(actor, "calendar", access.WRITE, existing=False)
    if session.get(CalendarOverride, values["day"]) is not None:
        raise Conflict("该日期已有调整记录", errors={"day": ["该日期已有调整记录"]})
    row = CalendarOverride(**values)
    session.add(row)
    audit.record(
        session=session,
        actor=actor,
        action="calendar.create",
        entity="calendar_override",
        entity_id=row.day.isoformat(),
        data={"is_workday": row.is_workday, "note": row.note},
    )
    commit_or_conflict(session, field="day", message="该日期已有调整记录")
    return row


def update_override(*, session: Session, actor: User, day: date, values: dict[str, Any]) -> CalendarOverride:
    row = get_override(session=session, actor=actor, day=day)
    access.authorize(actor, "calendar", access.WRITE)
    diff = apply_changes(row, values, touch=False)
    if diff:
        audit.record(
            session=session,
            actor=actor,
            action="calendar.update",
            entity="calendar_override",
            entity_id=row.day.isoformat(),
            data={"changes": diff},
        )
        session.commit()
    return row


def delete_override(*, session: Session, actor: User, day: date) -> None:
    row = get_override(session=session, actor=actor, day=day)
    access.authorize(actor, "calendar", access.WRITE)
    audit.record(
        session=session,
        actor=actor,
        action="calendar.delete",
        entity="calendar_override",
        entity_id=row.day.isoformat(),
        data={"is_workday": row.is_workday, "note": row.note},
    )
    session.delete(row)
    session.commit()
