"""Departments: everyone signed in reads them; the system administrator maintains them."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from ...db import get_session
from ...services import access
from ...services import departments as service
from ..security import auth_required, current_user
from .schemas import DepartmentQuery, DepartmentSchema, DepartmentUpdateSchema

blp = Blueprint("departments", __name__, url_prefix="/api/v1/departments", description="部门")


@blp.route("")
class Departments(MethodView):
    @auth_required(*access.roles_for("department", access.READ))
    @blp.arguments(DepartmentQuery, location="query")
    @blp.response(200, DepartmentSchema(many=True))
    def get(self, args):
        """List departments"""
        return service.list_departments(session=get_session(), actor=current_user(), active=args.get("active"))

    @auth_required(*access.roles_for("department", access.WRITE))
    @blp.arguments(DepartmentSchema)
    @blp.response(201, DepartmentSchema)
    def post(self, body):
        """Create a department"""
        return service.create_department(session=get_session(), actor=current_user(), values=body)


@blp.route("/<uuid:department_id>")
class DepartmentById(MethodView):
    @auth_required(*access.roles_for("department", access.READ))
    @blp.response(200, DepartmentSchema)
    def get(self, department_id):
        """Get a department"""
        return service.get_department(session=get_session(), actor=current_user(), department_id=department_id)

    @auth_required(*access.roles_for("department", access.WRITE))
    @blp.arguments(DepartmentUpdateSchema(partial=True))
    @blp.response(200, DepartmentSchema)
    def patch(self, body, department_id):
        """Update a department"""
        return service.update_department(
            session=get_session(), actor=current_user(), department_id=department_id, values=body
        )
