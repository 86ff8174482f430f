"""Results (检查结果), follow-ups (后续处置), publication (一公开): publish, withhold with approval,
deadline warnings, the overdue list, entry and publication rates with what blocks 100 %."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from ...db import get_session
from ...models.results import InspectionResult
from ...services import publication as publication_service
from ...services import result_scope
from ...services import results as service
from ...services.reports import public_result_url
from ..security import auth_required, current_user
from .schemas import (
    DecisionSchema,
    FollowUpInputSchema,
    FollowUpPatchSchema,
    FollowUpQuerySchema,
    FollowUpSchema,
    PendingSchema,
    PublishManyResponseSchema,
    PublishManySchema,
    RateQuerySchema,
    RateSchema,
    ResultCategorySchema,
    ResultPatchSchema,
    ResultQuerySchema,
    ResultSchema,
    WarningQuerySchema,
    WithholdRequestSchema,
)

blp = Blueprint(
    "results", __name__, url_prefix="/api/v1", description="检查结果、后续处置与结果公示（一公开）"
)

READERS = result_scope.READ_ROLES


def view(result: InspectionResult) -> dict[str, Any]:
    session = get_session()
    body = service.result_views(session, [result])[0]
    if result.publication_status == "published":
        body["public_url"] = public_result_url(current_app.config["SETTINGS"].public_base_url, result.id)
    return body


def _filters(args: dict[str, Any]) -> service.ResultFilter:
    return service.ResultFilter(
        **{
            k: args.get(k)
            for k in (
                "department_id",
                "publication_status",
                "withhold_status",
                "category",
                "task_id",
                "q",
                "year",
                "overdue",
            )
        }
    )


@blp.route("/results/categories")
class Categories(MethodView):
    @auth_required()
    @blp.response(200, ResultCategorySchema(many=True))
    def get(self):
        """The standard result categories (DESIGN §2) with their codes; any signed-in user"""
        return service.categories()


@blp.route("/results")
class Results(MethodView):
    @auth_required(*READERS)
    @blp.arguments(ResultQuerySchema, location="query")
    @blp.response(200, ResultSchema(many=True))
    @blp.paginate(page_size=50, max_page_size=500)
    def get(self, args, pagination_parameters):
        """Results the caller's department leads or takes part in, nearest publication deadline first"""
        session = get_session()
        rows, total = service.list_results(
            session=session,
            actor=current_user(),
            filters=_filters(args),
            page=pagination_parameters.page,
            page_size=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = total
        base = current_app.config["SETTINGS"].public_base_url
        out = service.result_views(session, rows)
        for body in out:
            if body["publication_status"] == "published":
                body["public_url"] = public_result_url(base, body["id"])
        return out


@blp.route("/results/<uuid:result_id>")
class ResultById(MethodView):
    @auth_required(*READERS)
    @blp.response(200, ResultSchema)
    def get(self, result_id):
        """One result with its items, follow-ups, deadlines and publication state"""
        return view(service.get_result(session=get_session(), actor=current_user(), result_id=result_id))

    @auth_required(*result_scope.REVIEW_ROLES)
    @blp.arguments(ResultPatchSchema)
    @blp.response(200, ResultSchema)
    def patch(self, body, result_id):
        """Correct category, details or item categories before publication (lead department's supervisor)"""
        return view(
            service.amend_result(
                session=get_session(), actor=current_user(), result_id=result_id, values=body
            )
        )


@blp.route("/results/<uuid:result_id>/publish")
class Publish(MethodView):
    @auth_required(*result_scope.PUBLISH_ROLES)
    @blp.response(200, ResultSchema)
    def post(self, result_id):
        """Publish the result (lead department's supervisor or approver); credit rules apply at once"""
        return view(
            publication_service.publish(session=get_session(), actor=current_user(), result_id=result_id)
        )


@blp.route("/results/publish")
class PublishMany(MethodView):
    @auth_required(*result_scope.PUBLISH_ROLES)
    @blp.arguments(PublishManySchema)
    @blp.response(200, PublishManyResponseSchema)
    def post(self, body):
        """Publish several results; each is handled on its own and reported (published | rejected)"""
        return {
            "results": publication_service.publish_many(
                session=get_session(), actor=current_user(), result_ids=body["result_ids"]
            )
        }


@blp.route("/results/<uuid:result_id>/withhold")
class Withhold(MethodView):
    @auth_required(*result_scope.WITHHOLD_REQUEST_ROLES)
    @blp.arguments(WithholdRequestSchema)
    @blp.response(200, ResultSchema)
    def post(self, body, result_id):
        """Ask to withhold (不予公示) with a reason — 经办人 (supervisor or planner of the lead department)"""
        return view(
            publication_service.request_withhold(
                session=get_session(), actor=current_user(), result_id=result_id, reason=body["reason"]
            )
        )


@blp.route("/results/<uuid:result_id>/withhold/decision")
class WithholdDecision(MethodView):
    @auth_required(*result_scope.HEAD_ROLES)
    @blp.arguments(DecisionSchema)
    @blp.response(200, ResultSchema)
    def post(self, body, result_id):
        """The department head (approver) approves — withheld and archived, never deleted — or rejects"""
        return view(
            publication_service.decide_withhold(
                session=get_session(),
                actor=current_user(),
                result_id=result_id,
                approve=body["approve"],
                note=body.get("note", ""),
            )
        )


@blp.route("/results/<uuid:result_id>/follow-ups")
class ResultFollowUps(MethodView):
    @auth_required(*READERS)
    @blp.response(200, FollowUpSchema(many=True))
    def get(self, result_id):
        """Follow-up actions of a result, each with its history"""
        session = get_session()
        result = service.get_result(session=session, actor=current_user(), result_id=result_id)
        rows = service.follow_ups_of(session, [result.id]).get(result.id, [])
        return [service.follow_up_view(f, service.follow_up_events(session, f.id)) for f in rows]

    @auth_required(*result_scope.FOLLOW_UP_ROLES)
    @blp.arguments(FollowUpInputSchema)
    @blp.response(201, FollowUpSchema)
    def post(self, body, result_id):
        """Open a follow-up: 责令整改 (deadline), 立案, 移送 another department, 移送司法"""
        session = get_session()
        f = service.create_follow_up(session=session, actor=current_user(), result_id=result_id, values=body)
        return service.follow_up_view(f, service.follow_up_events(session, f.id))


@blp.route("/follow-ups")
class FollowUps(MethodView):
    @auth_required(*READERS)
    @blp.arguments(FollowUpQuerySchema, location="query")
    @blp.response(200, FollowUpSchema(many=True))
    @blp.paginate(page_size=50, max_page_size=500)
    def get(self, args, pagination_parameters):
        """Follow-ups in the caller's scope (open ones with the nearest deadline first)"""
        rows, total = service.list_follow_ups(
            session=get_session(),
            actor=current_user(),
            status=args.get("status"),
            overdue=args.get("overdue"),
            department_id=args.get("department_id"),
            page=pagination_parameters.page,
            page_size=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = total
        return [service.follow_up_view(f) for f in rows]


@blp.route("/follow-ups/<uuid:follow_up_id>")
class FollowUpById(MethodView):
    @auth_required(*READERS)
    @blp.response(200, FollowUpSchema)
    def get(self, follow_up_id):
        """One follow-up with its history (opened → updated → closed, reopened …)"""
        session = get_session()
        f, _result = service.get_follow_up(session=session, actor=current_user(), follow_up_id=follow_up_id)
        return service.follow_up_view(f, service.follow_up_events(session, f.id))

    @auth_required(*result_scope.FOLLOW_UP_ROLES)
    @blp.arguments(FollowUpPatchSchema)
    @blp.response(200, FollowUpSchema)
    def patch(self, body, follow_up_id):
        """Update (deadline, receiver, description), close with the outcome, or reopen with a reason"""
        session = get_session()
        f = service.update_follow_up(
            session=session, actor=current_user(), follow_up_id=follow_up_id, values=body
        )
        return service.follow_up_view(f, service.follow_up_events(session, f.id))


@blp.route("/publication/warnings")
class Warnings(MethodView):
    @auth_required(*READERS)
    @blp.arguments(WarningQuerySchema, location="query")
    @blp.response(200, PendingSchema(many=True))
    def get(self, args):
        """Results to enter or publish whose 20-working-day deadline falls within `within` working days"""
        return publication_service.warnings(
            session=get_session(),
            actor=current_user(),
            within=args["within"],
            department_id=args.get("department_id"),
        )


@blp.route("/publication/overdue")
class Overdue(MethodView):
    @auth_required(*READERS)
    @blp.arguments(RateQuerySchema, location="query")
    @blp.response(200, PendingSchema(many=True))
    def get(self, args):
        """Results not entered or not published although their deadline has passed"""
        return publication_service.overdue(
            session=get_session(), actor=current_user(), department_id=args.get("department_id")
        )


@blp.route("/publication/rates")
class Rates(MethodView):
    @auth_required(*READERS)
    @blp.arguments(RateQuerySchema, location="query")
    @blp.response(200, RateSchema(many=True))
    def get(self, args):
        """Entry rate and publication rate per lead department, listing what keeps each below 100 %"""
        return publication_service.rates(
            session=get_session(),
            actor=current_user(),
            department_id=args.get("department_id"),
            year=args.get("year"),
        )
