"""Sign-in, token refresh (rotating, with reuse detection) and sign-out."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from ...db import get_session
from ...extensions import limiter
from ...services import auth as auth_service
from ..security import auth_required, current_user
from .schemas import LoginSchema, RefreshSchema, TokenSchema, UserSchema

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="登录与令牌")


def _pair_body(pair: auth_service.TokenPair) -> dict:
    return {
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
        "user": pair.user,
    }


def _login_limit() -> str:
    return current_app.config["SETTINGS"].login_rate_limit


@blp.route("/login")
class Login(MethodView):
    decorators = [limiter.limit(_login_limit, methods=["POST"])]

    @blp.arguments(LoginSchema)
    @blp.response(200, TokenSchema)
    def post(self, body):
        """Sign in with username and password (rate-limited)"""
        pair = auth_service.login(
            session=get_session(),
            settings=current_app.config["SETTINGS"],
            username=body["username"],
            password=body["password"],
        )
        return _pair_body(pair)


@blp.route("/refresh")
class Refresh(MethodView):
    @blp.arguments(RefreshSchema)
    @blp.response(200, TokenSchema)
    def post(self, body):
        """Exchange a refresh token for a new pair; a replayed token revokes its family"""
        pair = auth_service.refresh(
            session=get_session(), settings=current_app.config["SETTINGS"], token=body["refresh_token"]
        )
        return _pair_body(pair)


@blp.route("/logout")
class Logout(MethodView):
    @blp.arguments(RefreshSchema)
    @blp.response(204)
    def post(self, body):
        """Revoke the refresh-token family of this sign-in"""
        auth_service.logout(
            session=get_session(), settings=current_app.config["SETTINGS"], token=body["refresh_token"]
        )


@blp.route("/me")
class Me(MethodView):
    @auth_required()
    @blp.response(200, UserSchema)
    def get(self):
        """The signed-in user"""
        return current_user()
