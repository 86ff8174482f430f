"""Bulk import (CSV/XLSX with a row-level report, dry-run, valid-rows-only) and export of the directories."""

from __future__ import annotations

import functools
import io
from datetime import date

from flask import Response, request, send_file
from flask.views import MethodView
from flask_smorest import Blueprint

from ...db import get_engine, get_session, session_scope
from ...errors import TooLarge
from ...models.accounts import User
from ...services import access, exports, imports
from ..security import auth_required, current_user
from .schemas import ImportFileSchema, ImportQuery, ImportReportSchema

blp = Blueprint("bulk", __name__, url_prefix="/api/v1", description="批量导入导出")

MAX_UPLOAD_MB = 10
KIND_PATTERN = "any(" + ", ".join(imports.KINDS) + ")"
IMPORTERS = tuple(
    dict.fromkeys(r for k in imports.KINDS for r in access.roles_for(imports.POLICY_KIND[k], access.WRITE))
)
EXPORTERS = tuple(
    dict.fromkeys(r for k in imports.KINDS for r in access.roles_for(imports.POLICY_KIND[k], access.READ))
)
MEDIA = {"csv": "text/csv; charset=utf-8", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def limit_upload(view):  # type: ignore[no-untyped-def]
    """Refuse oversized uploads before the multipart body is parsed (and spooled to disk)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        limit = MAX_UPLOAD_MB * 1024 * 1024
        if (request.content_length or 0) > limit + 64 * 1024:  # room for the multipart envelope
            raise TooLarge(f"文件超过 {MAX_UPLOAD_MB} MB，请使用命令行 shuangsui import 导入")
        request.max_content_length = limit + 64 * 1024  # also bounds bodies sent without a length
        return view(*args, **kwargs)

    return wrapper


@blp.route(f"/imports/<{KIND_PATTERN}:kind>")
class Import(MethodView):
    @auth_required(*IMPORTERS)
    @limit_upload
    @blp.arguments(ImportQuery, location="query")
    @blp.arguments(ImportFileSchema, location="files")
    @blp.response(200, ImportReportSchema)
    def post(self, args, files, kind):
        """Import enterprises, inspectors or items from a CSV/XLSX file (multipart field `file`, ≤ 10 MB)"""
        upload = files["file"]
        with upload.stream:
            data = upload.stream.read(MAX_UPLOAD_MB * 1024 * 1024 + 1)
        if len(data) > MAX_UPLOAD_MB * 1024 * 1024:
            raise TooLarge(f"文件超过 {MAX_UPLOAD_MB} MB，请使用命令行 shuangsui import 导入")
        report = imports.import_file(
            session=get_session(),
            actor=current_user(),
            kind=kind,
            source=io.BytesIO(data),
            filename=upload.filename,
            fmt=args.get("format"),
            dry_run=args["dry_run"],
            valid_only=args["valid_only"],
        )
        return report.as_dict()


@blp.route(f"/exports/<{KIND_PATTERN}:kind>.<any(csv, xlsx):fmt>")
class Export(MethodView):
    @auth_required(*EXPORTERS)
    @blp.response(200, content_type="application/octet-stream")
    def get(self, kind, fmt):
        """Download enterprises, inspectors or items within the caller's reach as CSV or XLSX"""
        session, actor = get_session(), current_user()
        access.scope(actor, imports.POLICY_KIND[kind], access.READ)  # refuse before the first byte
        name = f"{kind}-{date.today():%Y%m%d}.{fmt}"
        if fmt == "csv":
            engine, actor_id = get_engine(), actor.id

            def stream():  # type: ignore[no-untyped-def]
                # Streaming outlives the request's session (closed at teardown): read through our own.
                with session_scope(engine) as own:
                    yield from exports.iter_csv(session=own, actor=own.get(User, actor_id), kind=kind)

            return Response(
                stream(), mimetype=MEDIA["csv"], headers={"Content-Disposition": f'attachment; filename="{name}"'}
            )
        # A workbook cannot be streamed while written; API exports are small (the CLI handles big ones).
        buffer = io.BytesIO()
        exports.write_xlsx(session=session, actor=actor, kind=kind, target=buffer)
        buffer.seek(0)
        return send_file(buffer, mimetype=MEDIA["xlsx"], as_attachment=True, download_name=name)
