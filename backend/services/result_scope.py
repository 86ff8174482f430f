"""Who may read and act on review, results, publication and credit: department staff of the form, by role.

Rules (DESIGN §2 roles):
- read: admin everywhere; supervisor, approver and planner when their department leads or takes part;
- review actions, result entry, follow-ups, publication and withhold requests: the lead department's
  supervisor (审核人) — the lead department enters and publishes results (牵头部门负责录入);
  publishing may also be done by the lead department's approver (局领导);
- approving a withhold (不予公示) or a credit listing: the lead department's approver (主要负责人), never
  the person who asked for it;
- inspectors and witnesses have no grant here: inspectors work through sync, witnesses through draws.

An object outside the caller's read reach is a 404 (its existence does not leak); one the caller may read
but not act on is a 403.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session

from ..errors import Forbidden, NotFound
from ..models.accounts import User
from .querying import json_list_contains

READ_ROLES = ("admin", "supervisor", "approver", "planner")
DEPARTMENT_ROLES = ("supervisor", "approver", "planner")
REVIEW_ROLES = ("supervisor",)
PUBLISH_ROLES = ("supervisor", "approver")
WITHHOLD_REQUEST_ROLES = ("supervisor", "planner")
HEAD_ROLES = ("approver",)
FOLLOW_UP_ROLES = ("supervisor", "approver")
STATISTICS_ROLES = READ_ROLES


def _as_strs(department_ids: Iterable[Any]) -> set[str]:
    return {str(d) for d in department_ids if d}


def can_read(user: User, lead_department_id: uuid.UUID, department_ids: Iterable[Any] = ()) -> bool:
    if user.has_role("admin"):
        return True
    if not user.has_role(*DEPARTMENT_ROLES) or user.department_id is None:
        return False
    return str(user.department_id) in _as_strs([lead_department_id, *department_ids])


def require_read(
    user: User,
    lead_department_id: uuid.UUID,
    department_ids: Iterable[Any] = (),
    *,
    message: str = "资源不存在",
) -> None:
    if not can_read(user, lead_department_id, department_ids):
        raise NotFound(message)


def is_lead_staff(user: User, lead_department_id: uuid.UUID, roles: tuple[str, ...]) -> bool:
    return (
        user.has_role(*roles) and user.department_id is not None and user.department_id == lead_department_id
    )


def require_lead(
    user: User,
    lead_department_id: uuid.UUID,
    department_ids: Iterable[Any],
    roles: tuple[str, ...],
    *,
    what: str,
    message: str = "资源不存在",
) -> None:
    """Read reach first (404 outside it), then the acting role in the lead department (403)."""
    require_read(user, lead_department_id, department_ids, message=message)
    if not is_lead_staff(user, lead_department_id, roles):
        raise Forbidden(f"只有牵头部门的{_role_names(roles)}可以{what}")


def _role_names(roles: tuple[str, ...]) -> str:
    from ..models.accounts import ROLE_LABELS

    return "或".join(ROLE_LABELS[r] for r in roles)


def require_any_role(user: User, roles: tuple[str, ...]) -> None:
    if not user.has_role(*roles):
        raise Forbidden("当前角色无权执行此操作")


def lead_department_filter(user: User, column: Any, department_id: uuid.UUID | None = None) -> Any:
    """Condition on a lead-department column: admins see all (or the one asked for), staff their own."""
    require_any_role(user, READ_ROLES)
    if user.has_role("admin"):
        return None if department_id is None else column == department_id
    if user.department_id is None or (department_id is not None and department_id != user.department_id):
        return column == uuid.UUID(int=0)  # nothing: a department outside reach is simply empty
    return column == user.department_id


def read_filter(
    session: Session,
    user: User,
    lead_column: Any,
    departments_column: Any,
    department_id: uuid.UUID | None = None,
) -> Any:
    """Lead or taking part: what a department's staff may read in lists."""
    require_any_role(user, READ_ROLES)
    if user.has_role("admin"):
        if department_id is None:
            return None
        return or_(
            lead_column == department_id, json_list_contains(session, departments_column, str(department_id))
        )
    if user.department_id is None or (department_id is not None and department_id != user.department_id):
        return lead_column == uuid.UUID(int=0)
    mine = user.department_id
    return or_(lead_column == mine, json_list_contains(session, departments_column, str(mine)))
