"""执法检查人员名录库 and 回避 records: department scope, self scope, certificate validity on a date."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests import factories

BASE = "/api/v1/inspectors"


def assert_error(resp, code):
    assert resp.status_code == code, resp.get_json()
    body = resp.get_json()
    assert body["code"] == code and "message" in body and "errors" in body
    return body


@pytest.fixture
def depts(session):
    return factories.make_department(session), factories.make_department(session)


def body(dept, **over):
    data = {
        "staff_no": "SC-0001",
        "name": "王敏",
        "department_id": str(dept.id),
        "certificate_no": "川执51080220190001",
        "certificate_valid_until": (date.today() + timedelta(days=30)).isoformat(),
        "specialties": ["食品", "特种设备"],
        "region_codes": ["510802"],
        "years_of_service": 5,
    }
    data.update(over)
    return data


def test_planner_creates_in_own_department_only(client, token_for, depts):
    own, other = depts
    planner = token_for("planner", department=own)
    created = client.post(BASE, json=body(own), headers=planner)
    assert created.status_code == 201, created.get_json()
    refused = assert_error(
        client.post(BASE, json=body(other, staff_no="X2", certificate_no="C2"), headers=planner), 403
    )
    assert "department_id" in refused["errors"]
    # department omitted: the planner's own
    implicit = body(own, staff_no="SC-0002", certificate_no="C3")
    del implicit["department_id"]
    assert client.post(BASE, json=implicit, headers=planner).get_json()["department_id"] == str(own.id)


def test_duplicates_are_409_naming_the_field(client, token_for, depts):
    own, _ = depts
    planner = token_for("planner", department=own)
    client.post(BASE, json=body(own), headers=planner)
    assert (
        "staff_no"
        in assert_error(client.post(BASE, json=body(own, certificate_no="other"), headers=planner), 409)["errors"]
    )
    assert (
        "certificate_no"
        in assert_error(client.post(BASE, json=body(own, staff_no="other"), headers=planner), 409)["errors"]
    )


def test_other_departments_inspectors_are_invisible(client, session, token_for, depts):
    own, other = depts
    mine = factories.make_inspector(session, department=own)
    theirs = factories.make_inspector(session, department=other)
    planner = token_for("planner", department=own)
    listed = [i["id"] for i in client.get(BASE, headers=planner).get_json()]
    assert listed == [str(mine.id)]
    assert_error(client.get(f"{BASE}/{theirs.id}", headers=planner), 404)
    assert_error(client.patch(f"{BASE}/{theirs.id}", json={"phone": "1"}, headers=planner), 404)
    assert_error(client.get(f"{BASE}/{theirs.id}/certificate", headers=planner), 404)
    # moving one's own inspector into another department is a write there too
    assert_error(client.patch(f"{BASE}/{mine.id}", json={"department_id": str(other.id)}, headers=planner), 403)


def test_inspector_sees_only_themselves(client, session, app, depts):
    own, _ = depts
    user = factories.make_user(session, roles=["inspector"], department=own)
    colleague = factories.make_inspector(session, department=own)
    headers = factories.auth_headers(app, user)
    assert [i["id"] for i in client.get(BASE, headers=headers).get_json()] == [str(user.inspector_id)]
    assert client.get(f"{BASE}/{user.inspector_id}", headers=headers).status_code == 200
    assert_error(client.get(f"{BASE}/{colleague.id}", headers=headers), 404)
    assert_error(client.patch(f"{BASE}/{user.inspector_id}", json={"phone": "1"}, headers=headers), 403)


def test_approver_reads_but_does_not_write(client, session, token_for, depts):
    own, _ = depts
    insp = factories.make_inspector(session, department=own)
    approver = token_for("approver", department=own)
    assert client.get(f"{BASE}/{insp.id}", headers=approver).status_code == 200
    assert_error(client.patch(f"{BASE}/{insp.id}", json={"phone": "1"}, headers=approver), 403)


def test_certificate_validity_on_a_date(client, session, token_for, depts):
    own, _ = depts
    until = date(2026, 6, 30)
    insp = factories.make_inspector(session, department=own, certificate_valid_until=until)
    planner = token_for("planner", department=own)
    url = f"{BASE}/{insp.id}/certificate"
    on_last_day = client.get(url, query_string={"on": "2026-06-30"}, headers=planner).get_json()
    assert on_last_day["valid"] is True and on_last_day["days_remaining"] == 0
    after = client.get(url, query_string={"on": "2026-07-01"}, headers=planner).get_json()
    assert after["valid"] is False and "过期" in after["reason"]
    assert_error(client.get(url, query_string={"on": "2026-13-01"}, headers=planner), 422)
    client.delete(f"{BASE}/{insp.id}", headers=planner)
    inactive = client.get(url, query_string={"on": "2026-01-01"}, headers=planner).get_json()
    assert inactive["valid"] is False and inactive["reason"] == "人员已停用"


def test_list_filters(client, session, token_for, depts):
    own, _ = depts
    factories.make_inspector(session, department=own, name="甲", specialties=["食品"], region_codes=["510802"])
    factories.make_inspector(
        session,
        department=own,
        name="乙",
        specialties=["特种设备"],
        region_codes=["510821"],
        certificate_valid_until=date.today() - timedelta(days=1),
    )
    admin = token_for("admin")

    def names(**q):
        return sorted(i["name"] for i in client.get(BASE, query_string=q, headers=admin).get_json())

    assert names(specialty="食品") == ["甲"]
    assert names(region_code="510821") == ["乙"]
    assert names(valid_on=date.today().isoformat()) == ["甲"]
    assert names(q="乙") == ["乙"]
    desc = client.get(BASE, query_string={"department_id": str(own.id), "sort": "-name"}, headers=admin).get_json()
    assert [i["name"] for i in desc] == sorted(["甲", "乙"], reverse=True)


def test_conflicts_crud_and_scope(client, session, token_for, depts):
    own, other = depts
    insp = factories.make_inspector(session, department=own)
    ent = factories.make_enterprise(session)
    planner = token_for("planner", department=own)
    created = client.post(
        "/api/v1/conflicts",
        json={"inspector_id": str(insp.id), "enterprise_id": str(ent.id), "reason": "relative", "note": "配偶任职"},
        headers=planner,
    )
    assert created.status_code == 201, created.get_json()
    cid = created.get_json()["id"]
    dup = client.post(
        "/api/v1/conflicts", json={"inspector_id": str(insp.id), "enterprise_id": str(ent.id)}, headers=planner
    )
    assert_error(dup, 409)
    bad_reason = client.post(
        "/api/v1/conflicts",
        json={"inspector_id": str(insp.id), "enterprise_id": str(ent.id), "reason": "x"},
        headers=planner,
    )
    assert "reason" in assert_error(bad_reason, 422)["errors"]["json"]
    stranger = token_for("planner", department=other)
    assert_error(client.get(f"/api/v1/conflicts/{cid}", headers=stranger), 404)
    assert client.get("/api/v1/conflicts", headers=stranger).get_json() == []
    hidden = client.post(
        "/api/v1/conflicts", json={"inspector_id": str(insp.id), "enterprise_id": str(ent.id)}, headers=stranger
    )
    assert_error(hidden, 404)
    assert (
        client.patch(f"/api/v1/conflicts/{cid}", json={"note": "已核实"}, headers=planner).get_json()["note"]
        == "已核实"
    )
    assert client.delete(f"/api/v1/conflicts/{cid}", headers=planner).status_code == 204
    assert_error(client.get(f"/api/v1/conflicts/{cid}", headers=planner), 404)
