"""Passwords, access tokens and rotating refresh-token families with reuse detection."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlmodel import Session

from ..config import Settings
from ..errors import Unauthorized
from ..models.accounts import RefreshToken, User
from ..models.base import utcnow
from . import audit

ALGORITHMS = ["HS256"]  # explicit allowlist: "none" and asymmetric confusion are refused
_hasher = PasswordHasher()  # argon2id, memory-hard
# A fixed dummy hash so a login for an unknown user costs as much as one for a known user.
_DUMMY_HASH = _hasher.hash("timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    user: User


def _encode(settings: Settings, claims: dict[str, Any], ttl: int, typ: str) -> str:
    now = utcnow()
    payload = {
        **claims,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(seconds=ttl),
        "typ": typ,
    }
    return jwt.encode(payload, settings.jwt_secret, algorithm="HS256", headers={"typ": "JWT"})


def decode_token(settings: Settings, token: str, *, typ: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=ALGORITHMS,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "sub", "typ", "aud", "iss", "jti"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("登录已过期，请重新登录", code_name="token_expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("令牌无效", code_name="token_invalid") from exc
    if claims.get("typ") != typ:
        raise Unauthorized("令牌类型不符", code_name="token_wrong_type")
    return claims


def _issue(*, session: Session, settings: Settings, user: User, family_id: str) -> TokenPair:
    access = _encode(
        settings,
        {"sub": str(user.id), "jti": secrets.token_hex(16), "roles": user.roles},
        settings.access_token_seconds,
        "access",
    )
    jti = secrets.token_hex(16)
    refresh = _encode(
        settings, {"sub": str(user.id), "jti": jti, "fam": family_id}, settings.refresh_token_seconds, "refresh"
    )
    session.add(
        RefreshToken(
            jti=jti,
            family_id=family_id,
            user_id=user.id,
            expires_at=utcnow() + timedelta(seconds=settings.refresh_token_seconds),
        )
    )
    return TokenPair(access, refresh, settings.access_token_seconds, user)


def login(*, session: Session, settings: Settings, username: str, password: str) -> TokenPair:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None or not user.active:
        check_password(_DUMMY_HASH, password)
        raise Unauthorized("用户名或密码错误")
    if not check_password(user.password_hash, password):
        audit.record(session=session, actor=user, action="auth.login_failed", entity="user", entity_id=user.id)
        session.commit()
        raise Unauthorized("用户名或密码错误")
    user.last_login_at = utcnow()
    pair = _issue(session=session, settings=settings, user=user, family_id=secrets.token_hex(16))
    audit.record(session=session, actor=user, action="auth.login", entity="user", entity_id=user.id)
    session.commit()
    return pair


def refresh(*, session: Session, settings: Settings, token: str) -> TokenPair:
    claims = decode_token(settings, token, typ="refresh")
    row = session.get(RefreshToken, claims["jti"])
    if row is None or row.revoked_at is not None:
        raise Unauthorized("刷新令牌已失效，请重新登录")
    user = session.get(User, uuid.UUID(claims["sub"]))
    if row.used_at is not None:
        # A used token presented again means it was stolen or replayed: revoke the whole family.
        session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == row.family_id, RefreshToken.revoked_at.is_(None))  # type: ignore[union-attr]
            .values(revoked_at=utcnow())
        )
        audit.record(
            session=session,
            actor=user,
            action="auth.refresh_reuse",
            entity="refresh_family",
            entity_id=row.family_id,
        )
        session.commit()
        raise Unauthorized("检测到刷新令牌被重复使用，已注销该登录的所有令牌", code_name="refresh_reused")
    if user is None or not user.active:
        raise Unauthorized("账号已停用")
    row.used_at = utcnow()
    pair = _issue(session=session, settings=settings, user=user, family_id=row.family_id)
    session.commit()
    return pair


def logout(*, session: Session, settings: Settings, token: str) -> None:
    claims = decode_token(settings, token, typ="refresh")
    row = session.get(RefreshToken, claims["jti"])
    if row is None:
        return
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == row.family_id, RefreshToken.revoked_at.is_(None))  # type: ignore[union-attr]
        .values(revoked_at=utcnow())
    )
    user = session.get(User, row.user_id)
    audit.record(session=session, actor=user, action="auth.logout", entity="user", entity_id=row.user_id)
    session.commit()


def user_from_access_token(*, session: Session, settings: Settings, token: str) -> User:
    claims = decode_token(settings, token, typ="access")
    try:
        user = session.get(User, uuid.UUID(claims["sub"]))
    except ValueError as exc:
        raise Unauthorized("令牌无效") from exc
    if user is None or not user.active:
        raise Unauthorized("账号不存在或已停用")
    return user
