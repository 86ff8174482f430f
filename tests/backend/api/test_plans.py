"""Annual plans: the state machine, the signed approval, filed adjustments and the 5 % cap."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, update

from backend.models import AnnualPlan, AuditEntry, Enterprise
from backend.services.population import CAP_RULE
from tests import factories
from tests.backend import planning_world as pw
from tests.backend.planning_world import ok


@pytest.fixture
def world(session, token_for, app):
    return pw.build_world(session, token_for, app, enterprises=60, inspectors_per_department=2)


def _draft(client, world, **over):
    body = {
        "name": "2026 年度联合抽查计划",
        "year": 2026,
        "item_ids": [str(world.item_lead.item_id), str(world.item_partner.item_id)],
        "methods": ["实地检查", "书面检查"],
        "ratio": "0.03",
        "participating_department_ids": [str(world.partner.id)],
        **over,
    }
    return client.post("/api/v1/plans", json=body, headers=world.planner)


def test_create_defaults_and_visibility(client, app, world, session):
    plan = ok(_draft(client, world), 201)
    assert plan["status"] == "draft" and plan["deadline"] == "2026-11-20"  # 当年 11 月 20 日前完成
    assert plan["lead_department_id"] == str(world.lead.id) and plan["cap"] == "0.05"
    assert plan["signature"] is None and plan["signature_valid"] is None
    # The partner department reads it; other departments and inspectors do not.
    ok(client.get(f"/api/v1/plans/{plan['id']}", headers=world.planner_partner))
    assert [p["id"] for p in ok(client.get("/api/v1/plans", headers=world.planner_partner))] == [plan["id"]]
    outsider = factories.auth_headers(app, factories.make_user(session, roles=["planner"]))
    ok(client.get(f"/api/v1/plans/{plan['id']}", headers=outsider), 404)
    assert ok(client.get("/api/v1/plans", headers=outsider)) == []
    inspector = factories.auth_headers(app, world.inspector_users["SCJG"][0])
    ok(client.get("/api/v1/plans", headers=inspector), 403)
    ok(client.get("/api/v1/plans"), 401)
    # Witnesses see plans only once they are in force.
    assert ok(client.get("/api/v1/plans", headers=world.witness)) == []
    ok(client.get(f"/api/v1/plans/{plan['id']}", headers=world.witness), 404)


def test_only_the_lead_planner_drafts(client, world):
    ok(_draft(client, world, lead_department_id=str(world.partner.id)), 403)
    ok(client.post("/api/v1/plans", json={"name": "x", "year": 2026}, headers=world.approver), 403)
    plan = ok(_draft(client, world), 201)
    ok(client.patch(f"/api/v1/plans/{plan['id']}", json={"name": "改"}, headers=world.planner_partner), 403)
    ok(client.post(f"/api/v1/plans/{plan['id']}/submit", headers=world.planner_partner), 403)
    assert (
        ok(client.patch(f"/api/v1/plans/{plan['id']}", json={"name": "改名"}, headers=world.planner))["name"]
        == "改名"
    )


def test_validation(client, world):
    body = ok(_draft(client, world, ratio="0.5x"), 422)
    assert "ratio" in body["errors"]["json"]
    ok(_draft(client, world, methods=["随便看看"]), 422)
    ok(_draft(client, world, item_ids=[str(uuid.uuid4())]), 422)
    ok(_draft(client, world, window_start="2026-06-01", window_end="2026-05-01"), 422)
    ok(_draft(client, world, deadline="2027-01-10"), 422)
    ok(_draft(client, world, key_area_cap="0.2"), 422)  # only key areas state their own cap


def test_submit_approve_sign_publish(client, world, session):
    plan = ok(_draft(client, world), 201)
    ok(client.post(f"/api/v1/plans/{plan['id']}/approve", headers=world.approver), 409)  # not submitted
    ok(client.post(f"/api/v1/plans/{plan['id']}/submit", headers=world.planner))
    ok(client.patch(f"/api/v1/plans/{plan['id']}", json={"name": "改"}, headers=world.planner), 409)
    ok(client.post(f"/api/v1/plans/{plan['id']}/publish", headers=world.planner), 409)  # not approved
    other_approver = factories.auth_headers(
        client.application, factories.make_user(session, roles=["approver"], department=world.partner)
    )
    ok(client.post(f"/api/v1/plans/{plan['id']}/approve", headers=other_approver), 403)
    ok(client.post(f"/api/v1/plans/{plan['id']}/approve", headers=world.planner), 403)
    approved = ok(client.post(f"/api/v1/plans/{plan['id']}/approve", headers=world.approver))
    assert approved["status"] == "approved" and approved["approved_at"]
    assert len(approved["signature"]) == 64 and len(approved["content_digest"]) == 64
    assert approved["signature_valid"] is True
    published = ok(client.post(f"/api/v1/plans/{plan['id']}/publish", headers=world.planner))
    assert published["status"] == "published" and published["published_at"]
    actions = [
        e.action
        for e in session.execute(
            select(AuditEntry).where(AuditEntry.entity_id == plan["id"]).order_by(AuditEntry.seq)
        ).scalars()
    ]
    assert actions == ["plan.created", "plan.submitted", "plan.approved", "plan.published"]
    public = ok(client.get("/api/v1/public/plans"))
    assert [p["id"] for p in public] == [plan["id"]] and "signature" not in public[0]


def test_reject_with_reason_then_resubmit(client, world):
    plan = ok(_draft(client, world), 201)
    ok(client.post(f"/api/v1/plans/{plan['id']}/submit", headers=world.planner))
    ok(client.post(f"/api/v1/plans/{plan['id']}/reject", json={"reason": ""}, headers=world.approver), 422)
    rejected = ok(
        client.post(f"/api/v1/plans/{plan['id']}/reject", json={"reason": "比例偏高"}, headers=world.approver)
    )
    assert rejected["status"] == "rejected" and rejected["rejected_reason"] == "比例偏高"
    ok(client.patch(f"/api/v1/plans/{plan['id']}", json={"ratio": "0.02"}, headers=world.planner))
    assert (
        ok(client.post(f"/api/v1/plans/{plan['id']}/submit", headers=world.planner))["status"] == "submitted"
    )


def test_signature_detects_content_changed_behind_the_approval(client, world, session):
    plan = ok(_draft(client, world), 201)
    ok(client.post(f"/api/v1/plans/{plan['id']}/submit", headers=world.planner))
    ok(client.post(f"/api/v1/plans/{plan['id']}/approve", headers=world.approver))
    session.execute(update(AnnualPlan).where(AnnualPlan.id == uuid.UUID(plan["id"])).values(ratio="0.05"))
    session.commit()
    body = ok(client.post(f"/api/v1/plans/{plan['id']}/publish", headers=world.planner), 409)
    assert "签名不符" in body["message"]


def test_adjustments_need_a_reason_and_are_all_kept(client, world, session):
    plan = pw.published_plan(client, world)
    url = f"/api/v1/plans/{plan['id']}/adjustments"
    ok(client.patch(f"/api/v1/plans/{plan['id']}", json={"name": "直接改"}, headers=world.planner), 409)
    ok(client.post(url, json={"reason": "", "changes": {"ratio": "0.04"}}, headers=world.planner), 422)
    ok(
        client.post(url, json={"reason": "上级要求", "changes": {"ratio": "0.05"}}, headers=world.planner),
        422,
    )
    ok(
        client.post(url, json={"reason": "x", "changes": {"ratio": "0.04"}}, headers=world.planner_partner),
        403,
    )
    first = ok(
        client.post(
            url, json={"reason": "联席会议决定提高比例", "changes": {"ratio": "0.04"}}, headers=world.planner
        ),
        201,
    )
    assert first["sequence"] == 1 and first["diff"] == {"ratio": ["0.05", "0.04"]}
    second = ok(
        client.post(
            url,
            json={"reason": "增加检查方式", "changes": {"methods": ["实地检查", "网络监测"]}},
            headers=world.planner,
        ),
        201,
    )
    assert second["content_digest_before"] == first["content_digest_after"]
    kept = ok(client.get(url, headers=world.approver))
    assert [a["reason"] for a in kept] == ["联席会议决定提高比例", "增加检查方式"]
    current = ok(client.get(f"/api/v1/plans/{plan['id']}", headers=world.planner))
    assert current["status"] == "adjusted" and current["version"] == 3 and current["ratio"] == "0.04"
    assert current["signature_valid"] is True  # the approval signature still covers what was approved
    over = ok(
        client.post(url, json={"reason": "再提高", "changes": {"ratio": "0.08"}}, headers=world.planner), 422
    )
    assert CAP_RULE in over["message"]
    assert len(ok(client.get(url, headers=world.planner))) == 2


# ------------------------------------------------------------------------------------------------ the cap


def test_ratio_above_five_percent_is_refused_quoting_the_rule(client, world):
    plan = ok(_draft(client, world, ratio="0.06"), 201)
    body = ok(client.post(f"/api/v1/plans/{plan['id']}/submit", headers=world.planner), 422)
    assert CAP_RULE in body["message"] and "6%" in body["message"] and body["errors"]["ratio"]


def test_count_above_five_percent_of_the_eligible_directory_is_refused(client, world):
    plan = ok(_draft(client, world, ratio=None, count=4), 201)  # 60 eligible: at most 3
    body = ok(client.post(f"/api/v1/plans/{plan['id']}/submit", headers=world.planner), 422)
    assert "最多抽取 3 户" in body["message"] and CAP_RULE in body["message"]
    ok(client.patch(f"/api/v1/plans/{plan['id']}", json={"count": 3}, headers=world.planner))
    ok(client.post(f"/api/v1/plans/{plan['id']}/submit", headers=world.planner))


def test_cap_is_enforced_again_at_approval(client, world, session):
    plan = ok(_draft(client, world, ratio=None, count=3), 201)
    ok(client.post(f"/api/v1/plans/{plan['id']}/submit", headers=world.planner))
    # The directory shrinks between submission and approval: 3 of 40 is above 5 %.
    for ent in world.enterprises[:20]:
        session.execute(update(Enterprise).where(Enterprise.id == ent.id).values(status="cancelled"))
    session.commit()
    body = ok(client.post(f"/api/v1/plans/{plan['id']}/approve", headers=world.approver), 422)
    assert "共 40 户" in body["message"]


def test_key_area_must_state_its_cap_and_stays_under_it(client, world):
    body = ok(_draft(client, world, is_key_area=True, ratio="0.08", key_area_basis="特种设备"), 422)
    assert CAP_RULE in body["errors"]["key_area_cap"][0]
    plan = ok(
        _draft(
            client, world, is_key_area=True, key_area_cap="0.1", key_area_basis="上级具体要求", ratio="0.08"
        ),
        201,
    )
    assert plan["cap"] == "0.1"
    ok(client.post(f"/api/v1/plans/{plan['id']}/submit", headers=world.planner))
    ok(client.post(f"/api/v1/plans/{plan['id']}/reject", json={"reason": "调高"}, headers=world.approver))
    ok(client.patch(f"/api/v1/plans/{plan['id']}", json={"ratio": "0.12"}, headers=world.planner))
    body = ok(client.post(f"/api/v1/plans/{plan['id']}/submit", headers=world.planner), 422)
    assert "重点领域计划明确的上限 10%" in body["message"]
