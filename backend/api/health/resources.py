"""Liveness and dependency status."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy import text

from ...db import get_session

blp = Blueprint("health", __name__, url_prefix="/api/health", description="健康检查")


class HealthSchema(Schema):
    status = fields.String(metadata={"description": "ok | degraded"})
    database = fields.Dict()
    store = fields.Dict()
    version = fields.String()


@blp.route("")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=HealthSchema)
    def get(self):
        """Report database and object-store status"""
        db: dict = {"ok": True}
        try:
            session = get_session()
            session.execute(text("SELECT 1"))
            db["dialect"] = session.get_bind().dialect.name
        except Exception as exc:  # noqa: BLE001 - health reports any failure
            db = {"ok": False, "error": str(exc)[:200]}
        try:
            store = current_app.extensions["shuangsui.store"].health()
        except Exception as exc:  # noqa: BLE001
            store = {"ok": False, "error": str(exc)[:200]}
        ok = db["ok"] and store.get("ok", False)
        body = {"status": "ok" if ok else "degraded", "database": db, "store": store, "version": "0.1.0"}
        return body, (200 if ok else 503)
