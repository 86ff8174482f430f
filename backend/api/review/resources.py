"""Supervisor review (审核): the queue, the per-form review detail (answers, evidence provenance, audit
timeline), approve with the result, return for revision or ask for more evidence (to the next pull)."""

from __future__ import annotations

from flask import Response, current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from ...db import get_session
from ...services import result_scope
from ...services import review as service
from ..results.resources import view as result_view
from ..results.schemas import ResultSchema
from ..security import auth_required, current_user
from .schemas import (
    ReviewApproveSchema,
    ReviewCommentSchema,
    ReviewDetailSchema,
    ReviewNoteInputSchema,
    ReviewQueueItemSchema,
    ReviewQueueQuerySchema,
    ReviewSendBackResultSchema,
    ReviewSendBackSchema,
)

blp = Blueprint(
    "review", __name__, url_prefix="/api/v1/review", description="审核：待审队列、审核详情与审核操作"
)

READERS = result_scope.READ_ROLES
PNG_DOC = {
    "responses": {
        "200": {
            "description": "签名图片",
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
        }
    }
}


@blp.route("/queue")
class Queue(MethodView):
    @auth_required(*READERS)
    @blp.arguments(ReviewQueueQuerySchema, location="query")
    @blp.response(200, ReviewQueueItemSchema(many=True))
    @blp.paginate(page_size=50, max_page_size=500)
    def get(self, args, pagination_parameters):
        """Forms of the caller's (lead) department awaiting review: nearest entry deadline, i.e. oldest, first

        `submission_round` > 1 marks a form resubmitted after a return; `open_comments` counts comments of
        the last round the inspector was asked to address.
        """
        rows, total = service.queue(
            session=get_session(),
            actor=current_user(),
            status=args["status"],
            department_id=args.get("department_id"),
            page=pagination_parameters.page,
            page_size=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = total
        return rows


@blp.route("/forms/<uuid:form_id>")
class Detail(MethodView):
    @auth_required(*READERS)
    @blp.response(200, ReviewDetailSchema)
    def get(self, form_id):
        """Everything to judge one form: answers, check-ins, signatures, evidence with provenance,
        the proposed result, review comments, the result, warnings, allowed actions, audit timeline
        """
        return service.detail(session=get_session(), actor=current_user(), form_id=form_id)


@blp.route("/forms/<uuid:form_id>/approve")
class Approve(MethodView):
    @auth_required(*result_scope.REVIEW_ROLES)
    @blp.arguments(ReviewApproveSchema)
    @blp.response(201, ResultSchema)
    def post(self, body, form_id):
        """Approve a submitted form and enter its result (lead department's supervisor); returns the result

        The 20-working-day entry and publication deadline runs from the form's first submission.
        """
        result = service.approve(session=get_session(), actor=current_user(), form_id=form_id, values=body)
        return result_view(result)


@blp.route("/forms/<uuid:form_id>/return")
class Return(MethodView):
    @auth_required(*result_scope.REVIEW_ROLES)
    @blp.arguments(ReviewSendBackSchema)
    @blp.response(200, ReviewSendBackResultSchema)
    def post(self, body, form_id):
        """Return for revision with comments per checkpoint; they reach the phone on the next pull"""
        form = service.send_back(
            session=get_session(),
            actor=current_user(),
            form_id=form_id,
            kind="revise",
            comments=body["comments"],
            version=body.get("version"),
        )
        return {"id": form.id, "status": form.status, "version": form.version}


@blp.route("/forms/<uuid:form_id>/request-evidence")
class RequestEvidence(MethodView):
    @auth_required(*result_scope.REVIEW_ROLES)
    @blp.arguments(ReviewSendBackSchema)
    @blp.response(200, ReviewSendBackResultSchema)
    def post(self, body, form_id):
        """Return asking for more evidence (photos, documents) at the named checkpoints"""
        form = service.send_back(
            session=get_session(),
            actor=current_user(),
            form_id=form_id,
            kind="more_evidence",
            comments=body["comments"],
            version=body.get("version"),
        )
        return {"id": form.id, "status": form.status, "version": form.version}


@blp.route("/forms/<uuid:form_id>/comments")
class Comments(MethodView):
    @auth_required(*result_scope.REVIEW_ROLES)
    @blp.arguments(ReviewNoteInputSchema)
    @blp.response(201, ReviewCommentSchema)
    def post(self, body, form_id):
        """Add a review note without changing the form's state"""
        session = get_session()
        row = service.add_note(
            session=session,
            actor=current_user(),
            form_id=form_id,
            comment=body["comment"],
            checkpoint_key=body.get("checkpoint_key"),
        )
        actor = current_user()
        return {
            "id": row.id,
            "checkpoint_key": row.checkpoint_key,
            "kind": row.kind,
            "comment": row.comment,
            "author": {"id": actor.id, "name": actor.display_name},
            "created_at": row.created_at,
            "resolved_at": row.resolved_at,
        }


@blp.route("/forms/<uuid:form_id>/signatures/<uuid:signature_id>/image")
class SignatureImage(MethodView):
    @auth_required(*READERS)
    @blp.doc(**PNG_DOC)
    def get(self, form_id, signature_id):
        """A signature image (PNG) of the form"""
        sig = service.signature_object(
            session=get_session(), actor=current_user(), form_id=form_id, signature_id=signature_id
        )
        store = current_app.extensions["shuangsui.store"]
        reader = store.get(sig.object_key)
        resp = Response(reader, mimetype="image/png", direct_passthrough=True)
        resp.headers["Content-Length"] = str(reader.size)
        resp.headers["Content-Disposition"] = "inline"
        return resp
