"""User accounts: create, list, change roles / department / inspector link, reset password, deactivate."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from ...db import get_session
from ...services import access
from ...services import users as service
from ..security import auth_required, current_user
from .schemas import AccountQuery, AccountSchema, AccountUpdateSchema

blp = Blueprint("users", __name__, url_prefix="/api/v1/users", description="用户与角色")

ADMINS = access.roles_for("user", access.WRITE)


@blp.route("")
class Users(MethodView):
    @auth_required(*access.roles_for("user", access.READ))
    @blp.arguments(AccountQuery, location="query")
    @blp.response(200, AccountSchema(many=True))
    @blp.paginate(page_size=50, max_page_size=500)
    def get(self, args, pagination_parameters):
        """List user accounts"""
        page = service.list_users(
            session=get_session(),
            actor=current_user(),
            role=args.get("role"),
            department_id=args.get("department_id"),
            active=args.get("active"),
            q=args.get("q"),
            page=pagination_parameters.page,
            page_size=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = page.total
        return page.items

    @auth_required(*ADMINS)
    @blp.arguments(AccountSchema)
    @blp.response(201, AccountSchema)
    def post(self, body):
        """Create a user account"""
        return service.create_user(session=get_session(), actor=current_user(), values=body)


@blp.route("/<uuid:user_id>")
class UserById(MethodView):
    @auth_required(*access.roles_for("user", access.READ))
    @blp.response(200, AccountSchema)
    def get(self, user_id):
        """Get a user account"""
        return service.get_user(session=get_session(), actor=current_user(), user_id=user_id)

    @auth_required(*ADMINS)
    @blp.arguments(AccountUpdateSchema(partial=True))
    @blp.response(200, AccountSchema)
    def patch(self, body, user_id):
        """Change roles, department, inspector link, display name, password or active flag"""
        return service.update_user(session=get_session(), actor=current_user(), user_id=user_id, values=body)

    @auth_required(*ADMINS)
    @blp.response(204)
    def delete(self, user_id):
        """Deactivate a user account and revoke its sign-ins"""
        service.deactivate_user(session=get_session(), actor=current_user(), user_id=user_id)
