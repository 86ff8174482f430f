"""Credit linkage (信用监管联动): configurable rules, listing proposals for the head, credit records."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from ...db import get_session
from ...services import credit as service
from ...services import result_scope
from ..security import auth_required, current_user
from .schemas import (
    CreditDecisionSchema,
    CreditProposalQuerySchema,
    CreditProposalSchema,
    CreditRuleInputSchema,
    CreditRuleSchema,
    CreditTimelineSchema,
)

blp = Blueprint("credit", __name__, url_prefix="/api/v1/credit", description="信用记录、信用规则与惩戒提议")

READERS = result_scope.READ_ROLES


@blp.route("/rules")
class Rules(MethodView):
    @auth_required(*READERS)
    @blp.response(200, CreditRuleSchema(many=True))
    def get(self):
        """The rule of every result category (configured, or the default)"""
        return service.list_rules(session=get_session(), actor=current_user())


@blp.route("/rules/<string:category>")
class RuleByCategory(MethodView):
    @auth_required("admin")
    @blp.arguments(CreditRuleInputSchema)
    @blp.response(200, CreditRuleSchema)
    def put(self, body, category):
        """Configure a category's rule: risk level change and proposed listing (system administrator)"""
        return service.set_rule(session=get_session(), actor=current_user(), category=category, values=body)


@blp.route("/proposals")
class Proposals(MethodView):
    @auth_required(*READERS)
    @blp.arguments(CreditProposalQuerySchema, location="query")
    @blp.response(200, CreditProposalSchema(many=True))
    def get(self, args):
        """Listing proposals of the caller's department (pending by default)"""
        session = get_session()
        rows = service.list_proposals(
            session=session,
            actor=current_user(),
            status=args["status"],
            department_id=args.get("department_id"),
        )
        return service.proposal_views(session, rows)


@blp.route("/proposals/<uuid:proposal_id>/decision")
class ProposalDecision(MethodView):
    @auth_required(*result_scope.HEAD_ROLES)
    @blp.arguments(CreditDecisionSchema)
    @blp.response(200, CreditProposalSchema)
    def post(self, body, proposal_id):
        """Approve (listed; the next draw weighs it) or reject — the department head (approver)"""
        session = get_session()
        row = service.decide_proposal(
            session=session,
            actor=current_user(),
            proposal_id=proposal_id,
            approve=body["approve"],
            note=body.get("note", ""),
        )
        return service.proposal_views(session, [row])[0]


@blp.route("/enterprises/<uuid:enterprise_id>")
class EnterpriseCredit(MethodView):
    @auth_required(*READERS)
    @blp.response(200, CreditTimelineSchema)
    def get(self, enterprise_id):
        """An enterprise's credit record: public entries, and internal ones of results the caller may read"""
        return service.enterprise_timeline(
            session=get_session(), actor=current_user(), enterprise_id=enterprise_id
        )
