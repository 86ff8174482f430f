"""Local working-day overrides (地方调休) layered over the statutory calendar."""

from __future__ import annotations

from datetime import date

from flask.views import MethodView
from flask_smorest import Blueprint

from ...db import get_session
from ...errors import Invalid
from ...services import access
from ...services import calendar_overrides as service
from ..security import auth_required, current_user
from .schemas import OverrideQuery, OverrideSchema, OverrideUpdateSchema

blp = Blueprint("calendar", __name__, url_prefix="/api/v1/calendar/overrides", description="工作日调整")

READERS = access.roles_for("calendar", access.READ)
WRITERS = access.roles_for("calendar", access.WRITE)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise Invalid("日期格式应为 YYYY-MM-DD", errors={"day": ["日期格式应为 YYYY-MM-DD"]}) from exc


@blp.route("")
class Overrides(MethodView):
    @auth_required(*READERS)
    @blp.arguments(OverrideQuery, location="query")
    @blp.response(200, OverrideSchema(many=True))
    def get(self, args):
        """List working-day overrides (optionally of one year)"""
        return service.list_overrides(session=get_session(), actor=current_user(), year=args.get("year"))

    @auth_required(*WRITERS)
    @blp.arguments(OverrideSchema)
    @blp.response(201, OverrideSchema)
    def post(self, body):
        """Add an override for a day"""
        return service.create_override(session=get_session(), actor=current_user(), values=body)


@blp.route("/<string:day>")
class OverrideByDay(MethodView):
    @auth_required(*READERS)
    @blp.response(200, OverrideSchema)
    def get(self, day):
        """Get the override of a day"""
        return service.get_override(session=get_session(), actor=current_user(), day=_day(day))

    @auth_required(*WRITERS)
    @blp.arguments(OverrideUpdateSchema)
    @blp.response(200, OverrideSchema)
    def patch(self, body, day):
        """Change an override"""
        return service.update_override(session=get_session(), actor=current_user(), day=_day(day), values=body)

    @auth_required(*WRITERS)
    @blp.response(204)
    def delete(self, day):
        """Remove an override"""
        service.delete_override(session=get_session(), actor=current_user(), day=_day(day))
