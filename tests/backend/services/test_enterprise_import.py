"""The enterprise import's set-based path against the database: duplicates and updated rows across chunks,
COPY text of lists, the stamps PostgreSQL fills in, and what the slimmer index set keeps working."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from backend.models import Enterprise
from backend.models.base import utcnow
from backend.services import imports, tables
from backend.services.enterprises import EnterpriseFilter, list_enterprises
from backend.services.uscc import make_uscc
from tests import factories

HEADER = ["统一社会信用代码", "名称", "行政区划代码", "登记状态", "专项库"]


def uscc(n: int) -> str:
    return make_uscc("510802", 50_000_000 + n)


def csv_bytes(rows: list[list[str]], header: list[str] = HEADER) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode()


def run(session, data: bytes, **kw) -> imports.ImportReport:  # type: ignore[no-untyped-def]
    return imports.import_file(
        session=session, actor=None, kind="enterprises", source=io.BytesIO(data), filename="t.csv", **kw
    )


def row(n: int, **kw: str) -> list[str]:
    values = {"name": f"测试{n}有限公司", "region": "510802", "status": "存续", "libs": "食品"} | kw
    return [uscc(n), values["name"], values["region"], values["status"], values["libs"]]


@pytest.fixture
def small_blocks(monkeypatch):
    # A few rows per chunk, so keys and row numbers have to be carried from one chunk to the next.
    monkeypatch.setattr(tables, "BLOCK_CHARS", 200)


def test_a_duplicate_in_a_later_chunk_names_the_first_row(session, small_blocks):
    rows = [row(i) for i in range(30)] + [row(3)]  # row 32 repeats row 5 (the header is row 1)
    with pytest.raises(imports.Invalid) as exc:
        run(session, csv_bytes(rows))
    report = exc.value.extra["report"]
    assert [(e["row"], e["column"]) for e in report["errors"]] == [(32, "统一社会信用代码")]
    assert "第 5 行" in report["errors"][0]["message"] and report["invalid"] == 1
    assert session.execute(select(Enterprise)).first() is None  # all or nothing


def test_duplicates_after_blank_lines_and_bad_rows_keep_their_row_numbers(session, small_blocks):
    bad = row(40)
    bad[0] = bad[0][:17] + ("0" if bad[0][17] != "0" else "1")  # wrong check character
    lines = [",".join(r) for r in [row(i) for i in range(12)]]  # rows 2..13
    lines += ["", ""]  # rows 14 and 15, blank: that chunk goes through csv.reader, its row numbers have a gap
    lines += [",".join(r) for r in [row(20), row(21), *(row(i) for i in range(22, 30))]]  # rows 16..25
    lines += [",".join(row(20)), ",".join(bad), ",".join(row(7))]  # rows 26 (= 16), 27 (bad), 28 (= 9)
    text = ",".join(HEADER) + "\n" + "\n".join(lines) + "\n"
    report = run(session, text.encode(), valid_only=True)
    errors = {e.row: e.message for e in report.errors}
    assert sorted(errors) == [26, 27, 28] and {e.column for e in report.errors} == {"统一社会信用代码"}
    assert "第 16 行" in errors[26] and "校验" in errors[27] and "第 9 行" in errors[28]
    assert (report.rows, report.created, report.invalid) == (25, 22, 3)


def test_updated_rows_are_reported_with_the_rows_of_the_file(session, small_blocks):
    assert run(session, csv_bytes([row(i) for i in range(20)])).created == 20
    changed = {4: "注销", 13: "吊销", 19: "迁出"}
    rows = [row(i, status=changed.get(i, "存续")) for i in range(20)] + [row(99)]
    report = run(session, csv_bytes(rows))
    assert (report.created, report.updated, report.unchanged) == (1, 3, 17)
    updated = [(c["row"], c["key"]) for c in report.changes if c["action"] == "updated"]
    assert updated == [(i + 2, uscc(i)) for i in sorted(changed)]
    statuses = dict(session.execute(select(Enterprise.uscc, Enterprise.status)).all())
    assert statuses[uscc(4)] == "cancelled" and statuses[uscc(13)] == "revoked" and statuses[uscc(19)] == "moved_out"


def test_lists_with_backslashes_and_chinese_survive_copy_and_reimport_unchanged(session):
    factories.make_enterprise(session, uscc=uscc(0), name="测试0有限公司", special_libraries=["食品", "药品"])
    rows = [row(0, libs="食品、药品"), row(1, libs=r"特种设备\压力容器；食品"), row(2, libs="")]
    header = ["统一社会信用代码", "名称", "行政区划代码", "登记状态", "专项库"]
    report = run(session, csv_bytes(rows, header))
    assert (report.created, report.unchanged) == (2, 1)  # stored by the ORM, equal as JSON
    session.expire_all()
    libs = dict(session.execute(select(Enterprise.uscc, Enterprise.special_libraries)).all())
    assert libs[uscc(1)] == ["特种设备\\压力容器", "食品"] and libs[uscc(2)] == []
    again = run(session, csv_bytes(rows, header))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)


def test_new_rows_get_one_creation_stamp(session):
    before = utcnow()
    run(session, csv_bytes([row(i) for i in range(3)]))
    session.expire_all()
    stamps = session.execute(select(Enterprise.created_at, Enterprise.updated_at)).all()
    assert len({s for pair in stamps for s in pair}) == 1
    stamp = stamps[0][0]
    assert stamp.tzinfo is not None and before - timedelta(minutes=1) < stamp < utcnow() + timedelta(minutes=1)


def test_search_filters_and_sorts_work_without_the_dropped_indexes(session):
    run(
        session,
        csv_bytes(
            [
                row(1, name="B广元市乙餐饮有限公司", region="510802"),
                row(2, name="C旺苍县甲超市", region="510821"),
                row(3, name="A广元市丙食品有限公司", region="510802", status="注销"),
            ]
        ),
    )
    admin = factories.make_user(session, roles=["admin"])

    def names(**kw) -> list[str]:  # type: ignore[no-untyped-def]
        page = list_enterprises(
            session=session, actor=admin, filters=EnterpriseFilter(**kw), sort=None, page=1, page_size=50
        )
        return [e.name for e in page.items]

    assert names() == ["A广元市丙食品有限公司", "B广元市乙餐饮有限公司", "C旺苍县甲超市"]  # by name by default
    assert names(q="餐饮") == ["B广元市乙餐饮有限公司"]
    assert names(region_code="5108") == ["A广元市丙食品有限公司", "B广元市乙餐饮有限公司", "C旺苍县甲超市"]
    assert names(region_code="510821") == ["C旺苍县甲超市"]
    assert names(status=["cancelled"]) == ["A广元市丙食品有限公司"]
