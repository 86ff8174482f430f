"""回避 records: who must not inspect which enterprise; scoped by the inspector's department."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from ...db import get_session
from ...services import access
from ...services import inspectors as service
from ..security import auth_required, current_user
from .schemas import ConflictQuery, ConflictSchema, ConflictUpdateSchema

blp = Blueprint("conflicts", __name__, url_prefix="/api/v1/conflicts", description="回避记录")

READERS = access.roles_for("conflict", access.READ)
WRITERS = access.roles_for("conflict", access.WRITE)


@blp.route("")
class Conflicts(MethodView):
    @auth_required(*READERS)
    @blp.arguments(ConflictQuery, location="query")
    @blp.response(200, ConflictSchema(many=True))
    @blp.paginate(page_size=50, max_page_size=500)
    def get(self, args, pagination_parameters):
        """List 回避 records within the caller's reach"""
        page = service.list_conflicts(
            session=get_session(),
            actor=current_user(),
            inspector_id=args.get("inspector_id"),
            enterprise_id=args.get("enterprise_id"),
            page=pagination_parameters.page,
            page_size=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = page.total
        return page.items

    @auth_required(*WRITERS)
    @blp.arguments(ConflictSchema)
    @blp.response(201, ConflictSchema)
    def post(self, body):
        """Record that an inspector must avoid an enterprise"""
        return service.create_conflict(session=get_session(), actor=current_user(), values=body)


@blp.route("/<uuid:conflict_id>")
class ConflictById(MethodView):
    @auth_required(*READERS)
    @blp.response(200, ConflictSchema)
    def get(self, conflict_id):
        """Get a 回避 record"""
        return service.get_conflict(session=get_session(), actor=current_user(), conflict_id=conflict_id)

    @auth_required(*WRITERS)
    @blp.arguments(ConflictUpdateSchema)
    @blp.response(200, ConflictSchema)
    def patch(self, body, conflict_id):
        """Update the reason or note of a 回避 record"""
        return service.update_conflict(
            session=get_session(), actor=current_user(), conflict_id=conflict_id, values=body
        )

    @auth_required(*WRITERS)
    @blp.response(204)
    def delete(self, conflict_id):
        """Delete a 回避 record"""
        service.delete_conflict(session=get_session(), actor=current_user(), conflict_id=conflict_id)
