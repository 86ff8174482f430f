"""Field-level change sets: apply new values to a row and describe what changed for the audit log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from ..errors import Conflict
from ..models.base import utcnow


def apply_changes(obj: Any, values: Mapping[str, Any], *, touch: bool = True) -> dict[str, list[Any]]:
    """Set the values that differ; return {field: [old, new]} (empty when nothing changed)."""
    diff: dict[str, list[Any]] = {}
    for field, new in values.items():
        old = getattr(obj, field)
        if old != new:
            diff[field] = [old, new]
            setattr(obj, field, new)
    if diff and touch and hasattr(obj, "updated_at"):
        obj.updated_at = utcnow()
    return diff


def commit_or_conflict(session: Session, *, field: str, message: str) -> None:
    """Commit; a unique-constraint race that slipped past the explicit check becomes a 409 on `field`."""
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(message, errors={field: [message]}) from exc


def snapshot(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: getattr(obj, f) for f in fields}
