"""Who may see and write a 一企一表 form in field work (its team, its departments' staff, admins).

Rules: an inspector sees only forms they are actively assigned to; supervisors, approvers and planners see the
forms of their department when it leads or takes part; admins see everything. Anyone else gets 404 (the form's
existence is not revealed). Original evidence bytes are for the team, the departments' supervisors and admins.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlmodel import Session

from ..errors import Forbidden, NotFound
from ..models.accounts import User
from ..models.forms import FormAssignment, InspectionForm

FIELD_VISIBLE_STATUSES = ("dispatched", "in_progress", "submitted", "returned")
FIELD_EDITABLE_STATUSES = ("dispatched", "in_progress", "returned")
DEPARTMENT_ROLES = ("supervisor", "approver", "planner")

FORM_NOT_FOUND = "检查表不存在或未分派给您"


def is_assigned(session: Session, form_id: uuid.UUID, inspector_id: uuid.UUID | None) -> bool:
    if inspector_id is None:
        return False
    row = session.execute(
        select(FormAssignment.id).where(
            FormAssignment.form_id == form_id,
            FormAssignment.inspector_id == inspector_id,
            FormAssignment.active == True,  # noqa: E712 - SQL expression
        )
    ).first()
    return row is not None


def form_departments(form: InspectionForm) -> set[str]:
    return {str(form.lead_department_id), *(str(d) for d in form.department_ids or [])}


def in_department_scope(user: User, form: InspectionForm) -> bool:
    return (
        user.has_role(*DEPARTMENT_ROLES)
        and user.department_id is not None
        and str(user.department_id) in form_departments(form)
    )


def require_field_inspector(user: User) -> uuid.UUID:
    """The inspector behind a field client; other accounts cannot sync."""
    if not user.has_role("inspector") or user.inspector_id is None:
        raise Forbidden("只有执法检查人员可以同步检查表")
    return user.inspector_id


def form_for_field_work(session: Session, user: User, form_id: uuid.UUID) -> InspectionForm:
    """The form, if the user's inspector is actively on its team and it has been dispatched; else 404."""
    form = session.get(InspectionForm, form_id)
    if (
        form is None
        or form.status not in FIELD_VISIBLE_STATUSES
        or not is_assigned(session, form.id, user.inspector_id)
    ):
        raise NotFound(FORM_NOT_FOUND)
    return form


def can_view_form(session: Session, user: User, form: InspectionForm) -> bool:
    if user.has_role("admin"):
        return True
    if in_department_scope(user, form):
        return True
    return user.has_role("inspector") and is_assigned(session, form.id, user.inspector_id)


def form_for_viewer(session: Session, user: User, form_id: uuid.UUID) -> InspectionForm:
    form = session.get(InspectionForm, form_id)
    if form is None or not can_view_form(session, user, form):
        raise NotFound(FORM_NOT_FOUND)
    return form


def require_original_access(session: Session, user: User, form: InspectionForm) -> None:
    """Original evidence bytes: the assigned inspectors, the departments' supervisors, admins."""
    if user.has_role("admin"):
        return
    if (
        user.has_role("supervisor")
        and user.department_id is not None
        and str(user.department_id) in (form_departments(form))
    ):
        return
    if user.has_role("inspector") and is_assigned(session, form.id, user.inspector_id):
        return
    raise Forbidden("原始证据文件仅限本表检查人员、本部门审核人和系统管理员查看")
