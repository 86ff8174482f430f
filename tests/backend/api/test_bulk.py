"""Bulk import and export over the API: encodings, XLSX, row-level reports, dry run, valid rows only,
idempotent upsert, round trips, and the bad inputs of issue 2."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from backend.models import AuditEntry, CheckItemVersion, Enterprise, EnterpriseStatusChange, Inspector
from backend.services.uscc import make_uscc
from tests import factories

HEADER = [
    "统一社会信用代码",
    "名称",
    "行政区划代码",
    "行业代码",
    "登记状态",
    "专项库",
    "经营异常名录",
    "风险等级",
    "成立日期",
]


def uscc(n: int) -> str:
    return make_uscc("510802", 40_000_000 + n)


def wrong_check_char(code: str) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    return code[:17] + alphabet[(alphabet.index(code[17]) + 1) % 31]


def rows(n: int, start: int = 0) -> list[list[str]]:
    return [
        [
            uscc(start + i),
            f"广元市利州区测试{start + i}餐饮有限公司",
            "510802",
            "H6210",
            "存续",
            "食品",
            "否",
            "2",
            "2016-05-01",
        ]
        for i in range(n)
    ]


def csv_bytes(header: list[str], body: list[list[str]], encoding: str = "utf-8") -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(body)
    return buf.getvalue().encode(encoding)


def xlsx_bytes(header: list, body: list[list]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for r in body:
        ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def upload(client, headers, data: bytes, name: str = "file.csv", kind: str = "enterprises", **query):
    return client.post(
        f"/api/v1/imports/{kind}",
        data={"file": (io.BytesIO(data), name)},
        query_string=query,
        headers=headers,
        content_type="multipart/form-data",
    )


@pytest.fixture
def admin(token_for):
    return token_for("admin")


def count(session, model) -> int:
    session.expire_all()
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def audit_seq(session) -> int:
    return session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()


# ---- encodings and formats ------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16"])
def test_csv_encodings_are_detected(client, session, admin, encoding):
    resp = upload(client, admin, csv_bytes(HEADER, rows(3), encoding))
    assert resp.status_code == 200, resp.get_json()
    report = resp.get_json()
    detected = {"utf-8": "utf-8", "utf-8-sig": "utf-8-sig", "gbk": "gb18030", "gb18030": "gb18030", "utf-16": "utf-16"}
    assert report["created"] == 3 and report["encoding"] == detected[encoding]
    names = sorted(session.execute(select(Enterprise.name)).scalars())
    assert names[0] == "广元市利州区测试0餐饮有限公司"


def test_xlsx_with_typed_cells(client, session, admin):
    from datetime import datetime

    body = [
        [
            uscc(1),
            "广元市利州区表格企业有限公司",
            510802,
            "h6210",
            "在业",
            "食品、特种设备",
            True,
            3.0,
            datetime(2016, 5, 1),
        ]
    ]
    resp = upload(client, admin, xlsx_bytes(HEADER, body), "directory.xlsx")
    assert resp.status_code == 200, resp.get_json()
    ent = session.execute(select(Enterprise)).scalar_one()
    assert (ent.region_code, ent.industry_code, ent.status, ent.risk_level) == ("510802", "H6210", "operating", 3)
    assert ent.special_libraries == ["食品", "特种设备"] and ent.abnormal_list is True
    assert ent.established_on.isoformat() == "2016-05-01"


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"this is not a workbook", "broken.xlsx"),
        (b"PK\x03\x04" + b"\x00" * 64, "truncated.xlsx"),
        (None, "not-a-workbook.xlsx"),  # a valid ZIP without workbook parts
        (None, "cut.xlsx"),  # a real workbook cut in half
    ],
)
def test_malformed_xlsx_is_a_clear_422(client, session, admin, data, name):
    if name == "not-a-workbook.xlsx":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("hello.txt", "hi")
        data = buf.getvalue()
    elif name == "cut.xlsx":
        whole = xlsx_bytes(HEADER, rows(50))
        data = whole[: len(whole) // 2]
    resp = upload(client, admin, data, name)
    assert resp.status_code == 422, resp.get_json()
    body = resp.get_json()
    assert "XLSX" in body["message"] or "xlsx" in body["message"].lower()
    assert count(session, Enterprise) == 0


def test_unknown_and_missing_columns(client, session, admin):
    resp = upload(
        client, admin, csv_bytes(["统一社会信用代码", "名称", "注册资本", "Owner"], [[uscc(1), "甲", "100", "x"]])
    )
    body = resp.get_json()
    assert resp.status_code == 422 and "注册资本" in body["message"] and "Owner" in body["message"]
    assert body["errors"]["columns"][0].startswith("未知的列")
    missing = upload(client, admin, csv_bytes(["名称"], [["甲"]])).get_json()
    assert "统一社会信用代码" in missing["message"]
    assert count(session, Enterprise) == 0


def test_english_keys_and_required_markers_are_accepted(client, session, admin):
    resp = upload(client, admin, csv_bytes(["USCC", "name*", "risk_level"], [[uscc(1), "英文表头企业", "2"]]))
    assert resp.status_code == 200 and resp.get_json()["created"] == 1


def test_empty_file_and_header_only(client, admin):
    assert upload(client, admin, b"").status_code == 422
    header_only = upload(client, admin, csv_bytes(HEADER, []))
    assert header_only.status_code == 200 and header_only.get_json()["rows"] == 0


def test_too_large_upload_is_413(client, admin):
    # a hand-built multipart body: the test client would otherwise spool 10 MB to a temporary file
    boundary = "----shuangsui"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n'.encode()
        + b"x" * (11 * 1024 * 1024)
        + f"\r\n--{boundary}--\r\n".encode()
    )
    resp = client.post(
        "/api/v1/imports/enterprises",
        input_stream=io.BytesIO(body),
        content_type=f"multipart/form-data; boundary={boundary}",
        content_length=len(body),
        headers=admin,
    )
    assert resp.status_code == 413 and "命令行" in resp.get_json()["message"]


# ---- row-level errors, all-or-nothing, valid rows only ----------------------------------------------


def bad_file() -> bytes:
    good = rows(3)
    bad = rows(5, start=10)
    bad[0][0] = wrong_check_char(bad[0][0])  # row 5
    bad[1][1] = ""  # row 6: empty name
    bad[2][1] = "名" * 201  # row 7: huge
    bad[3][0] = good[0][0]  # row 8: duplicate of row 2
    bad[4][7] = "9"  # row 9: risk out of range
    return csv_bytes(HEADER, good + bad)


def test_errors_name_row_column_and_reason_and_nothing_is_imported(client, session, admin):
    before = audit_seq(session)
    resp = upload(client, admin, bad_file())
    assert resp.status_code == 422
    body = resp.get_json()
    errors = {(e["row"], e["column"]): e["message"] for e in body["errors"]["rows"]}
    assert "校验位" in errors[(5, "统一社会信用代码")]
    assert errors[(6, "名称")] == "不能为空"
    assert "200" in errors[(7, "名称")]
    assert "第 2 行" in errors[(8, "统一社会信用代码")]
    assert "1–4" in errors[(9, "风险等级")]
    report = body["report"]
    assert report["invalid"] == 5 and report["applied"] is False and report["created"] == 0
    assert count(session, Enterprise) == 0 and audit_seq(session) == before


def test_valid_only_imports_the_good_rows_and_reports_the_rest(client, session, admin):
    resp = upload(client, admin, bad_file(), valid_only=1)
    assert resp.status_code == 200, resp.get_json()
    report = resp.get_json()
    assert (report["created"], report["invalid"], report["errors_total"]) == (3, 5, 5)
    assert count(session, Enterprise) == 3 and {e["row"] for e in report["errors"]} == {5, 6, 7, 8, 9}


def test_dry_run_reports_the_same_and_writes_nothing(client, session, admin):
    before = audit_seq(session)
    dry = upload(client, admin, csv_bytes(HEADER, rows(4)), dry_run=1).get_json()
    assert count(session, Enterprise) == 0 and audit_seq(session) == before
    real = upload(client, admin, csv_bytes(HEADER, rows(4))).get_json()
    for key in ("rows", "created", "updated", "unchanged", "invalid", "errors", "changes"):
        assert dry[key] == real[key], key
    assert dry["dry_run"] and not dry["applied"] and real["applied"]
    dry_bad = upload(client, admin, bad_file(), dry_run=1)
    assert dry_bad.status_code == 422 and dry_bad.get_json()["report"]["invalid"] == 5


def test_row_numbers_are_the_ones_excel_shows(client, admin):
    # a quoted field with a line break is one row; blank lines still count
    text = "统一社会信用代码,名称\r\n" + f'{uscc(1)},"第一行\n换行的名称"\r\n\r\n{wrong_check_char(uscc(2))},乙\r\n'
    body = upload(client, admin, text.encode()).get_json()
    assert [e["row"] for e in body["errors"]["rows"]] == [4]
    sheet = xlsx_bytes(["统一社会信用代码", "名称"], [[uscc(3), "甲"], [None, None], [wrong_check_char(uscc(4)), "乙"]])
    body = upload(client, admin, sheet, "x.xlsx").get_json()
    assert [e["row"] for e in body["errors"]["rows"]] == [4]


def test_data_beyond_the_header_is_an_error_not_lost(client, admin):
    data = f"统一社会信用代码,名称,\r\n{uscc(1)},甲,额外的值\r\n{uscc(2)},乙,5,6\r\n".encode()
    body = upload(client, admin, data).get_json()
    assert {e["row"] for e in body["errors"]["rows"]} == {2, 3}


# ---- idempotent upsert ----------------------------------------------------------------------------------


def test_reimport_changes_nothing_and_leaves_no_audit_noise(client, session, admin):
    data = csv_bytes(HEADER, rows(5))
    first = upload(client, admin, data).get_json()
    assert first["created"] == 5
    before = audit_seq(session)
    second = upload(client, admin, data).get_json()
    assert (second["created"], second["updated"], second["unchanged"]) == (0, 0, 5)
    assert audit_seq(session) == before


def test_update_touches_only_given_columns_and_records_status_history(client, session, admin):
    upload(client, admin, csv_bytes(HEADER, rows(3)))
    change = [[uscc(0), "注销"], [uscc(1), ""], [uscc(2), "存续"]]
    report = upload(client, admin, csv_bytes(["统一社会信用代码", "登记状态"], change), "status.csv").get_json()
    assert (report["updated"], report["unchanged"]) == (1, 2)
    session.expire_all()
    ents = {e.uscc: e for e in session.execute(select(Enterprise)).scalars()}
    assert ents[uscc(0)].status == "cancelled" and ents[uscc(0)].name == "广元市利州区测试0餐饮有限公司"
    assert ents[uscc(1)].status == "active"  # an empty status cell keeps the stored status
    history = session.execute(select(EnterpriseStatusChange)).scalar_one()
    assert (history.from_status, history.to_status) == ("active", "cancelled") and "status.csv" in history.reason
    last = session.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
    assert last.action == "import.enterprises" and last.data["updated"] == 1 and last.data["sha256"]


def test_sql_looking_and_formula_strings_survive_literally(client, session, admin):
    names = ["'); DROP TABLE enterprise; --", '=HYPERLINK("http://x")', "+86 甲", "@SUM(A1)", "a\\tb \\N"]
    body = [[uscc(i), n] for i, n in enumerate(names)]
    assert upload(client, admin, csv_bytes(["统一社会信用代码", "名称"], body)).get_json()["created"] == 5
    stored = sorted(session.execute(select(Enterprise.name)).scalars())
    assert stored == sorted(names)
    exported = client.get("/api/v1/exports/enterprises.csv", headers=admin)
    text = exported.get_data(as_text=True)
    assert "'=HYPERLINK" in text and "'@SUM" in text  # Excel will not run them
    again = upload(client, admin, exported.get_data(), "export.csv").get_json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 5)


# ---- round trips -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_enterprise_export_round_trips(client, session, admin, fmt):
    for i in range(3):
        factories.make_enterprise(
            session,
            special_libraries=["食品", "药品"],
            abnormal_list=bool(i % 2),
            lat=32.43 + i / 7,
            lng=105.84,
            established_on=None if i else __import__("datetime").date(2001, 2, 3),
            status="operating",
            phone="0839-3200000",
        )
    exported = client.get(f"/api/v1/exports/enterprises.{fmt}", headers=admin)
    assert exported.status_code == 200 and "attachment" in exported.headers["Content-Disposition"]
    data = exported.get_data()
    if fmt == "csv":
        assert data.startswith("\ufeff统一社会信用代码".encode())
    report = upload(client, admin, data, f"export.{fmt}").get_json()
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 0, 3), report


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_inspector_and_item_exports_round_trip(client, session, admin, fmt):
    dept = factories.make_department(session, code="SCJG-510802")
    factories.make_inspector(
        session, department=dept, specialties=["食品", "特种设备"], region_codes=["510802", "510821"]
    )
    factories.make_inspector(session, department=dept, certificate_valid_until=None, active=False)
    factories.make_item(session, department=dept)
    factories.make_item(session, department=dept, published=False, checkpoints=0)
    for kind in ("inspectors", "items"):
        data = client.get(f"/api/v1/exports/{kind}.{fmt}", headers=admin).get_data()
        report = upload(client, admin, data, f"{kind}.{fmt}", kind=kind).get_json()
        assert (report["created"], report["updated"], report["unchanged"]) == (0, 0, 2), (kind, report)


# ---- inspectors and items -------------------------------------------------------------------------------

INSPECTOR_HEADER = ["工号", "姓名", "部门编码", "执法证号", "执法证有效期至", "专业领域", "负责区域"]


def test_inspector_import_checks_departments_and_permissions(client, session, token_for):
    own = factories.make_department(session, code="OWN")
    factories.make_department(session, code="OTHER")
    planner = token_for("planner", department=own)
    body = [
        ["S1", "甲", "OWN", "C1", "2027-01-01", "食品;特种设备", "510802"],
        ["S2", "乙", "OTHER", "C2", "2027-01-01", "", ""],
        ["S3", "丙", "NOPE", "C3", "", "", ""],
        ["S4", "丁", "OWN", "C1", "", "", ""],
    ]
    resp = upload(client, planner, csv_bytes(INSPECTOR_HEADER, body), kind="inspectors")
    assert resp.status_code == 422
    errors = {e["row"]: e["message"] for e in resp.get_json()["errors"]["rows"]}
    assert "其他部门" in errors[3] and "不存在" in errors[4] and "重复" in errors[5]
    ok = upload(client, planner, csv_bytes(INSPECTOR_HEADER, body), kind="inspectors", valid_only=1).get_json()
    assert ok["created"] == 1
    insp = session.execute(select(Inspector)).scalar_one()
    assert insp.specialties == ["食品", "特种设备"] and insp.department_id == own.id


ITEM_HEADER = [
    "事项编码",
    "部门编码",
    "事项名称",
    "抽查方式",
    "事项类别",
    "状态",
    "要点编号",
    "检查要点",
    "答案类型",
    "选项",
]


def test_item_import_groups_checkpoints_and_versions_changes(client, session, token_for):
    dept = factories.make_department(session, code="SCJG")
    planner = token_for("planner", department=dept)
    body = [
        ["IT-1", "SCJG", "食品经营者检查", "实地检查", "重点", "已发布", "a", "许可证是否有效", "合格判定", ""],
        ["IT-1", "", "", "", "", "", "b", "从业人员健康证明", "", ""],  # continuation row, like merged cells
        ["IT-1", "", "", "", "", "", "c", "违规程度", "选择", "轻微、严重"],
        ["IT-2", "SCJG", "广告检查", "网络监测", "一般", "", "", "是否虚假宣传", "", ""],
    ]
    first = upload(client, planner, csv_bytes(ITEM_HEADER, body), kind="items").get_json()
    assert (first["rows"], first["created"]) == (4, 2)
    public = client.get("/api/v1/items/public").get_json()
    assert [(p["code"], [c["key"] for c in p["checkpoints"]]) for p in public] == [("IT-1", ["a", "b", "c"])]
    assert public[0]["checkpoints"][2]["options"] == ["轻微", "严重"]
    again = upload(client, planner, csv_bytes(ITEM_HEADER, body), kind="items").get_json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)
    body[1][7] = "从业人员是否持有健康证明"
    changed = upload(client, planner, csv_bytes(ITEM_HEADER, body), kind="items").get_json()
    assert (changed["updated"], changed["unchanged"]) == (1, 1)
    versions = session.execute(
        select(CheckItemVersion.version, CheckItemVersion.status).order_by(CheckItemVersion.created_at)
    ).all()
    assert sorted(versions) == [(1, "draft"), (1, "retired"), (2, "published")]


def test_item_rows_must_agree_and_a_bad_row_drops_the_whole_item(client, session, token_for):
    dept = factories.make_department(session, code="SCJG")
    planner = token_for("planner", department=dept)
    body = [
        ["IT-1", "SCJG", "食品经营者检查", "实地检查", "重点", "", "a", "要点一", "", ""],
        ["IT-1", "SCJG", "另一个名称", "", "", "", "b", "要点二", "", ""],
        ["IT-2", "SCJG", "广告检查", "网络监测", "一般", "", "", "要点", "选择", ""],
        ["IT-3", "SCJG", "价格检查", "飞行检查", "", "", "", "要点", "", ""],
        ["IT-3", "SCJG", "", "", "", "", "", "第二个要点", "", ""],
        ["IT-4", "SCJG", "计量检查", "", "", "", "", "要点", "", ""],
    ]
    resp = upload(client, planner, csv_bytes(ITEM_HEADER, body), kind="items", valid_only=1)
    report = resp.get_json()
    assert report["created"] == 1 and report["invalid"] == 5, report
    messages = {(e["row"], e["column"]): e["message"] for e in report["errors"]}
    assert "不一致" in messages[(3, "事项名称")]
    assert "选项" in messages[(4, "选项")]
    assert "抽查方式" not in messages.get((5, "事项编码"), "") and "整个事项" in messages[(6, "事项编码")]
