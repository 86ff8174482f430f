"""Statistics per department, plan or item; reports: 一企一表 record PDF, XLSX of results/statistics."""

from __future__ import annotations

from urllib.parse import quote

from flask import Response, current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from ...db import get_session
from ...services import reports as reports_service
from ...services import result_scope
from ...services import statistics as service
from ..results.resources import _filters
from ..security import auth_required, current_user
from .schemas import ResultExportQuerySchema, StatsExportQuerySchema, StatsQuerySchema, StatsSchema

blp = Blueprint("statistics", __name__, url_prefix="/api/v1", description="统计与报表")

READERS = result_scope.STATISTICS_ROLES
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _file_doc(mime: str, what: str) -> dict:
    return {
        "responses": {
            "200": {
                "description": what,
                "content": {mime: {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    }


def _download(data: bytes, mime: str, filename: str, *, inline: bool = False) -> Response:
    resp = Response(data, mimetype=mime)
    resp.headers["Content-Disposition"] = (
        f"{'inline' if inline else 'attachment'}; filename*=UTF-8''{quote(filename)}"
    )
    return resp


@blp.route("/statistics")
class Statistics(MethodView):
    @auth_required(*READERS)
    @blp.arguments(StatsQuerySchema, location="query")
    @blp.response(200, StatsSchema)
    def get(self, args):
        """Drawn, started on time, completed, overdue, problem rate, entry rate, publication rate per group"""
        return service.statistics(
            session=get_session(),
            actor=current_user(),
            group_by=args["group_by"],
            department_id=args.get("department_id"),
            plan_id=args.get("plan_id"),
            year=args.get("year"),
        )


@blp.route("/reports/statistics.xlsx")
class StatisticsXlsx(MethodView):
    @auth_required(*READERS)
    @blp.arguments(StatsExportQuerySchema, location="query")
    @blp.doc(**_file_doc(XLSX, "统计表（按部门、计划、事项各一页，另附结果类别分布）"))
    def get(self, args):
        """Statistics as XLSX: one sheet per grouping plus the category distribution"""
        data = reports_service.statistics_xlsx(
            session=get_session(),
            actor=current_user(),
            department_id=args.get("department_id"),
            plan_id=args.get("plan_id"),
            year=args.get("year"),
        )
        return _download(data, XLSX, "抽查统计.xlsx")


@blp.route("/reports/results.xlsx")
class ResultsXlsx(MethodView):
    @auth_required(*READERS)
    @blp.arguments(ResultExportQuerySchema, location="query")
    @blp.doc(**_file_doc(XLSX, "检查结果清单"))
    def get(self, args):
        """Results in the caller's scope as XLSX (same filters as GET /results)"""
        data = reports_service.results_xlsx(
            session=get_session(), actor=current_user(), filters=_filters(args)
        )
        return _download(data, XLSX, "检查结果.xlsx")


@blp.route("/reports/forms/<uuid:form_id>/record.pdf")
class FormRecordPdf(MethodView):
    @auth_required(*READERS)
    @blp.doc(**_file_doc("application/pdf", "一企一表检查记录"))
    def get(self, form_id):
        """The 一企一表 record: enterprise, answers, photo thumbnails, signatures, QR to the public result"""
        settings = current_app.config["SETTINGS"]
        data, filename = reports_service.form_record_pdf(
            session=get_session(),
            actor=current_user(),
            store=current_app.extensions["shuangsui.store"],
            form_id=form_id,
            public_base_url=settings.public_base_url,
        )
        return _download(data, "application/pdf", filename, inline=True)
