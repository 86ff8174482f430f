"""Inspectors: department-scoped CRUD and 执法证 validity on a date."""

from __future__ import annotations

from datetime import date

from flask.views import MethodView
from flask_smorest import Blueprint

from ...db import get_session
from ...services import access
from ...services import inspectors as service
from ..security import auth_required, current_user
from .schemas import CertificateQuery, CertificateSchema, InspectorQuery, InspectorSchema, InspectorUpdateSchema

blp = Blueprint("inspectors", __name__, url_prefix="/api/v1/inspectors", description="执法检查人员名录库")

READERS = access.roles_for("inspector", access.READ)
WRITERS = access.roles_for("inspector", access.WRITE)


@blp.route("")
class Inspectors(MethodView):
    @auth_required(*READERS)
    @blp.arguments(InspectorQuery, location="query")
    @blp.response(200, InspectorSchema(many=True))
    @blp.paginate(page_size=20, max_page_size=200)
    def get(self, args, pagination_parameters):
        """List inspectors within the caller's reach (own department; an inspector sees only themselves)"""
        filters = service.InspectorFilter(
            department_id=args.get("department_id"),
            specialty=args.get("specialty"),
            region_code=args.get("region_code"),
            valid_on=args.get("valid_on"),
            q=args.get("q"),
            active=args.get("active"),
        )
        page = service.list_inspectors(
            session=get_session(),
            actor=current_user(),
            filters=filters,
            sort=args.get("sort"),
            page=pagination_parameters.page,
            page_size=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = page.total
        return page.items

    @auth_required(*WRITERS)
    @blp.arguments(InspectorSchema)
    @blp.response(201, InspectorSchema)
    def post(self, body):
        """Add an inspector"""
        return service.create_inspector(session=get_session(), actor=current_user(), values=body)


@blp.route("/<uuid:inspector_id>")
class InspectorById(MethodView):
    @auth_required(*READERS)
    @blp.response(200, InspectorSchema)
    def get(self, inspector_id):
        """Get an inspector"""
        return service.get_inspector(session=get_session(), actor=current_user(), inspector_id=inspector_id)

    @auth_required(*WRITERS)
    @blp.arguments(InspectorUpdateSchema(partial=True))
    @blp.response(200, InspectorSchema)
    def patch(self, body, inspector_id):
        """Update an inspector"""
        return service.update_inspector(
            session=get_session(), actor=current_user(), inspector_id=inspector_id, values=body
        )

    @auth_required(*WRITERS)
    @blp.response(204)
    def delete(self, inspector_id):
        """Deactivate an inspector (kept for history; PATCH active=true restores)"""
        service.deactivate_inspector(session=get_session(), actor=current_user(), inspector_id=inspector_id)


@blp.route("/<uuid:inspector_id>/certificate")
class InspectorCertificate(MethodView):
    @auth_required(*READERS)
    @blp.arguments(CertificateQuery, location="query")
    @blp.response(200, CertificateSchema)
    def get(self, args, inspector_id):
        """Whether the inspector's 执法证 is valid on a date (?on=YYYY-MM-DD, default today)"""
        return service.certificate_validity(
            session=get_session(), actor=current_user(), inspector_id=inspector_id, on=args.get("on") or date.today()
        )
