"""Evidence metadata, chain of custody and bytes (original for authorised roles, thumbnail, display)."""

from __future__ import annotations

import uuid
from urllib.parse import quote

from flask import Response, current_app, redirect
from flask.views import MethodView
from flask_smorest import Blueprint

from ...db import get_session
from ...services import evidence as evidence_service
from ..security import auth_required, current_user
from .schemas import EvidenceArgs, EvidenceDetail, EvidenceSummary

blp = Blueprint("evidence", __name__, url_prefix="/api/v1", description="证据与监管链")

BYTES_DOC = {
    "responses": {
        "200": {
            "description": "文件内容（本地存储时由 API 转发）",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        },
        "302": {"description": "重定向到有效期 5 分钟的对象存储预签名地址"},
        "403": {"description": "原件仅限本表检查人员、本部门审核人和系统管理员"},
        "404": {"description": "证据不存在、不可见、尚未上传完成，或没有预览图"},
    }
}


def _store():  # type: ignore[no-untyped-def]
    return current_app.extensions["shuangsui.store"]


@blp.route("/evidence/<uuid:evidence_id>")
class EvidenceItem(MethodView):
    @auth_required()
    @blp.arguments(EvidenceArgs, location="query")
    @blp.response(200, EvidenceDetail)
    def get(self, args, evidence_id: uuid.UUID):
        """Evidence metadata and provenance: who, which device, when (device and server), where, hash check

        `verify=true` re-reads the original from the store and hashes it again.
        """
        session = get_session()
        evidence, form = evidence_service.get_evidence(
            session=session, actor=current_user(), evidence_id=evidence_id
        )
        recheck = None
        if args["verify"]:
            recheck = evidence_service.recheck_hash(
                session=session, actor=current_user(), store=_store(), evidence=evidence
            )
        return evidence_service.provenance(session=session, evidence=evidence, form=form, recheck=recheck)


def _serve(evidence_id: uuid.UUID, variant: str) -> Response:
    session = get_session()
    actor = current_user()
    evidence, form = evidence_service.get_evidence(session=session, actor=actor, evidence_id=evidence_id)
    ref = evidence_service.open_variant(
        session=session, actor=actor, store=_store(), evidence=evidence, form=form, variant=variant
    )
    if ref.url:
        return redirect(ref.url, code=302)  # type: ignore[return-value]
    disposition = "attachment" if variant == "content" else "inline"
    resp = Response(ref.reader, mimetype=ref.mime, direct_passthrough=True)
    resp.headers["Content-Length"] = str(ref.size)
    resp.headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(ref.filename)}"
    return resp


@blp.route("/evidence/<uuid:evidence_id>/content")
class EvidenceContent(MethodView):
    @auth_required()
    @blp.doc(**BYTES_DOC)
    def get(self, evidence_id: uuid.UUID):
        """The original file, byte for byte as captured (access is audited)"""
        return _serve(evidence_id, "content")


@blp.route("/evidence/<uuid:evidence_id>/thumbnail")
class EvidenceThumbnail(MethodView):
    @auth_required()
    @blp.doc(**BYTES_DOC)
    def get(self, evidence_id: uuid.UUID):
        """A 320 px JPEG thumbnail of a photo, or of a video's poster frame (no EXIF, no GPS)

        404 when the evidence has none (not yet received; a document; a video on a server without ffmpeg):
        `has_thumbnail` in the evidence metadata says which.
        """
        return _serve(evidence_id, "thumbnail")


@blp.route("/evidence/<uuid:evidence_id>/display")
class EvidenceDisplay(MethodView):
    @auth_required()
    @blp.doc(**BYTES_DOC)
    def get(self, evidence_id: uuid.UUID):
        """A 1600 px JPEG of a photo, or of a video's poster frame, with the watermark burnt in

        The watermark carries the capture time, GPS, inspector, 执法证 number and enterprise; the original stays
        untouched (`/content`).
        """
        return _serve(evidence_id, "display")


@blp.route("/forms/<uuid:form_id>/evidence")
class FormEvidence(MethodView):
    @auth_required()
    @blp.response(200, EvidenceSummary(many=True))
    def get(self, form_id: uuid.UUID):
        """Every evidence record of a form, declared, received or rejected"""
        return evidence_service.list_for_form(session=get_session(), actor=current_user(), form_id=form_id)
