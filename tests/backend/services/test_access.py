"""The access policy: role grants, department and self scope, and 404 versus 403."""

from __future__ import annotations

import uuid

import pytest

from backend.errors import Forbidden, NotFound
from backend.models import User
from backend.services import access

A, B, ME, OTHER = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def user(*roles: str, department=A, inspector=None) -> User:
    return User(
        username="u",
        display_name="u",
        password_hash="x",
        roles=list(roles),
        department_id=department,
        inspector_id=inspector,
    )


def test_scope_by_role():
    assert access.scope(user("admin", department=None), "inspector").everything
    planner = access.scope(user("planner"), "inspector", access.WRITE)
    assert planner.department_id == A and planner.permits(department_id=A) and not planner.permits(department_id=B)
    inspector = access.scope(user("inspector", inspector=ME), "inspector")
    assert inspector.permits(department_id=A, inspector_id=ME)
    assert not inspector.permits(department_id=A, inspector_id=OTHER)  # the own department is not enough
    with pytest.raises(Forbidden):
        access.scope(user("witness"), "inspector")
    assert access.scope(user("witness", department=None), "enterprise").everything


def test_roles_combine():
    both = access.scope(user("planner", "inspector", inspector=ME), "inspector")
    assert both.permits(department_id=A) and both.department_id == A and both.inspector_id == ME


def test_hidden_objects_are_404_and_visible_but_read_only_ones_403():
    with pytest.raises(NotFound):
        access.authorize(user("planner", department=B), "inspector", access.READ, department_id=A)
    with pytest.raises(NotFound):  # writing to something one cannot see must not reveal it either
        access.authorize(user("planner", department=B), "inspector", access.WRITE, department_id=A)
    with pytest.raises(Forbidden):
        access.authorize(user("approver"), "inspector", access.WRITE, department_id=A)
    with pytest.raises(Forbidden):
        access.authorize(user("inspector", inspector=ME), "inspector", access.WRITE, department_id=A, inspector_id=ME)
    access.authorize(user("approver"), "check_item", access.PUBLISH, department_id=A)
    with pytest.raises(Forbidden):
        access.authorize(user("supervisor"), "check_item", access.PUBLISH, department_id=A)


def test_creating_in_another_department_is_403_naming_the_field():
    with pytest.raises(Forbidden) as exc:
        access.authorize(user("planner", department=B), "inspector", access.WRITE, department_id=A, existing=False)
    assert "department_id" in exc.value.errors


def test_sql_filter_follows_the_scope():
    from backend.models import Inspector

    assert access.scope(user("admin"), "inspector").where(department_col=Inspector.department_id) is None
    cond = access.scope(user("inspector", inspector=ME), "inspector").where(
        department_col=Inspector.department_id, inspector_col=Inspector.id
    )
    assert "inspector.id" in str(cond) and "department_id" not in str(cond)
    nobody = access.scope(user("planner", department=None), "inspector").where(department_col=Inspector.department_id)
    assert str(nobody) in ("false", "0 = 1")


def test_roles_for_lists_every_granted_role():
    assert set(access.roles_for("check_item", access.PUBLISH)) == {"admin", "planner", "approver"}
    assert access.roles_for("user", access.WRITE) == ("admin",)
