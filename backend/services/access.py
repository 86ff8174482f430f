"""Who may read or change what: one table of grants per kind of object, with department and self scope.

Reading the table: POLICY[kind][action][role] is the reach that role gets for that action —
ALL (every object), DEPARTMENT (objects of the user's department) or SELF (the user's own
inspector record). A role missing from the row has no grant: the caller gets 403.

404 versus 403: an object outside the caller's *read* reach is answered with 404 (NotFound), so a
planner cannot probe which inspectors or check items another department has. A caller who may read
an object but not change it gets 403 (Forbidden): it already knows the object exists. Creating an
object in a department outside the caller's reach is a 403 naming the department field, because
departments themselves are not secret.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import false, or_

from ..errors import Forbidden, NotFound
from ..models.accounts import ROLES, User

ALL = "all"
DEPARTMENT = "department"
SELF = "self"

READ = "read"
WRITE = "write"
PUBLISH = "publish"

_STAFF = {role: ALL for role in ROLES}
_DEPT_STAFF_READ = {"admin": ALL, "planner": DEPARTMENT, "approver": DEPARTMENT, "supervisor": DEPARTMENT}
_DEPT_WRITE = {"admin": ALL, "planner": DEPARTMENT}

POLICY: dict[str, dict[str, dict[str, str]]] = {
    # Departments are the frame everyone works in: every signed-in role reads them, admins change them.
    "department": {READ: dict(_STAFF), WRITE: {"admin": ALL}},
    # 检查对象名录库 is shared master data across departments.
    "enterprise": {
        READ: {"admin": ALL, "planner": ALL, "approver": ALL, "supervisor": ALL, "witness": ALL},
        WRITE: {"admin": ALL, "planner": ALL},
    },
    "inspector": {READ: {**_DEPT_STAFF_READ, "inspector": SELF}, WRITE: dict(_DEPT_WRITE)},
    # A 回避 record belongs to the inspector's department (and is visible to that inspector).
    "conflict": {READ: {**_DEPT_STAFF_READ, "inspector": SELF}, WRITE: dict(_DEPT_WRITE)},
    # Drafts of 抽查事项 are departmental; published versions are public (no policy needed to read them).
    "check_item": {
        READ: dict(_DEPT_STAFF_READ),
        WRITE: dict(_DEPT_WRITE),
        PUBLISH: {"admin": ALL, "planner": DEPARTMENT, "approver": DEPARTMENT},
    },
    "user": {READ: {"admin": ALL}, WRITE: {"admin": ALL}},
    "calendar": {READ: dict(_STAFF), WRITE: {"admin": ALL}},
}


def roles_for(kind: str, action: str) -> tuple[str, ...]:
    """Roles holding any grant for the action (for @auth_required, which answers 403 to the rest)."""
    return tuple(POLICY[kind].get(action, {}))


@dataclass(frozen=True)
class Scope:
    """The reach of one user for one (kind, action): everything, or a department and/or one inspector."""

    everything: bool = False
    department_id: uuid.UUID | None = None
    inspector_id: uuid.UUID | None = None

    def permits(self, *, department_id: uuid.UUID | None = None, inspector_id: uuid.UUID | None = None) -> bool:
        if self.everything:
            return True
        if self.department_id is not None and department_id == self.department_id:
            return True
        return self.inspector_id is not None and inspector_id == self.inspector_id

    def where(self, *, department_col: Any = None, inspector_col: Any = None) -> Any:
        """A SQL condition restricting a query to this scope (None when unrestricted)."""
        if self.everything:
            return None
        terms = []
        if self.department_id is not None and department_col is not None:
            terms.append(department_col == self.department_id)
        if self.inspector_id is not None and inspector_col is not None:
            terms.append(inspector_col == self.inspector_id)
        return or_(*terms) if terms else false()


def scope(user: User, kind: str, action: str = READ) -> Scope:
    """The user's reach; raises Forbidden when none of the user's roles has any grant."""
    grants = POLICY[kind].get(action, {})
    reaches = {grants[r] for r in user.roles if r in grants}
    if not reaches:
        raise Forbidden("当前角色无权执行此操作")
    if ALL in reaches:
        return Scope(everything=True)
    return Scope(
        department_id=user.department_id if DEPARTMENT in reaches else None,
        inspector_id=user.inspector_id if SELF in reaches else None,
    )


def can(user: User, kind: str, action: str, **owner: uuid.UUID | None) -> bool:
    grants = POLICY[kind].get(action, {})
    if not any(r in grants for r in user.roles):
        return False
    return scope(user, kind, action).permits(**owner)


def authorize(
    user: User,
    kind: str,
    action: str,
    *,
    department_id: uuid.UUID | None = None,
    inspector_id: uuid.UUID | None = None,
    existing: bool = True,
) -> None:
    """Allow or refuse `action` on one object owned by (department_id, inspector_id).

    For an existing object the caller cannot read, answer 404 so its existence does not leak.
    For a new object (existing=False) the department is the caller's choice: refuse with 403.
    """
    owner = {"department_id": department_id, "inspector_id": inspector_id}
    if existing and action != READ and not can(user, kind, READ, **owner):
        raise NotFound("资源不存在")
    reach = scope(user, kind, action)
    if reach.permits(**owner):
        return
    if existing and action == READ:
        raise NotFound("资源不存在")
    if existing:
        raise Forbidden("当前角色无权修改此对象")
    raise Forbidden("只能在本部门范围内操作", errors={"department_id": ["不能为其他部门创建数据"]})
