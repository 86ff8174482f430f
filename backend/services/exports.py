"""Export enterprises, inspectors and check items as CSV (UTF-8 with BOM) or XLSX in the import's columns.

An exported file imported again changes nothing. CSV cells that Excel would run as formulas
(= + - @ …) get a leading apostrophe, which the import takes off again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import IO, Any

from sqlalchemy import select
from sqlmodel import Session

from ..errors import Invalid
from ..models.accounts import User
from ..models.directory import CheckItem, CheckItemVersion, Checkpoint, Department, Enterprise, Inspector
from . import access
from .imports import COLUMNS, FORMULA_TRIGGERS, KINDS, POLICY_KIND, Column, is_text_column
from .tables import FORMATS

BATCH = 5000


def formula_safe(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def _renderers(kind: str, *, for_csv: bool) -> list[Callable[[Any], str]]:
    out = []
    for col in COLUMNS[kind]:
        if for_csv and is_text_column(col):
            out.append(lambda v, r=col.render: formula_safe(r(v)))
        else:
            out.append(col.render)
    return out


def export_rows(*, session: Session, actor: User | None, kind: str) -> Iterator[list[Any]]:
    """The stored values of every row within the caller's reach, in COLUMNS[kind] order."""
    if kind not in KINDS:
        raise Invalid("不支持的导出类型", errors={"kind": [f"可选：{', '.join(KINDS)}"]})
    reach = access.scope(actor, POLICY_KIND[kind], access.READ) if actor is not None else access.Scope(everything=True)
    fields = [c.field for c in COLUMNS[kind]]
    if kind == "enterprises":
        stmt = select(*(getattr(Enterprise, f) for f in fields)).order_by(Enterprise.uscc)
        for row in session.execute(stmt.execution_options(yield_per=BATCH)):
            yield list(row)
    elif kind == "inspectors":
        stmt = (
            select(Inspector, Department.code)
            .join(Department, Department.id == Inspector.department_id)
            .order_by(Inspector.staff_no)
        )
        cond = reach.where(department_col=Inspector.department_id, inspector_col=Inspector.id)
        if cond is not None:
            stmt = stmt.where(cond)
        for insp, dept_code in session.execute(stmt.execution_options(yield_per=BATCH)):
            yield [dept_code if f == "department_code" else getattr(insp, f) for f in fields]
    else:
        yield from _item_rows(session, reach, fields)


def _item_rows(session: Session, reach: access.Scope, fields: list[str]) -> Iterator[list[Any]]:
    stmt = (
        select(CheckItem, Department.code)
        .join(Department, Department.id == CheckItem.department_id)
        .order_by(CheckItem.code)
    )
    cond = reach.where(department_col=CheckItem.department_id)
    if cond is not None:
        stmt = stmt.where(cond)
    for item, dept_code in session.execute(stmt).all():
        latest = session.execute(
            select(CheckItemVersion)
            .where(CheckItemVersion.item_id == item.id)
            .order_by(CheckItemVersion.version.desc())  # type: ignore[attr-defined]
            .limit(1)
        ).scalar_one_or_none()
        if latest is None:
            continue
        checkpoints = list(
            session.execute(
                select(Checkpoint).where(Checkpoint.item_version_id == latest.id).order_by(Checkpoint.position)
            ).scalars()
        )
        item_values = {
            "code": item.code,
            "department_code": dept_code,
            "status": latest.status,
            "active": item.active,
            **{
                f: getattr(latest, f)
                for f in ("name", "basis", "methods", "content", "category", "target_scope", "specialty", "change_note")
            },
        }
        for cp in checkpoints or [None]:
            values = dict(item_values)
            if cp is not None:
                values.update(
                    checkpoint_key=cp.key,
                    question=cp.question,
                    legal_clause=cp.legal_clause,
                    answer_kind=cp.answer_kind,
                    options=cp.options,
                    photo_required=cp.photo_required,
                )
            yield [values.get(f) for f in fields]


def headers(kind: str) -> list[str]:
    return [c.header for c in COLUMNS[kind]]


def _csv_pieces(*, session: Session, actor: User | None, kind: str) -> Iterator[tuple[bytes, int]]:
    """CSV bytes in pieces of about BATCH rows, with the number of data rows in each piece."""
    rows = export_rows(session=session, actor=actor, kind=kind)
    render = _renderers(kind, for_csv=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headers(kind))
    pending = 0
    first = True
    for row in rows:
        writer.writerow([r(v) for r, v in zip(render, row, strict=True)])
        pending += 1
        if pending >= BATCH:
            yield (("\ufeff" if first else "") + buffer.getvalue()).encode("utf-8"), pending
            buffer.seek(0)
            buffer.truncate()
            pending, first = 0, False
    if pending or first:
        yield (("\ufeff" if first else "") + buffer.getvalue()).encode("utf-8"), pending


def iter_csv(*, session: Session, actor: User | None, kind: str) -> Iterator[bytes]:
    """The CSV export as a stream of bytes (UTF-8 with BOM, so Excel shows Chinese correctly)."""
    for piece, _ in _csv_pieces(session=session, actor=actor, kind=kind):
        yield piece


def write_xlsx(*, session: Session, actor: User | None, kind: str, target: IO[bytes]) -> int:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    rows = export_rows(session=session, actor=actor, kind=kind)
    render = _renderers(kind, for_csv=False)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(kind)

    def cell(value: str) -> WriteOnlyCell:
        c = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value or ""))
        c.data_type = "s"  # never a formula, never a number that loses leading zeros or digits
        return c

    sheet.append([cell(h) for h in headers(kind)])
    count = 0
    for row in rows:
        sheet.append([cell(r(v)) for r, v in zip(render, row, strict=True)])
        count += 1
    workbook.save(target)
    return count


def export_file(
    *,
    session: Session,
    actor: User | None,
    kind: str,
    fmt: str,
    target: IO[bytes],
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the export to a binary file object; returns the number of data rows."""
    if fmt not in FORMATS:
        raise Invalid("文件格式只支持 csv 或 xlsx", errors={"format": [f"不支持的格式：{fmt}"]})
    if fmt == "xlsx":
        return write_xlsx(session=session, actor=actor, kind=kind, target=target)
    total = 0
    for piece, rows in _csv_pieces(session=session, actor=actor, kind=kind):
        target.write(piece)
        total += rows
        if progress:
            progress(rows)
    return total


__all__ = ["Column", "export_file", "export_rows", "formula_safe", "headers", "iter_csv", "write_xlsx"]
