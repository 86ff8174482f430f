"""The verifiable draw: notice, witnessed entropy, perform, dispatch, witness signatures; public views."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from ...db import get_session
from ...models.planning import Draw, DrawNotice
from ...services import draws as service
from ..security import auth_required, current_user
from .schemas import (
    DrawDispatchSchema,
    DrawEntropyInputSchema,
    DrawNoticeInputSchema,
    DrawNoticeSchema,
    DrawSchema,
    DrawSignatureSchema,
    DrawSignInputSchema,
    PublicDrawNoticeSchema,
)

blp = Blueprint(
    "draws", __name__, url_prefix="/api/v1", description="摇号（公告、见证、抽取、派发）与公开验证"
)

READERS = ("admin", "planner", "approver", "supervisor", "witness")
DRAW_INLINE_LIMIT = 200_000  # larger populations run as a CLI job (shuangsui draw notice/run)
DISPATCH_INLINE_LIMIT = 5_000


def _settings() -> Any:
    return current_app.config["SETTINGS"]


def today() -> Any:
    """The service date; SHUANGSUI_TODAY pins it for tests and demos (working-day deadlines depend on it)."""
    return current_app.config.get("SHUANGSUI_TODAY")


def _limit(key: str, default: int) -> int:
    return int(current_app.config.get(key, default))


def notice_view(notice: DrawNotice, draw: Draw) -> dict[str, Any]:
    return {**notice.model_dump(), "draw_id": draw.id}


def draw_view(draw: Draw) -> dict[str, Any]:
    session = get_session()
    notice = service.notice_of(session, draw)
    body = draw.model_dump(exclude={"secret_sealed"})
    body["entropy_sources"] = notice.notice["entropy_sources"]
    body["missing_sources"] = service.missing_sources(session, draw)
    body["commitment"] = notice.commitment
    body["signatures"] = service.signatures_of(session, draw)
    body["links"] = {
        "population": f"/api/v1/public/draws/{draw.id}/population.csv",
        "record": f"/api/v1/public/draws/{draw.id}/record.json" if draw.record_digest else None,
        "verifier": "/api/v1/public/verify_draw.py",
    }
    return body


@blp.route("/tasks/<uuid:task_id>/notice")
class TaskNotice(MethodView):
    @auth_required(*READERS)
    @blp.response(200, DrawNoticeSchema)
    def get(self, task_id):
        """The published notice of a task"""
        session = get_session()
        draw, _task, _plan = service.get_task_draw(session=session, actor=current_user(), task_id=task_id)
        return notice_view(service.notice_of(session, draw), draw)

    @auth_required("planner")
    @blp.arguments(DrawNoticeInputSchema)
    @blp.response(201, DrawNoticeSchema)
    def post(self, body, task_id):
        """Publish the notice: population digest, parameters, algorithm, commitment (immutable afterwards)"""
        notice, draw = service.publish_notice(
            session=get_session(),
            actor=current_user(),
            settings=_settings(),
            task_id=task_id,
            entropy_sources=body.get("entropy_sources"),
            today=today(),
            max_population=_limit("DRAW_INLINE_LIMIT", DRAW_INLINE_LIMIT),
        )
        return notice_view(notice, draw)


@blp.route("/tasks/<uuid:task_id>/draw")
class TaskDraw(MethodView):
    @auth_required(*READERS)
    @blp.response(200, DrawSchema)
    def get(self, task_id):
        """The draw of a task: entropy entered so far, then seed, record digest and signatures"""
        draw, _task, _plan = service.get_task_draw(
            session=get_session(), actor=current_user(), task_id=task_id
        )
        return draw_view(draw)


@blp.route("/tasks/<uuid:task_id>/draw/entropy")
class TaskDrawEntropy(MethodView):
    @auth_required("witness", "planner")
    @blp.arguments(DrawEntropyInputSchema)
    @blp.response(200, DrawSchema)
    def post(self, body, task_id):
        """Enter one declared entropy source after the notice (witness numbers or the beacon value), once"""
        draw = service.enter_entropy(
            session=get_session(),
            actor=current_user(),
            task_id=task_id,
            source=body["source"],
            numbers=body.get("numbers"),
            value=body.get("value") or None,
        )
        return draw_view(draw)


@blp.route("/tasks/<uuid:task_id>/draw/perform")
class TaskDrawPerform(MethodView):
    @auth_required("planner")
    @blp.response(200, DrawSchema)
    def post(self, task_id):
        """Draw targets and match teams from the seed; the secret is revealed in the public record"""
        draw = service.perform_draw(
            session=get_session(),
            actor=current_user(),
            settings=_settings(),
            task_id=task_id,
            max_population=_limit("DRAW_INLINE_LIMIT", DRAW_INLINE_LIMIT),
        )
        return draw_view(draw)


@blp.route("/tasks/<uuid:task_id>/draw/dispatch")
class TaskDrawDispatch(MethodView):
    @auth_required("planner")
    @blp.response(200, DrawDispatchSchema)
    def post(self, task_id):
        """Create the 一企一表 forms and teams in one transaction, seen only by the matched inspectors"""
        result = service.dispatch(
            session=get_session(),
            actor=current_user(),
            task_id=task_id,
            today=today(),
            max_forms=_limit("DISPATCH_INLINE_LIMIT", DISPATCH_INLINE_LIMIT),
        )
        return {
            "task_id": result.task.id,
            "status": result.task.status,
            "forms": result.forms,
            "assignments": result.assignments,
            "deadline_start": result.deadline_start,
            "deadline_complete": result.deadline_complete,
            "warnings": result.warnings,
        }


@blp.route("/draws/<uuid:draw_id>")
class DrawById(MethodView):
    @auth_required(*READERS)
    @blp.response(200, DrawSchema)
    def get(self, draw_id):
        """A draw by id"""
        draw, _task, _plan = service.get_draw(session=get_session(), actor=current_user(), draw_id=draw_id)
        return draw_view(draw)


@blp.route("/draws/<uuid:draw_id>/signatures")
class DrawSignatures(MethodView):
    @auth_required(*READERS)
    @blp.response(200, DrawSignatureSchema(many=True))
    def get(self, draw_id):
        """Witness signatures of a draw"""
        session = get_session()
        draw, _task, _plan = service.get_draw(session=session, actor=current_user(), draw_id=draw_id)
        return service.signatures_of(session, draw)

    @auth_required("witness")
    @blp.arguments(DrawSignInputSchema)
    @blp.response(201, DrawSignatureSchema)
    def post(self, body, draw_id):
        """Sign as a witness (监督员) that the draw watched produced this record"""
        return service.sign_draw(
            session=get_session(),
            actor=current_user(),
            settings=_settings(),
            draw_id=draw_id,
            statement=body.get("statement", ""),
        )


# ------------------------------------------------------------------------------------- public, no sign-in


@blp.route("/public/notices")
class PublicNotices(MethodView):
    @blp.response(200, PublicDrawNoticeSchema(many=True))
    @blp.paginate(page_size=20, max_page_size=200)
    def get(self, pagination_parameters):
        """Task notices (摇号公告), newest first, with links to the population, record and verifier"""
        rows, total = service.public_notices(
            session=get_session(), page=pagination_parameters.page, page_size=pagination_parameters.page_size
        )
        pagination_parameters.item_count = total
        return rows


@blp.route("/public/notices/<uuid:notice_id>")
class PublicNoticeById(MethodView):
    @blp.response(200, PublicDrawNoticeSchema)
    def get(self, notice_id):
        """One notice with its full published content"""
        notice, draw, task = service.public_notice(session=get_session(), notice_id=notice_id)
        return {**service.public_notice_summary(notice, draw, task), "notice": notice.notice}


def _download(data: bytes, mimetype: str, filename: str) -> Response:
    resp = Response(data, mimetype=mimetype)
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp


@blp.route("/public/draws/<uuid:draw_id>/record.json")
class PublicRecord(MethodView):
    @blp.response(200, description="摇号记录（规范 JSON，逐字节可验证）", content_type="application/json")
    def get(self, draw_id):
        """The draw record, byte for byte as the verifier expects it (available after the draw)"""
        session = get_session()
        draw = service.public_draw(session=session, draw_id=draw_id)
        return _download(service.record_bytes(session=session, draw=draw), "application/json", "record.json")


@blp.route("/public/draws/<uuid:draw_id>/population.csv")
class PublicPopulation(MethodView):
    @blp.response(200, description="检查对象名录（uscc,stratum,weight）", content_type="text/csv")
    def get(self, draw_id):
        """The canonical population the notice digests (available from the notice on)"""
        session = get_session()
        draw = service.public_draw(session=session, draw_id=draw_id)
        return _download(service.population_csv(session=session, draw=draw), "text/csv", "population.csv")


@blp.route("/public/verify_draw.py")
class PublicVerifier(MethodView):
    @blp.response(200, description="独立验证程序（仅需 Python 3.11 标准库）", content_type="text/x-python")
    def get(self):
        """Download the standalone verifier: python verify_draw.py record.json population.csv"""
        return _download(service.verifier_bytes(), "text/x-python", "verify_draw.py")
