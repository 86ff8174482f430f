"""Field sync for inspectors' devices: pull the forms to work on offline, push batched operations."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from ...db import get_session
from ...services import sync as sync_service
from ...services.sync_payloads import PAYLOADS
from ..security import auth_required, current_user
from .schemas import PullArgs, PullResponse, PushRequest, PushResponse

blp = Blueprint(
    "sync", __name__, url_prefix="/api/v1/sync", description="外勤同步（见 docs/sync-protocol.md）"
)


@blp.record_once
def _document_payloads(state) -> None:  # type: ignore[no-untyped-def]
    """Publish each operation's payload schema so the oneOf in PushOperation resolves."""
    api = state.app.extensions.get("shuangsui.api")
    if api is None:
        return
    for schema in PAYLOADS.values():
        if schema.__name__ not in api.spec.components.schemas:
            api.spec.components.schema(schema.__name__, schema=schema)


@blp.route("/pull")
class Pull(MethodView):
    @auth_required("inspector")
    @blp.arguments(PullArgs, location="query")
    @blp.response(200, PullResponse)
    def get(self, args):
        """Forms assigned to the signed-in inspector changed since the cursor (omit it for everything)

        Page with `has_more`; keep the returned cursor only after the page is saved. `removed` lists forms
        the inspector no longer holds (reassigned, approved, closed): delete them from the device.
        """
        return sync_service.pull(
            session=get_session(), actor=current_user(), cursor=args["cursor"], limit=args["limit"]
        )


@blp.route("/push")
class Push(MethodView):
    @auth_required("inspector")
    @blp.arguments(PushRequest)
    @blp.response(200, PushResponse)
    def post(self, body):
        """Apply a batch of operations; the answer has one result per operation, in order

        Idempotent per `op_id`: a replay returns the first result with status `duplicate`; the same op_id
        with a different payload is `rejected` (422). A write to a field someone else changed after
        `base_version` is a `conflict` (409) carrying `server_copy`. The inspector is taken from the token.
        """
        results = sync_service.push(
            session=get_session(),
            actor=current_user(),
            settings=current_app.config["SETTINGS"],
            store=current_app.extensions["shuangsui.store"],
            device_id=body["device_id"],
            operations=body["operations"],
        )
        return {"results": results}
