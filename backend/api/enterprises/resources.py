"""Enterprises: list with filters, get, create, update, deactivate, registration-status changes."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from ...db import get_session
from ...errors import Invalid
from ...models.directory import ENTERPRISE_STATUSES
from ...services import access
from ...services import enterprises as service
from ...services.querying import split_list
from ..security import auth_required, current_user
from .schemas import EnterpriseQuery, EnterpriseSchema, EnterpriseUpdateSchema, StatusChangeSchema

blp = Blueprint("enterprises", __name__, url_prefix="/api/v1/enterprises", description="检查对象名录库")

READERS = access.roles_for("enterprise", access.READ)
WRITERS = access.roles_for("enterprise", access.WRITE)


def _filters(args: dict) -> service.EnterpriseFilter:
    statuses = split_list(args.get("status"))
    bad = [s for s in statuses if s not in ENTERPRISE_STATUSES]
    if bad:
        raise Invalid("登记状态不正确", errors={"status": [f"可选值：{', '.join(ENTERPRISE_STATUSES)}"]})
    flags = split_list(args.get("flags"))
    if any(f not in service.FLAGS for f in flags):
        raise Invalid("信用标记不正确", errors={"flags": [f"可选值：{', '.join(service.FLAGS)}"]})
    levels = split_list(args.get("risk_level"))
    if any(lv not in ("1", "2", "3", "4") for lv in levels):
        raise Invalid("风险等级应为 1–4", errors={"risk_level": ["风险等级应为 1–4"]})
    return service.EnterpriseFilter(
        region_code=args.get("region_code"),
        industry_code=(args.get("industry_code") or "").upper() or None,
        status=statuses,
        special_library=args.get("special_library"),
        flags=flags,
        flagged=args.get("flagged"),
        risk_level=[int(lv) for lv in levels],
        q=args.get("q"),
        active=args.get("active"),
    )


@blp.route("")
class Enterprises(MethodView):
    @auth_required(*READERS)
    @blp.arguments(EnterpriseQuery, location="query")
    @blp.response(200, EnterpriseSchema(many=True))
    @blp.paginate(page_size=20, max_page_size=200)
    def get(self, args, pagination_parameters):
        """List enterprises (filter, search by name or USCC prefix, sort, paginate)"""
        page = service.list_enterprises(
            session=get_session(),
            actor=current_user(),
            filters=_filters(args),
            sort=args.get("sort"),
            page=pagination_parameters.page,
            page_size=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = page.total
        return page.items

    @auth_required(*WRITERS)
    @blp.arguments(EnterpriseSchema)
    @blp.response(201, EnterpriseSchema)
    def post(self, body):
        """Add an enterprise to the directory"""
        return service.create_enterprise(session=get_session(), actor=current_user(), values=body)


@blp.route("/<uuid:enterprise_id>")
class EnterpriseById(MethodView):
    @auth_required(*READERS)
    @blp.response(200, EnterpriseSchema)
    def get(self, enterprise_id):
        """Get an enterprise"""
        return service.get_enterprise(session=get_session(), actor=current_user(), enterprise_id=enterprise_id)

    @auth_required(*WRITERS)
    @blp.arguments(EnterpriseUpdateSchema(partial=True))
    @blp.response(200, EnterpriseSchema)
    def patch(self, body, enterprise_id):
        """Update an enterprise (the registration status changes through …/status)"""
        return service.update_enterprise(
            session=get_session(), actor=current_user(), enterprise_id=enterprise_id, values=body
        )

    @auth_required(*WRITERS)
    @blp.response(204)
    def delete(self, enterprise_id):
        """Deactivate an enterprise (kept with its history; PATCH active=true restores it)"""
        service.deactivate_enterprise(session=get_session(), actor=current_user(), enterprise_id=enterprise_id)


@blp.route("/<uuid:enterprise_id>/status")
class EnterpriseStatus(MethodView):
    @auth_required(*WRITERS)
    @blp.arguments(StatusChangeSchema)
    @blp.response(201, StatusChangeSchema)
    def post(self, body, enterprise_id):
        """Change the registration status (存续/在业/注销/吊销/迁出) with a reason"""
        return service.change_status(
            session=get_session(),
            actor=current_user(),
            enterprise_id=enterprise_id,
            status=body["status"],
            reason=body["reason"],
        )


@blp.route("/<uuid:enterprise_id>/status-history")
class EnterpriseStatusHistory(MethodView):
    @auth_required(*READERS)
    @blp.response(200, StatusChangeSchema(many=True))
    def get(self, enterprise_id):
        """Registration-status history, newest first"""
        return service.status_history(session=get_session(), actor=current_user(), enterprise_id=enterprise_id)
