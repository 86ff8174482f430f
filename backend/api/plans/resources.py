"""Annual plans: drafts, submit, approve (signed), reject, publish, filed adjustments; public list."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from ...db import get_session
from ...models.planning import PLAN_STATUS_LABELS, AnnualPlan
from ...services import plans as service
from ...services.population import ratio_text
from ..security import auth_required, current_user
from .schemas import (
    PlanAdjustInputSchema,
    PlanAdjustmentSchema,
    PlanInputSchema,
    PlanPatchSchema,
    PlanQuery,
    PlanReasonSchema,
    PlanSchema,
    PublicPlanSchema,
)

blp = Blueprint("plans", __name__, url_prefix="/api/v1", description="年度抽查计划")

READERS = ("admin", "planner", "approver", "supervisor", "witness")


def _view(plan: AnnualPlan) -> dict[str, Any]:
    body = plan.model_dump()
    body["status_label"] = PLAN_STATUS_LABELS.get(plan.status, plan.status)
    body["cap"] = ratio_text(service.plan_cap(plan))
    body["signature_valid"] = service.signature_valid(current_app.config["SETTINGS"], plan)
    return body


@blp.route("/plans")
class Plans(MethodView):
    @auth_required(*READERS)
    @blp.arguments(PlanQuery, location="query")
    @blp.response(200, PlanSchema(many=True))
    @blp.paginate(page_size=20, max_page_size=200)
    def get(self, args, pagination_parameters):
        """List plans the caller may see (own department leads or takes part; witnesses see plans in force)"""
        rows, total = service.list_plans(
            session=get_session(),
            actor=current_user(),
            year=args.get("year"),
            status=args.get("status"),
            page=pagination_parameters.page,
            page_size=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = total
        return [_view(p) for p in rows]

    @auth_required("planner")
    @blp.arguments(PlanInputSchema)
    @blp.response(201, PlanSchema)
    def post(self, body):
        """Draft a plan (planner of the lead department; deadline defaults to 11-20 of the year)"""
        return _view(service.create_plan(session=get_session(), actor=current_user(), values=body))


@blp.route("/plans/<uuid:plan_id>")
class PlanById(MethodView):
    @auth_required(*READERS)
    @blp.response(200, PlanSchema)
    def get(self, plan_id):
        """Get a plan"""
        return _view(service.get_plan(session=get_session(), actor=current_user(), plan_id=plan_id))

    @auth_required("planner")
    @blp.arguments(PlanPatchSchema(partial=True))
    @blp.response(200, PlanSchema)
    def patch(self, body, plan_id):
        """Edit a draft or rejected plan"""
        return _view(
            service.update_plan(session=get_session(), actor=current_user(), plan_id=plan_id, values=body)
        )


@blp.route("/plans/<uuid:plan_id>/submit")
class PlanSubmit(MethodView):
    @auth_required("planner")
    @blp.response(200, PlanSchema)
    def post(self, plan_id):
        """Submit for approval (checks completeness and the ratio cap)"""
        return _view(service.submit_plan(session=get_session(), actor=current_user(), plan_id=plan_id))


@blp.route("/plans/<uuid:plan_id>/approve")
class PlanApprove(MethodView):
    @auth_required("approver")
    @blp.response(200, PlanSchema)
    def post(self, plan_id):
        """Approve and sign (approver of the lead department; the ratio cap is enforced again)"""
        return _view(
            service.approve_plan(
                session=get_session(),
                actor=current_user(),
                settings=current_app.config["SETTINGS"],
                plan_id=plan_id,
            )
        )


@blp.route("/plans/<uuid:plan_id>/reject")
class PlanReject(MethodView):
    @auth_required("approver")
    @blp.arguments(PlanReasonSchema)
    @blp.response(200, PlanSchema)
    def post(self, body, plan_id):
        """Send back to the planner with a reason"""
        return _view(
            service.reject_plan(
                session=get_session(), actor=current_user(), plan_id=plan_id, reason=body["reason"]
            )
        )


@blp.route("/plans/<uuid:plan_id>/publish")
class PlanPublish(MethodView):
    @auth_required("planner")
    @blp.response(200, PlanSchema)
    def post(self, plan_id):
        """Publish an approved plan (its signature must still match its content)"""
        return _view(
            service.publish_plan(
                session=get_session(),
                actor=current_user(),
                settings=current_app.config["SETTINGS"],
                plan_id=plan_id,
            )
        )


@blp.route("/plans/<uuid:plan_id>/adjustments")
class PlanAdjustments(MethodView):
    @auth_required(*READERS)
    @blp.response(200, PlanAdjustmentSchema(many=True))
    def get(self, plan_id):
        """Every filed adjustment of a plan, oldest first"""
        return service.list_adjustments(session=get_session(), actor=current_user(), plan_id=plan_id)

    @auth_required("planner")
    @blp.arguments(PlanAdjustInputSchema)
    @blp.response(201, PlanAdjustmentSchema)
    def post(self, body, plan_id):
        """Adjust a published plan (动态调整): the reason and the diff are filed and kept"""
        return service.adjust_plan(
            session=get_session(),
            actor=current_user(),
            plan_id=plan_id,
            reason=body["reason"],
            changes=body["changes"],
        )


@blp.route("/public/plans")
class PublicPlans(MethodView):
    @blp.arguments(PlanQuery, location="query")
    @blp.response(200, PublicPlanSchema(many=True))
    def get(self, args):
        """Plans in force (向社会公示), no sign-in"""
        return service.list_public_plans(session=get_session(), year=args.get("year"))
