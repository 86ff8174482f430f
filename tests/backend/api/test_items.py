"""抽查事项清单: items with ordered checkpoints, drafts, publishing, immutability, the public list."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.models import AuditEntry, CheckItemVersion
from tests import factories

BASE = "/api/v1/items"


def assert_error(resp, code):
    assert resp.status_code == code, resp.get_json()
    return resp.get_json()


@pytest.fixture
def dept(session):
    return factories.make_department(session, name="广元市利州区市场监督管理局")


@pytest.fixture
def planner(token_for, dept):
    return token_for("planner", department=dept)


def new_item(client, headers, **over):
    body = {
        "code": "SCJG-01",
        "name": "企业公示信息的抽查",
        "basis": "《企业信息公示暂行条例》第十四条",
        "methods": ["书面检查", "实地检查"],
        "category": "key",
        "checkpoints": [
            {"question": "是否按时公示年度报告", "legal_clause": "第八条"},
            {"key": "addr", "question": "住所能否联系", "photo_required": True},
            {"question": "从业人数", "answer_kind": "number"},
        ],
    }
    body.update(over)
    return client.post(BASE, json=body, headers=headers)


def test_create_item_with_first_draft_and_ordered_checkpoints(client, planner, dept):
    resp = new_item(client, planner)
    assert resp.status_code == 201, resp.get_json()
    item = resp.get_json()
    assert item["department_id"] == str(dept.id) and item["published_version"] is None
    latest = item["latest_version"]
    assert latest["version"] == 1 and latest["status"] == "draft"
    assert [(c["position"], c["key"]) for c in latest["checkpoints"]] == [(0, "cp1"), (1, "addr"), (2, "cp3")]
    assert latest["checkpoints"][1]["photo_required"] is True


def test_checkpoint_rules(client, planner):
    dup = new_item(client, planner, checkpoints=[{"key": "a", "question": "一"}, {"key": "a", "question": "二"}])
    assert "checkpoints.1" in assert_error(dup, 422)["errors"]
    choice = new_item(client, planner, code="C2", checkpoints=[{"question": "程度", "answer_kind": "choice"}])
    assert "checkpoints.0" in assert_error(choice, 422)["errors"]
    blank = new_item(client, planner, code="C3", checkpoints=[{"question": "  "}])
    assert_error(blank, 422)
    method = new_item(client, planner, code="C4", methods=["飞行检查"])
    assert "methods" in assert_error(method, 422)["errors"]["json"]
    assert (
        "code" in assert_error(new_item(client, planner, code="SCJG-01") and new_item(client, planner), 409)["errors"]
    )


def test_edit_publish_new_version_and_immutability(client, session, planner, token_for, dept):
    item = new_item(client, planner).get_json()
    iid, v1 = item["id"], item["latest_version"]["id"]
    edited = client.patch(
        f"{BASE}/{iid}/versions/{v1}",
        json={"name": "企业公示信息的抽查（2026）", "checkpoints": [{"question": "只剩一个要点"}]},
        headers=planner,
    )
    assert edited.status_code == 200 and [c["question"] for c in edited.get_json()["checkpoints"]] == ["只剩一个要点"]
    published = client.post(f"{BASE}/{iid}/versions/{v1}/publish", headers=planner)
    assert published.status_code == 200 and published.get_json()["status"] == "published"
    # published versions are immutable
    assert_error(client.patch(f"{BASE}/{iid}/versions/{v1}", json={"name": "改"}, headers=planner), 409)
    assert_error(client.post(f"{BASE}/{iid}/versions/{v1}/publish", headers=planner), 409)
    # a new draft copies the latest version with its checkpoints
    draft = client.post(f"{BASE}/{iid}/versions", json={"change_note": "增加要点"}, headers=planner)
    assert draft.status_code == 201
    d = draft.get_json()
    assert d["version"] == 2 and d["status"] == "draft" and d["name"] == "企业公示信息的抽查（2026）"
    assert [c["question"] for c in d["checkpoints"]] == ["只剩一个要点"]
    assert_error(client.post(f"{BASE}/{iid}/versions", json={}, headers=planner), 409)  # one open draft at a time
    client.patch(
        f"{BASE}/{iid}/versions/{d['id']}",
        json={"checkpoints": [{"question": "只剩一个要点"}, {"question": "新增要点"}]},
        headers=planner,
    )
    # an approver of the department may publish; publishing retires the previous version
    approver = token_for("approver", department=dept)
    assert client.post(f"{BASE}/{iid}/versions/{d['id']}/publish", headers=approver).status_code == 200
    statuses = {v["version"]: v["status"] for v in client.get(f"{BASE}/{iid}/versions", headers=planner).get_json()}
    assert statuses == {1: "retired", 2: "published"}
    assert_error(client.patch(f"{BASE}/{iid}/versions/{v1}", json={"name": "改"}, headers=planner), 409)
    actions = [a for (a,) in session.execute(select(AuditEntry.action).where(AuditEntry.entity == "check_item"))]
    assert actions == [
        "check_item.create",
        "check_item.edit_draft",
        "check_item.publish",
        "check_item.new_version",
        "check_item.edit_draft",
        "check_item.publish",
    ]


def test_publish_needs_a_checkpoint(client, planner):
    item = new_item(client, planner, checkpoints=[]).get_json()
    resp = client.post(f"{BASE}/{item['id']}/versions/{item['latest_version']['id']}/publish", headers=planner)
    assert "checkpoints" in assert_error(resp, 422)["errors"]


def test_public_list_is_latest_published_of_active_items_without_token(client, session, planner, dept):
    first = new_item(client, planner).get_json()
    client.post(f"{BASE}/{first['id']}/versions/{first['latest_version']['id']}/publish", headers=planner)
    draft = client.post(f"{BASE}/{first['id']}/versions", json={}, headers=planner).get_json()
    client.patch(f"{BASE}/{first['id']}/versions/{draft['id']}", json={"name": "尚未发布的名称"}, headers=planner)
    new_item(client, planner, code="DRAFT-ONLY")  # never published
    gone = factories.make_item(session, department=dept, name="已停用事项")
    client.delete(f"{BASE}/{gone.item_id}", headers=planner)
    public = client.get(f"{BASE}/public")
    assert public.status_code == 200
    rows = public.get_json()
    assert [(r["code"], r["name"], r["version"]) for r in rows] == [("SCJG-01", "企业公示信息的抽查", 1)]
    assert rows[0]["department_name"] == dept.name and len(rows[0]["checkpoints"]) == 3
    assert "X-Pagination" in public.headers


def test_other_department_items_are_hidden(client, session, token_for, dept):
    other = factories.make_department(session)
    version = factories.make_item(session, department=other, published=False)
    planner = token_for("planner", department=dept)
    assert client.get(BASE, headers=planner).get_json() == []
    assert_error(client.get(f"{BASE}/{version.item_id}", headers=planner), 404)
    assert_error(
        client.patch(f"{BASE}/{version.item_id}/versions/{version.id}", json={"name": "x"}, headers=planner), 404
    )
    assert_error(client.post(f"{BASE}/{version.item_id}/versions/{version.id}/publish", headers=planner), 404)
    assert session.get(CheckItemVersion, version.id).status == "draft"
    # the supervisor of the department reads but may not publish
    supervisor = token_for("supervisor", department=other)
    assert client.get(f"{BASE}/{version.item_id}", headers=supervisor).status_code == 200
    assert_error(client.post(f"{BASE}/{version.item_id}/versions/{version.id}/publish", headers=supervisor), 403)
