"""Bearer-token authentication and role checks for views."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, request

from ..db import get_session
from ..errors import Forbidden, Unauthorized
from ..models.accounts import User
from ..services import auth as auth_service

F = TypeVar("F", bound=Callable[..., Any])

BEARER = [{"bearerAuth": []}]


def current_user() -> User:
    user = g.get("user")
    if user is None:
        raise Unauthorized("需要登录")
    return user


def optional_user() -> User | None:
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    return _authenticate(header)


def _authenticate(header: str) -> User:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("需要 Bearer 令牌")
    user = auth_service.user_from_access_token(
        session=get_session(), settings=current_app.config["SETTINGS"], token=token.strip()
    )
    g.user = user
    return user


def auth_required(*roles: str) -> Callable[[F], F]:
    """Require a valid access token and, when roles are given, at least one of them."""

    def decorator(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = _authenticate(request.headers.get("Authorization", ""))
            if roles and not user.has_role(*roles):
                raise Forbidden("当前角色无权执行此操作")
            return fn(*args, **kwargs)

        doc = getattr(wrapper, "_apidoc", {})
        doc.setdefault("manual_doc", {})["security"] = BEARER
        wrapper._apidoc = doc  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator
