"""Tasks under a plan in force: items, scope, strata, weights, exclusions, the cap, team rules, deadlines."""

from __future__ import annotations

import pytest

from backend.services.population import CAP_RULE
from tests import factories
from tests.backend import planning_world as pw
from tests.backend.planning_world import ok


@pytest.fixture
def world(session, token_for, app):
    return pw.build_world(session, token_for, app, enterprises=60, inspectors_per_department=3)


@pytest.fixture
def plan(client, world):
    return pw.published_plan(client, world)


def _population(client, world, task):
    notice = ok(client.post(f"/api/v1/tasks/{task['id']}/notice", json={}, headers=world.planner), 201)
    csv = client.get(f"/api/v1/public/draws/{notice['draw_id']}/population.csv").data.decode()
    rows = [line.split(",") for line in csv.strip().split("\n")[1:]]
    return notice, {r[0]: (r[1], r[2]) for r in rows}


def test_create_defaults(client, world, plan):
    task = pw.task(client, world, plan)
    assert task["status"] == "draft" and task["code"].startswith("RW2026-")
    assert task["department_ids"] == [str(world.lead.id), str(world.partner.id)]
    assert task["inspectors_per_target"] == {str(world.lead.id): 2, str(world.partner.id): 2}
    assert task["window_end"] == "2026-11-20" and task["pairing_lookback_months"] == 12
    assert task["deadlines"]["complete_by"] == "2026-11-20"
    assert task["deadlines"]["results_by"] == "2026-12-18"  # 20 工作日 after 11-20
    assert ok(client.get(f"/api/v1/tasks/{task['id']}", headers=world.planner_partner))["id"] == task["id"]
    listed = ok(client.get(f"/api/v1/tasks?plan_id={plan['id']}", headers=world.planner))
    assert [t["id"] for t in listed] == [task["id"]]


def test_only_under_a_published_plan_and_by_its_lead_planner(client, world, session):
    draft = factories.make_plan(
        session, lead=world.lead, status="approved", items=[world.item_lead, world.item_partner]
    )
    body = {"plan_id": str(draft.id), "name": "x", "item_version_ids": [str(world.item_lead.id)]}
    ok(client.post("/api/v1/tasks", json=body, headers=world.planner), 409)
    plan = pw.published_plan(client, world)
    body["plan_id"] = plan["id"]
    ok(client.post("/api/v1/tasks", json=body, headers=world.planner_partner), 403)
    ok(client.post("/api/v1/tasks", json=body, headers=world.approver), 403)
    ok(client.post("/api/v1/tasks", json=body, headers=world.witness), 403)


def test_items_must_be_published_versions_from_the_plan(client, world, session, plan):
    outside = factories.make_item(session, department=world.lead)
    draft = factories.make_item(session, department=world.lead, published=False)
    for version in (outside, draft):
        body = ok(
            client.post(
                "/api/v1/tasks",
                json={"plan_id": plan["id"], "name": "x", "item_version_ids": [str(version.id)]},
                headers=world.planner,
            ),
            422,
        )
        assert body["errors"]["item_version_ids"]
    # A participating department with no item of its own in the task has nothing to check.
    body = ok(
        client.post(
            "/api/v1/tasks",
            json={
                "plan_id": plan["id"],
                "name": "x",
                "item_version_ids": [str(world.item_lead.id)],
                "department_ids": [str(world.partner.id)],
            },
            headers=world.planner,
        ),
        422,
    )
    assert "没有抽查事项" in body["errors"]["department_ids"][0]


def test_ratio_cap_at_task_creation(client, world, plan):
    body = ok(
        client.post(
            "/api/v1/tasks",
            json={
                "plan_id": plan["id"],
                "name": "x",
                "item_version_ids": [str(world.item_lead.id)],
                "ratio": "0.06",
            },
            headers=world.planner,
        ),
        422,
    )
    assert CAP_RULE in body["message"]
    body = ok(
        client.post(
            "/api/v1/tasks",
            json={
                "plan_id": plan["id"],
                "name": "x",
                "item_version_ids": [str(world.item_lead.id)],
                "count": 4,
            },
            headers=world.planner,
        ),
        422,
    )
    assert "最多抽取 3 户" in body["message"]
    # The cap is over the population the task draws from: a narrower scope allows fewer.
    body = ok(
        client.post(
            "/api/v1/tasks",
            json={
                "plan_id": plan["id"],
                "name": "x",
                "item_version_ids": [str(world.item_lead.id)],
                "count": 1,
                "target_filters": {"industry_codes": ["F"]},
                "strata_key": "industry_code",
            },
            headers=world.planner,
        ),
        201,
    )
    assert body["count"] == 1 and body["ratio"] is None


def test_key_area_plan_allows_its_own_cap(client, world):
    plan = pw.published_plan(
        client, world, is_key_area=True, key_area_cap="0.2", key_area_basis="特种设备安全", ratio="0.15"
    )
    task = pw.task(client, world, plan, ratio=None, count=12)  # 12 / 60 = 20 %
    notice = ok(client.post(f"/api/v1/tasks/{task['id']}/notice", json={}, headers=world.planner), 201)
    assert notice["total"] == 12 and notice["parameters"]["max_ratio"] == "0.2"
    body = ok(
        client.post(
            "/api/v1/tasks",
            json={
                "plan_id": plan["id"],
                "name": "x",
                "item_version_ids": [str(world.item_lead.id)],
                "count": 13,
            },
            headers=world.planner,
        ),
        422,
    )
    assert "重点领域计划明确的上限 20%" in body["message"]


def test_plan_count_is_a_budget_shared_by_its_tasks(client, world):
    plan = pw.published_plan(client, world, ratio=None, count=3)
    first = pw.task(client, world, plan, ratio=None, count=2)
    ok(client.post(f"/api/v1/tasks/{first['id']}/notice", json={}, headers=world.planner), 201)
    second = pw.task(client, world, plan, ratio=None, count=2)
    body = ok(client.post(f"/api/v1/tasks/{second['id']}/notice", json={}, headers=world.planner), 422)
    assert "超过年度计划的抽查数量 3 户" in body["message"]


def test_team_rules(client, world, plan):
    body = ok(
        client.post(
            "/api/v1/tasks",
            json={
                "plan_id": plan["id"],
                "name": "x",
                "item_version_ids": [str(world.item_lead.id)],
                "inspectors_per_target": 1,
            },
            headers=world.planner,
        ),
        422,
    )
    assert "至少需要 2 名" in body["message"]
    task = pw.task(client, world, plan, inspectors_per_target=3, workload_cap=5)
    assert set(task["inspectors_per_target"].values()) == {3}
    notice = ok(client.post(f"/api/v1/tasks/{task['id']}/notice", json={}, headers=world.planner), 201)
    assert notice["parameters"]["inspectors_per_target"] == 3 and notice["parameters"]["workload_cap"] == 5


def test_edit_only_while_draft(client, world, plan):
    task = pw.task(client, world, plan)
    edited = ok(
        client.patch(
            f"/api/v1/tasks/{task['id']}",
            json={"ratio": "0.04", "strata_key": "industry_code"},
            headers=world.planner,
        )
    )
    assert edited["ratio"] == "0.04" and edited["strata_key"] == "industry_code"
    ok(
        client.patch(f"/api/v1/tasks/{task['id']}", json={"ratio": "0.04"}, headers=world.planner_partner),
        403,
    )
    ok(client.post(f"/api/v1/tasks/{task['id']}/notice", json={}, headers=world.planner), 201)
    ok(client.patch(f"/api/v1/tasks/{task['id']}", json={"name": "改"}, headers=world.planner), 409)


def test_population_excludes_cancelled_revoked_moved_out_and_applies_strata_and_weights(client, world, plan):
    task = pw.task(client, world, plan, strata_key="industry_code")
    notice, rows = _population(client, world, task)
    assert len(rows) == 60 and not ({e.uscc for e in world.excluded} & set(rows))
    assert {stratum for stratum, _ in rows.values()} == {"F5211", "H6210"}
    by_uscc = {e.uscc: e for e in world.enterprises}
    plain = next(
        e for e in world.enterprises if not e.abnormal_list and e.complaints_count == 0 and e.risk_level == 1
    )
    flagged = next(
        e for e in world.enterprises if e.abnormal_list and e.complaints_count == 0 and e.risk_level == 1
    )
    assert rows[plain.uscc][1] == "1.000000"
    assert rows[flagged.uscc][1] == "2.000000"  # 经营异常名录: higher inclusion probability
    heavier = [u for u, (_, w) in rows.items() if float(w) > 1]
    assert heavier and all(
        by_uscc[u].abnormal_list or by_uscc[u].complaints_count or by_uscc[u].risk_level > 1 for u in heavier
    )
    assert [s["stratum"] for s in notice["notice"]["strata"]] == ["F5211", "H6210"]


def test_scope_filters(client, world, plan, session):
    other = factories.make_enterprise(session, region_code="510811")
    task = pw.task(client, world, plan, target_filters={"region_codes": ["510802"]})
    _notice, rows = _population(client, world, task)
    assert len(rows) == 60 and other.uscc not in rows
    ok(
        client.post(
            "/api/v1/tasks",
            json={
                "plan_id": plan["id"],
                "name": "x",
                "item_version_ids": [str(world.item_lead.id)],
                "target_filters": {"statuses": ["cancelled"]},
            },
            headers=world.planner,
        ),
        422,
    )
    ok(
        client.post(
            "/api/v1/tasks",
            json={
                "plan_id": plan["id"],
                "name": "x",
                "item_version_ids": [str(world.item_lead.id)],
                "target_filters": {"colour": "red"},
            },
            headers=world.planner,
        ),
        422,
    )


def test_flagged_only_scope(client, world):
    # 投诉举报多、列入经营异常名录的市场主体 may be a 重点领域 with a higher stated cap.
    plan = pw.published_plan(
        client, world, is_key_area=True, key_area_cap="0.5", key_area_basis="加大抽查比例"
    )
    task = pw.task(client, world, plan, target_filters={"flagged_only": True}, ratio=None, count=2)
    _notice, rows = _population(client, world, task)
    assert set(rows) == {e.uscc for e in world.enterprises if e.abnormal_list}


def test_exclude_enterprises_inspected_for_the_same_item_recently(client, world, session, plan):
    out = pw.drawn_task(client, world)
    ok(client.post(f"/api/v1/tasks/{out['task']['id']}/draw/dispatch", headers=world.planner))
    record = client.get(f"/api/v1/public/draws/{out['draw']['id']}/record.json").get_json()
    inspected = {e[0] for s in record["selection"]["strata"] for e in s["selected"]}
    again = pw.task(client, world, plan, exclude_inspected_months=6)
    _notice, rows = _population(client, world, again)
    assert len(rows) == 57 and not (inspected & set(rows))
    # Without the option they stay in.
    third = pw.task(client, world, plan)
    _notice, rows = _population(client, world, third)
    assert inspected <= set(rows)


def test_dates_within_the_plan(client, world, plan):
    ok(
        client.post(
            "/api/v1/tasks",
            json={
                "plan_id": plan["id"],
                "name": "x",
                "item_version_ids": [str(world.item_lead.id)],
                "window_end": "2026-12-01",
            },
            headers=world.planner,
        ),
        422,
    )
    ok(
        client.post(
            "/api/v1/tasks",
            json={
                "plan_id": plan["id"],
                "name": "x",
                "item_version_ids": [str(world.item_lead.id)],
                "inspection_date": "2026-02-01",
            },
            headers=world.planner,
        ),
        422,
    )  # before the plan's window (2026-03-01)


def test_notice_needs_an_inspection_date(client, world, plan):
    task = pw.task(client, world, plan, inspection_date=None)
    body = ok(client.post(f"/api/v1/tasks/{task['id']}/notice", json={}, headers=world.planner), 422)
    assert "inspection_date" in body["errors"]


def test_tasks_listing_scope(client, app, world, plan, session):
    task = pw.task(client, world, plan)
    assert ok(client.get("/api/v1/tasks", headers=world.witness)) == []  # drafts are not public yet
    ok(client.post(f"/api/v1/tasks/{task['id']}/notice", json={}, headers=world.planner), 201)
    assert [t["id"] for t in ok(client.get("/api/v1/tasks", headers=world.witness))] == [task["id"]]
    outsider = factories.auth_headers(app, factories.make_user(session, roles=["supervisor"]))
    assert ok(client.get("/api/v1/tasks", headers=outsider)) == []
    ok(client.get(f"/api/v1/tasks/{task['id']}", headers=outsider), 404)
    ok(
        client.get("/api/v1/tasks", headers=factories.auth_headers(app, world.inspector_users["SCJG"][0])),
        403,
    )


def test_deadlines_note_when_the_results_year_is_not_covered(client, world):
    plan = pw.published_plan(client, world, deadline="2026-12-20")
    task = pw.task(client, world, plan)
    assert task["deadlines"]["results_by"] is None
    assert "2027" in task["deadlines"]["results_note"]
