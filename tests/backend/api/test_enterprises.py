"""检查对象名录库 API: CRUD, filters, search, sort, paging, status history, bad input."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from backend.models import AuditEntry, Enterprise
from backend.services.uscc import make_uscc
from tests import factories

BASE = "/api/v1/enterprises"


def assert_error(resp, code):
    assert resp.status_code == code, resp.get_json()
    body = resp.get_json()
    assert set(body) >= {"code", "status", "message", "errors"} and body["code"] == code
    return body


def wrong_check_char(uscc: str) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    return uscc[:17] + alphabet[(alphabet.index(uscc[17]) + 1) % 31]


@pytest.fixture
def planner(token_for):
    return token_for("planner")


def payload(**over):
    body = {
        "uscc": make_uscc("510802", 31_000_001),
        "name": "广元市利州区宏达餐饮有限公司",
        "entity_type": "有限责任公司",
        "legal_representative": "张伟",
        "registered_address": "四川省广元市利州区东坝街道利州东路1号",
        "region_code": "510802",
        "industry_code": "H6210",
        "special_libraries": ["食品"],
        "risk_level": 2,
        "established_on": "2015-03-01",
    }
    body.update(over)
    return body


def test_create_get_update_and_audit(client, session, planner):
    resp = client.post(BASE, json=payload(), headers=planner)
    assert resp.status_code == 201, resp.get_json()
    ent = resp.get_json()
    assert ent["status"] == "active" and ent["status_label"] == "存续" and ent["special_libraries"] == ["食品"]
    got = client.get(f"{BASE}/{ent['id']}", headers=planner).get_json()
    assert got["uscc"] == ent["uscc"] and got["established_on"] == "2015-03-01"
    upd = client.patch(f"{BASE}/{ent['id']}", json={"phone": "0839-3201234", "abnormal_list": True}, headers=planner)
    assert upd.status_code == 200 and upd.get_json()["abnormal_list"] is True
    actions = [a for (a,) in session.execute(select(AuditEntry.action).order_by(AuditEntry.seq))]
    assert actions[-2:] == ["enterprise.create", "enterprise.update"]


def test_unchanged_patch_writes_no_audit(client, session, planner):
    ent = factories.make_enterprise(session)
    before = session.execute(select(AuditEntry.seq)).all()
    resp = client.patch(f"{BASE}/{ent.id}", json={"name": ent.name}, headers=planner)
    assert resp.status_code == 200
    assert session.execute(select(AuditEntry.seq)).all() == before


def test_uscc_is_upper_cased_and_checked(client, planner):
    good = make_uscc("510802", 31_000_002)
    resp = client.post(BASE, json=payload(uscc=good.lower()), headers=planner)
    assert resp.status_code == 201 and resp.get_json()["uscc"] == good
    bad = assert_error(client.post(BASE, json=payload(uscc=wrong_check_char(good)), headers=planner), 422)
    assert "校验位" in bad["errors"]["json"]["uscc"][0]
    short = assert_error(client.post(BASE, json=payload(uscc="91510802"), headers=planner), 422)
    assert "18 位" in short["errors"]["json"]["uscc"][0]
    illegal = assert_error(client.post(BASE, json=payload(uscc="91510802MA6I0000XX"), headers=planner), 422)
    assert "非法字符" in illegal["errors"]["json"]["uscc"][0]


def test_duplicate_uscc_is_409_naming_the_field(client, session, planner):
    ent = factories.make_enterprise(session)
    body = assert_error(client.post(BASE, json=payload(uscc=ent.uscc), headers=planner), 409)
    assert "uscc" in body["errors"]
    other = factories.make_enterprise(session)
    body = assert_error(client.patch(f"{BASE}/{other.id}", json={"uscc": ent.uscc}, headers=planner), 409)
    assert "uscc" in body["errors"]


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("name", "", "不能为空"),
        ("name", "   ", "不能为空"),
        ("name", "名" * 201, "200"),
        ("registered_address", "路" * 301, "300"),
        ("region_code", "5108", "6 位"),
        ("industry_code", "X9999", "GB/T 4754"),
        ("risk_level", 9, "1"),
        ("special_libraries", ["食品"] * 21, "最多"),
        ("lat", 123.0, "-90"),
    ],
)
def test_empty_and_huge_fields_are_422_naming_the_field(client, planner, field, value, fragment):
    body = assert_error(client.post(BASE, json=payload(**{field: value}), headers=planner), 422)
    assert fragment in json.dumps(body["errors"]["json"][field], ensure_ascii=False)


def test_unknown_field_is_refused(client, planner):
    body = assert_error(client.post(BASE, json=payload(owner="x"), headers=planner), 422)
    assert "owner" in body["errors"]["json"]


def test_huge_request_is_refused_without_storing(client, session, planner):
    resp = client.post(BASE, json=payload(name="企" * 100_000), headers=planner)
    assert_error(resp, 422)
    assert session.execute(select(Enterprise)).first() is None


def test_sql_looking_strings_are_stored_literally(client, session, planner):
    sneaky = "'; DROP TABLE enterprise; -- \" OR 1=1 %_\\"
    resp = client.post(BASE, json=payload(name=sneaky, legal_representative="Robert'); --"), headers=planner)
    assert resp.status_code == 201
    stored = session.execute(select(Enterprise)).scalar_one()
    assert stored.name == sneaky.strip()
    # and searching for it finds exactly it (LIKE wildcards in the term are literal)
    found = client.get(BASE, query_string={"q": "%_\\"}, headers=planner).get_json()
    assert [e["name"] for e in found] == [stored.name]
    assert client.get(BASE, query_string={"q": "%"}, headers=planner).get_json()[0]["id"] == str(stored.id)


def test_status_change_records_history_with_reason(client, session, planner):
    ent = factories.make_enterprise(session)
    missing = assert_error(client.post(f"{BASE}/{ent.id}/status", json={"status": "cancelled"}, headers=planner), 422)
    assert "reason" in missing["errors"]["json"]
    blank = client.post(f"{BASE}/{ent.id}/status", json={"status": "cancelled", "reason": "  "}, headers=planner)
    assert_error(blank, 422)
    ok = client.post(
        f"{BASE}/{ent.id}/status", json={"status": "cancelled", "reason": "已办理注销登记"}, headers=planner
    )
    assert ok.status_code == 201
    assert ok.get_json()["from_status"] == "active" and ok.get_json()["to_status"] == "cancelled"
    same = client.post(f"{BASE}/{ent.id}/status", json={"status": "cancelled", "reason": "再次"}, headers=planner)
    assert_error(same, 409)
    client.post(f"{BASE}/{ent.id}/status", json={"status": "revoked", "reason": "吊销营业执照"}, headers=planner)
    history = client.get(f"{BASE}/{ent.id}/status-history", headers=planner).get_json()
    assert [(h["from_status"], h["to_status"]) for h in history] == [("cancelled", "revoked"), ("active", "cancelled")]
    assert history[1]["reason"] == "已办理注销登记"
    refused = assert_error(client.patch(f"{BASE}/{ent.id}", json={"status": "active"}, headers=planner), 422)
    assert "status" in refused["errors"]


def test_deactivate_hides_from_default_list_but_keeps_the_row(client, session, planner):
    ent = factories.make_enterprise(session)
    assert client.delete(f"{BASE}/{ent.id}", headers=planner).status_code == 204
    assert client.get(BASE, headers=planner).get_json() == []
    listed = client.get(BASE, query_string={"active": "false"}, headers=planner).get_json()
    assert [e["id"] for e in listed] == [str(ent.id)]
    assert client.patch(f"{BASE}/{ent.id}", json={"active": True}, headers=planner).get_json()["active"] is True


@pytest.fixture
def directory(session):
    rows = [
        dict(
            name="广元市利州区甲餐饮有限公司",
            region_code="510802",
            industry_code="H6210",
            risk_level=1,
            special_libraries=["食品"],
        ),
        dict(
            name="旺苍县乙超市",
            region_code="510821",
            industry_code="F5212",
            risk_level=3,
            abnormal_list=True,
            special_libraries=["食品"],
        ),
        dict(
            name="剑阁县丙电梯有限公司",
            region_code="510823",
            industry_code="C3435",
            risk_level=4,
            serious_violation=True,
            blacklist=True,
            special_libraries=["特种设备"],
        ),
        dict(
            name="成都市丁科技有限公司", region_code="510104", industry_code="I6513", risk_level=2, status="cancelled"
        ),
    ]
    return [factories.make_enterprise(session, **r) for r in rows]


def names(resp):
    assert resp.status_code == 200, resp.get_json()
    return sorted(e["name"] for e in resp.get_json())


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"region_code": "5108"}, ["剑阁县丙电梯有限公司", "广元市利州区甲餐饮有限公司", "旺苍县乙超市"]),
        ({"region_code": "510821"}, ["旺苍县乙超市"]),
        ({"industry_code": "h62"}, ["广元市利州区甲餐饮有限公司"]),
        ({"status": "cancelled"}, ["成都市丁科技有限公司"]),
        ({"status": "cancelled,active"}, None),
        ({"special_library": "食品"}, ["广元市利州区甲餐饮有限公司", "旺苍县乙超市"]),
        ({"flags": "abnormal_list"}, ["旺苍县乙超市"]),
        ({"flags": "serious_violation,blacklist"}, ["剑阁县丙电梯有限公司"]),
        ({"flagged": "true"}, ["剑阁县丙电梯有限公司", "旺苍县乙超市"]),
        ({"risk_level": ["3", "4"]}, ["剑阁县丙电梯有限公司", "旺苍县乙超市"]),
        ({"q": "超市"}, ["旺苍县乙超市"]),
    ],
)
def test_filters(client, planner, directory, query, expected):
    got = names(client.get(BASE, query_string=query, headers=planner))
    assert got == (expected if expected is not None else sorted(e.name for e in directory))


def test_search_by_uscc_prefix(client, planner, directory):
    target = directory[2]
    got = client.get(BASE, query_string={"q": target.uscc[:12].lower()}, headers=planner).get_json()
    assert str(target.id) in [e["id"] for e in got]


def test_sort_and_pagination_header(client, planner, directory):
    resp = client.get(BASE, query_string={"sort": "-risk_level", "page_size": 2, "page": 1}, headers=planner)
    assert [e["risk_level"] for e in resp.get_json()] == [4, 3]
    meta = json.loads(resp.headers["X-Pagination"])
    assert meta["total"] == 4 and meta["total_pages"] == 2 and meta["next_page"] == 2
    page2 = client.get(BASE, query_string={"sort": "-risk_level", "page_size": 2, "page": 2}, headers=planner)
    assert [e["risk_level"] for e in page2.get_json()] == [2, 1]


def test_bad_filter_values_are_422(client, planner):
    assert_error(client.get(BASE, query_string={"sort": "password"}, headers=planner), 422)
    assert_error(client.get(BASE, query_string={"status": "zombie"}, headers=planner), 422)
    assert_error(client.get(BASE, query_string={"flags": "rich"}, headers=planner), 422)
    assert_error(client.get(BASE, query_string={"page_size": 100000}, headers=planner), 422)


def test_inspector_role_cannot_read_the_directory(client, token_for, directory):
    assert_error(client.get(BASE, headers=token_for("inspector")), 403)
    assert client.get(BASE, headers=token_for("witness")).status_code == 200
    assert_error(client.post(BASE, json=payload(), headers=token_for("witness")), 403)
    assert_error(client.get(BASE), 401)
