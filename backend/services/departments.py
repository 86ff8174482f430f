"""Departments (部门): the enforcement bodies that own inspectors and check items."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from ..errors import Conflict, Invalid, NotFound
from ..models.accounts import User
from ..models.directory import Department
from . import access, audit
from .changes import apply_changes, commit_or_conflict, snapshot

FIELDS = ("code", "name", "region_code", "level", "parent_id", "active")


def list_departments(*, session: Session, actor: User, active: bool | None = None) -> list[Department]:
    access.scope(actor, "department", access.READ)
    stmt = select(Department).order_by(Department.code)
    if active is not None:
        stmt = stmt.where(Department.active == active)  # type: ignore[arg-type]
    return list(session.execute(stmt).scalars())


def get_department(*, session: Session, actor: User | None, department_id: uuid.UUID) -> Department:
    if actor is not None:
        access.scope(actor, "department", access.READ)
    dept = session.get(Department, department_id)
    if dept is None:
        raise NotFound("部门不存在")
    return dept


def department_by_code(*, session: Session, code: str) -> Department | None:
    return session.execute(select(Department).where(Department.code == code)).scalar_one_or_none()


def _check(session: Session, values: dict[str, Any], current: Department | None = None) -> None:
    code = values.get("code")
    if code is not None and (current is None or code != current.code):
        if department_by_code(session=session, code=code) is not None:
            raise Conflict("部门编码已存在", errors={"code": ["部门编码已存在"]})
    parent_id = values.get("parent_id")
    if parent_id is not None:
        parent = session.get(Department, parent_id)
        if parent is None:
            raise Invalid("上级部门不存在", errors={"parent_id": ["上级部门不存在"]})
        # walk up: a department may not become its own ancestor
        seen = set()
        while parent is not None and current is not None:
            if parent.id == current.id:
                raise Invalid("上级部门不能是本部门或其下级", errors={"parent_id": ["形成循环"]})
            if parent.id in seen or parent.parent_id is None:
                break
            seen.add(parent.id)
            parent = session.get(Department, parent.parent_id)


def create_department(*, session: Session, actor: User | None, values: dict[str, Any]) -> Department:
    if actor is not None:
        access.authorize(actor, "department", access.WRITE, existing=False)
    _check(session, values)
    dept = Department(**values)
    session.add(dept)
    audit.record(
        session=session,
        actor=actor,
        action="department.create",
        entity="department",
        entity_id=dept.id,
        data=snapshot(dept, FIELDS),
    )
    commit_or_conflict(session, field="code", message="部门编码已存在")
    return dept


def update_department(*, session: Session, actor: User, department_id: uuid.UUID, values: dict[str, Any]) -> Department:
    dept = get_department(session=session, actor=actor, department_id=department_id)
    access.authorize(actor, "department", access.WRITE)
    _check(session, values, dept)
    diff = apply_changes(dept, values)
    if diff:
        audit.record(
            session=session,
            actor=actor,
            action="department.update",
            entity="department",
            entity_id=dept.id,
            data={"changes": diff},
        )
        commit_or_conflict(session, field="code", message="部门编码已存在")
    return dept
