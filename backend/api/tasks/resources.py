"""Inspection tasks: CRUD while draft, the dispatched forms, and audited adjustments after dispatch."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from ...db import get_session
from ...models.planning import TASK_STATUS_LABELS, AnnualPlan, Draw, InspectionTask
from ...services import draws as draw_service
from ...services import tasks as service
from ..draws.resources import today as draws_today
from ..security import auth_required, current_user
from .schemas import (
    TaskFormAdjustSchema,
    TaskFormReplaceInspectorSchema,
    TaskFormSchema,
    TaskInputSchema,
    TaskQuery,
    TaskSchema,
    TaskUpdateSchema,
)

blp = Blueprint("tasks", __name__, url_prefix="/api/v1/tasks", description="抽查任务")

READERS = ("admin", "planner", "approver", "supervisor", "witness")
FORM_READERS = ("admin", "planner", "approver", "supervisor")


def task_view(task: InspectionTask, plan: AnnualPlan | None = None) -> dict[str, Any]:
    session = get_session()
    plan = plan or session.get(AnnualPlan, task.plan_id)
    body = task.model_dump()
    body["status_label"] = TASK_STATUS_LABELS.get(task.status, task.status)
    body["draw_id"] = session.execute(select(Draw.id).where(Draw.task_id == task.id)).scalar_one_or_none()
    body["deadlines"] = service.deadlines(session, task, plan) if plan else None
    return body


def form_view(form: Any, team: list[Any]) -> dict[str, Any]:
    body = form.model_dump()
    body["enterprise"] = form.enterprise_snapshot
    body["team"] = [a.model_dump() for a in team]
    return body


@blp.route("")
class Tasks(MethodView):
    @auth_required(*READERS)
    @blp.arguments(TaskQuery, location="query")
    @blp.response(200, TaskSchema(many=True))
    @blp.paginate(page_size=20, max_page_size=200)
    def get(self, args, pagination_parameters):
        """List tasks within reach (departments of the plan; witnesses see tasks from their notice on)"""
        rows, total = service.list_tasks(
            session=get_session(),
            actor=current_user(),
            plan_id=args.get("plan_id"),
            status=args.get("status"),
            page=pagination_parameters.page,
            page_size=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = total
        return [task_view(t) for t in rows]

    @auth_required("planner")
    @blp.arguments(TaskInputSchema)
    @blp.response(201, TaskSchema)
    def post(self, body):
        """Create a task under a published plan (planner of the lead department; ratio cap enforced)"""
        return task_view(
            service.create_task(session=get_session(), actor=current_user(), values=body, today=draws_today())
        )


@blp.route("/<uuid:task_id>")
class TaskById(MethodView):
    @auth_required(*READERS)
    @blp.response(200, TaskSchema)
    def get(self, task_id):
        """Get a task with its deadlines"""
        task, plan = service.get_task(session=get_session(), actor=current_user(), task_id=task_id)
        return task_view(task, plan)

    @auth_required("planner")
    @blp.arguments(TaskUpdateSchema(partial=True))
    @blp.response(200, TaskSchema)
    def patch(self, body, task_id):
        """Edit a task before its notice is published"""
        return task_view(
            service.update_task(
                session=get_session(), actor=current_user(), task_id=task_id, values=body, today=draws_today()
            )
        )


@blp.route("/<uuid:task_id>/forms")
class TaskForms(MethodView):
    @auth_required(*FORM_READERS)
    @blp.response(200, TaskFormSchema(many=True))
    @blp.paginate(page_size=50, max_page_size=500)
    def get(self, task_id, pagination_parameters):
        """The 一企一表 forms of a dispatched task with each department's team"""
        rows, total = draw_service.list_task_forms(
            session=get_session(),
            actor=current_user(),
            task_id=task_id,
            page=pagination_parameters.page,
            page_size=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = total
        return [form_view(f, team) for f, team in rows]


@blp.route("/<uuid:task_id>/forms/<uuid:form_id>/replace-inspector")
class ReplaceInspector(MethodView):
    @auth_required("planner")
    @blp.arguments(TaskFormReplaceInspectorSchema)
    @blp.response(200, TaskFormSchema)
    def post(self, body, task_id, form_id):
        """调整执法人员: replace a team member (reason required; the new one must satisfy every constraint)"""
        session = get_session()
        form = draw_service.replace_inspector(
            session=session,
            actor=current_user(),
            task_id=task_id,
            form_id=form_id,
            old_inspector_id=body["old_inspector_id"],
            new_inspector_id=body["new_inspector_id"],
            reason=body["reason"],
            today=draws_today(),
        )
        return form_view(form, _team(form.id))


@blp.route("/<uuid:task_id>/forms/<uuid:form_id>/adjust")
class AdjustForm(MethodView):
    @auth_required("planner")
    @blp.arguments(TaskFormAdjustSchema)
    @blp.response(200, TaskFormSchema)
    def post(self, body, task_id, form_id):
        """更改检查内容 after dispatch (within the task's items; reason required; audited)"""
        form = draw_service.adjust_form_content(
            session=get_session(),
            actor=current_user(),
            task_id=task_id,
            form_id=form_id,
            reason=body["reason"],
            remove_checkpoint_keys=body.get("remove_checkpoint_keys") or [],
            restore_checkpoint_keys=body.get("restore_checkpoint_keys") or [],
            inspection_date=body.get("inspection_date"),
        )
        return form_view(form, _team(form.id))


def _team(form_id: Any) -> list[Any]:
    from ...models.forms import FormAssignment

    return list(
        get_session()
        .execute(
            select(FormAssignment)
            .where(FormAssignment.form_id == form_id)
            .order_by(FormAssignment.assigned_at)
        )
        .scalars()
    )
