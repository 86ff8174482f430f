"""User accounts managed by the system administrator: roles, department scope, inspector link."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import or_, select, update
from sqlmodel import Session

from ..errors import Conflict, Invalid, NotFound
from ..models.accounts import ROLES, RefreshToken, User
from ..models.base import utcnow
from ..models.directory import Department, Inspector
from . import access, audit
from .auth import hash_password
from .changes import apply_changes, commit_or_conflict
from .querying import Page, json_list_contains, like_pattern, paginate

SCOPED_ROLES = ("planner", "approver", "supervisor", "inspector")
PUBLIC_FIELDS = ("username", "display_name", "roles", "department_id", "inspector_id", "active")


def list_users(
    *,
    session: Session,
    actor: User,
    role: str | None,
    department_id: uuid.UUID | None,
    active: bool | None,
    q: str | None,
    page: int,
    page_size: int,
) -> Page[User]:
    access.scope(actor, "user", access.READ)
    stmt = select(User)
    if role:
        stmt = stmt.where(json_list_contains(session, User.roles, role))
    if department_id:
        stmt = stmt.where(User.department_id == department_id)
    if active is not None:
        stmt = stmt.where(User.active.is_(active))  # type: ignore[attr-defined]
    if q:
        pattern = like_pattern(q.strip())
        stmt = stmt.where(
            or_(User.username.like(pattern, escape="\\"), User.display_name.like(pattern, escape="\\"))  # type: ignore[attr-defined]
        )
    stmt = stmt.order_by(User.username, User.id)
    return paginate(session, stmt, page=page, page_size=page_size)


def get_user(*, session: Session, actor: User, user_id: uuid.UUID) -> User:
    access.scope(actor, "user", access.READ)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("用户不存在")
    return user


def _check(session: Session, merged: dict[str, Any], current: User | None = None) -> None:
    """Cross-field rules on the account as it will be after the change."""
    errors: dict[str, list[str]] = {}
    roles = merged["roles"]
    if not roles:
        errors["roles"] = ["至少需要一个角色"]
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        errors["roles"] = [f"未知角色：{', '.join(unknown)}"]
    if merged.get("department_id") is not None and session.get(Department, merged["department_id"]) is None:
        errors["department_id"] = ["部门不存在"]
    elif merged.get("department_id") is None and any(r in SCOPED_ROLES for r in roles):
        errors["department_id"] = ["该角色须指定所属部门"]
    inspector_id = merged.get("inspector_id")
    if inspector_id is not None:
        insp = session.get(Inspector, inspector_id)
        if insp is None:
            errors["inspector_id"] = ["执法人员不存在"]
        elif merged.get("department_id") not in (None, insp.department_id):
            errors["inspector_id"] = ["关联的执法人员不属于该部门"]
        else:
            holder = session.execute(select(User.id).where(User.inspector_id == inspector_id)).scalar_one_or_none()
            if holder is not None and (current is None or holder != current.id):
                raise Conflict("该执法人员已关联其他账号", errors={"inspector_id": ["已关联其他账号"]})
    elif "inspector" in roles:
        errors["inspector_id"] = ["执法检查人员账号须关联执法人员记录"]
    if errors:
        raise Invalid("账号信息有误", errors=errors)
    username = merged["username"]
    if current is None or current.username != username:
        if session.execute(select(User.id).where(User.username == username)).first():
            raise Conflict("用户名已存在", errors={"username": ["用户名已存在"]})


def create_user(*, session: Session, actor: User | None, values: dict[str, Any]) -> User:
    if actor is not None:
        access.authorize(actor, "user", access.WRITE, existing=False)
    values = dict(values)
    password = values.pop("password")
    values["roles"] = list(dict.fromkeys(values.get("roles") or []))
    if values.get("department_id") is None and values.get("inspector_id") is not None:
        insp = session.get(Inspector, values["inspector_id"])
        if insp is not None:
            values["department_id"] = insp.department_id
    _check(session, {"department_id": None, "inspector_id": None, **values})
    user = User(**values, password_hash=hash_password(password))
    session.add(user)
    audit.record(
        session=session,
        actor=actor,
        action="user.create",
        entity="user",
        entity_id=user.id,
        data={f: getattr(user, f) for f in PUBLIC_FIELDS},
    )
    commit_or_conflict(session, field="username", message="用户名或执法人员关联已存在")
    return user


def update_user(*, session: Session, actor: User, user_id: uuid.UUID, values: dict[str, Any]) -> User:
    user = get_user(session=session, actor=actor, user_id=user_id)
    access.authorize(actor, "user", access.WRITE)
    values = dict(values)
    password = values.pop("password", None)
    if "roles" in values:
        values["roles"] = list(dict.fromkeys(values["roles"]))
    if user.id == actor.id and (values.get("active") is False or ("admin" not in values.get("roles", ["admin"]))):
        raise Conflict("不能停用自己或撤销自己的管理员角色", errors={"roles": ["会导致无法管理系统"]})
    merged = {f: getattr(user, f) for f in PUBLIC_FIELDS} | values
    _check(session, merged, user)
    diff = apply_changes(user, values, touch=False)
    if password:
        user.password_hash = hash_password(password)
        diff["password"] = ["***", "***"]
    if diff.get("active") == [True, False] or "roles" in diff or "password" in diff:
        _revoke_tokens(session, user)
    if diff:
        audit.record(
            session=session,
            actor=actor,
            action="user.update",
            entity="user",
            entity_id=user.id,
            data={"username": user.username, "changes": diff},
        )
        commit_or_conflict(session, field="username", message="用户名或执法人员关联已存在")
    return user


def deactivate_user(*, session: Session, actor: User, user_id: uuid.UUID) -> None:
    user = get_user(session=session, actor=actor, user_id=user_id)
    access.authorize(actor, "user", access.WRITE)
    if user.id == actor.id:
        raise Conflict("不能停用自己的账号", errors={"active": ["不能停用自己的账号"]})
    if apply_changes(user, {"active": False}, touch=False):
        _revoke_tokens(session, user)
        audit.record(
            session=session,
            actor=actor,
            action="user.deactivate",
            entity="user",
            entity_id=user.id,
            data={"username": user.username},
        )
        session.commit()


def _revoke_tokens(session: Session, user: User) -> None:
    """Signed-in sessions end when the account's rights change (access tokens die within 15 minutes)."""
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))  # type: ignore[union-attr]
        .values(revoked_at=utcnow())
    )
