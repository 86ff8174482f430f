"""Results: standard categories per form and per item, 20-working-day deadlines over holidays, amendments,
follow-ups tracked until closed, and credit linkage feeding the next draw's weights."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from backend.models import CalendarOverride, CreditRecord, Department, Enterprise, InspectionForm
from backend.services import results as results_service
from backend.services.population import Exclusions, PopulationSpec, normalize_filters, population_rows
from tests import factories


def china(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour - 8, 0, tzinfo=UTC)


def dept_of(session, form) -> Department:
    return session.get(Department, form.lead_department_id)


@pytest.fixture
def supervisor(session):
    def make(form):
        return factories.make_user(session, roles=["supervisor"], department=dept_of(session, form))

    return make


# --------------------------------------------------------------------------------------------- categories


def test_the_ten_standard_categories_with_codes_and_labels(client, token_for):
    resp = client.get("/api/v1/results/categories", headers=token_for("inspector"))
    assert resp.status_code == 200
    cats = resp.get_json()
    assert len(cats) == 10
    labels = [c["label"] for c in cats]
    assert labels[0] == "未发现问题" and "通过登记的住所（经营场所）无法联系" in labels
    assert "检查对象已注销/被吊销/被撤销/已迁出" in labels and "不配合检查情节严重" in labels
    by_code = {c["code"]: c for c in cats}
    assert by_code["unreachable_at_address"]["whole_form"] and by_code["refused_inspection"]["problem"]
    assert not by_code["no_related_activity"]["problem"]


def test_labels_and_codes_both_normalise():
    assert results_service.normalize_category("通过登记的住所(经营场所)无法联系") == "unreachable_at_address"
    assert results_service.normalize_category("检查对象已注销、被吊销、被撤销、已迁出") == "deregistered"
    assert results_service.normalize_category("problem_corrected") == "problem_corrected"


# ------------------------------------------------------------------------------------------------- deadlines


@pytest.mark.parametrize(
    ("completed", "deadline"),
    [
        # National Day 2026: 10-01..10-07 off, Saturday 10-10 a working day
        (date(2026, 9, 25), date(2026, 10, 29)),
        (date(2026, 9, 30), date(2026, 11, 3)),
        # Spring Festival 2026: 02-15..02-23 off, Saturdays 02-14 and 02-28 working days
        (date(2026, 2, 10), date(2026, 3, 16)),
        (date(2026, 2, 13), date(2026, 3, 19)),
    ],
)
def test_deadline_is_20_working_days_over_holidays(client, session, supervisor, completed, deadline):
    form = factories.make_submitted_form(session, submitted_at=china(completed))
    sup = supervisor(form)
    result = factories.make_result(session, form=form, actor=sup)
    assert result.completed_on == completed
    assert result.entry_deadline == deadline and result.publication_deadline == deadline
    assert not result.deadline_estimated


def test_a_local_override_moves_the_deadline(session, supervisor):
    session.add(CalendarOverride(day=date(2026, 10, 12), is_workday=False, note="地方调休"))
    session.commit()
    form = factories.make_submitted_form(session, submitted_at=china(date(2026, 9, 25)))
    result = factories.make_result(session, form=form, actor=supervisor(form))
    assert result.publication_deadline == date(2026, 10, 30)


def test_completion_is_the_china_date_of_the_first_submission(session, supervisor):
    # 2026-09-30 23:30 in China is still 09-30 (15:30 UTC)
    form = factories.make_submitted_form(session, submitted_at=datetime(2026, 9, 30, 15, 30, tzinfo=UTC))
    result = factories.make_result(session, form=form, actor=supervisor(form))
    assert result.completed_on == date(2026, 9, 30)


def test_a_year_the_calendar_does_not_know_is_estimated_not_refused(session, supervisor):
    form = factories.make_submitted_form(session, submitted_at=china(date(2031, 3, 3)))
    result = factories.make_result(session, form=form, actor=supervisor(form))
    assert result.deadline_estimated and result.publication_deadline == date(2031, 3, 31)


# ------------------------------------------------------------------------------------------------ per item


def joint_form(session):
    dept = factories.make_department(session)
    partner = factories.make_department(session, name="合作部门")
    a = factories.make_item(
        session, department=dept, name="年度报告公示", code=f"IT-A-{uuid.uuid4().hex[:8]}"
    )
    b = factories.make_item(
        session, department=partner, name="食品经营许可", code=f"IT-B-{uuid.uuid4().hex[:8]}"
    )
    checkpoints = [
        {
            "key": "a1",
            "question": "是否按时公示年报",
            "item_version_id": str(a.id),
            "item_code": "A",
            "item_name": "年度报告公示",
            "department_id": str(dept.id),
            "answer_kind": "pass_fail",
        },
        {
            "key": "b1",
            "question": "许可证是否在有效期",
            "item_version_id": str(b.id),
            "item_code": "B",
            "item_name": "食品经营许可",
            "department_id": str(partner.id),
            "answer_kind": "pass_fail",
        },
    ]
    return (
        factories.make_submitted_form(
            session,
            department=dept,
            checkpoints=checkpoints,
            department_ids=[str(dept.id), str(partner.id)],
            answers={"a1": "fail", "b1": "pass"},
        ),
        a,
        b,
    )


def test_item_categories_follow_the_answers_unless_given(client, session, app):
    form, a, b = joint_form(session)
    sup = factories.make_user(session, roles=["supervisor"], department=dept_of(session, form))
    headers = factories.auth_headers(app, sup)
    detail = client.get(f"/api/v1/review/forms/{form.id}", headers=headers).get_json()
    assert {i["item_name"] for i in detail["items"]} == {"年度报告公示", "食品经营许可"}
    resp = client.post(
        f"/api/v1/review/forms/{form.id}/approve",
        headers=headers,
        json={"category": "info_not_disclosed", "details": "未按时公示年报"},
    )
    assert resp.status_code == 201, resp.get_json()
    items = {i["item_version_id"]: i["category"]["code"] for i in resp.get_json()["items"]}
    assert items == {str(a.id): "info_not_disclosed", str(b.id): "no_problem"}

    form2, a2, b2 = joint_form(session)
    sup2 = factories.auth_headers(
        app, factories.make_user(session, roles=["supervisor"], department=dept_of(session, form2))
    )
    whole = client.post(
        f"/api/v1/review/forms/{form2.id}/approve",
        headers=sup2,
        json={"category": "通过登记的住所（经营场所）无法联系"},
    ).get_json()
    assert {i["category"]["code"] for i in whole["items"]} == {"unreachable_at_address"}

    form3, a3, b3 = joint_form(session)
    sup3 = factories.auth_headers(
        app, factories.make_user(session, roles=["supervisor"], department=dept_of(session, form3))
    )
    given = client.post(
        f"/api/v1/review/forms/{form3.id}/approve",
        headers=sup3,
        json={
            "category": "problem_corrected",
            "items": [
                {
                    "item_key": str(b3.id),
                    "category": "发现问题已责令改正",
                    "details": "许可证过期，已责令改正",
                }
            ],
        },
    ).get_json()
    items = {i["item_version_id"]: (i["category"]["code"], i["details"]) for i in given["items"]}
    assert items[str(b3.id)] == ("problem_corrected", "许可证过期，已责令改正")
    assert items[str(a3.id)][0] == "problem_corrected"  # a1 failed
    bad = client.post(
        f"/api/v1/review/forms/{factories.make_submitted_form(session).id}/approve",
        headers=sup3,
        json={"items": [{"item_key": "nope", "category": "no_problem"}]},
    )
    assert bad.status_code in (403, 404)  # another department's form


# ----------------------------------------------------------------------------------------------- amending


def test_amend_before_publication_only(client, session, app):
    form = factories.make_submitted_form(session)
    sup = factories.make_user(session, roles=["supervisor"], department=dept_of(session, form))
    headers = factories.auth_headers(app, sup)
    result = factories.make_result(session, form=form, actor=sup)
    url = f"/api/v1/results/{result.id}"
    resp = client.patch(
        url, headers=headers, json={"version": 1, "category": "problem_corrected", "details": "现场责令改正"}
    )
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["category"]["code"] == "problem_corrected" and body["version"] == 2
    assert client.patch(url, headers=headers, json={"version": 1, "details": "x"}).status_code == 409
    planner = factories.auth_headers(
        app, factories.make_user(session, roles=["planner"], department=dept_of(session, form))
    )
    assert client.patch(url, headers=planner, json={"details": "x"}).status_code == 403
    assert client.post(f"{url}/publish", headers=headers).status_code == 200
    assert client.patch(url, headers=headers, json={"details": "改"}).status_code == 409


# ---------------------------------------------------------------------------------------------- follow-ups


def test_follow_up_from_open_to_closed_with_history_and_form_closes(client, session, app):
    form = factories.make_submitted_form(session)
    sup_user = factories.make_user(session, roles=["supervisor"], department=dept_of(session, form))
    sup = factories.auth_headers(app, sup_user)
    other_dept = factories.make_department(session, name="县卫生健康局")
    due = date.today() + timedelta(days=10)
    result = factories.make_result(
        session,
        form=form,
        actor=sup_user,
        category="problem_pending",
        follow_ups=[{"kind": "rectification", "deadline": due, "description": "限期整改"}],
    )
    [rect] = client.get(f"/api/v1/results/{result.id}/follow-ups", headers=sup).get_json()
    assert (
        rect["kind_label"] == "责令整改" and rect["deadline"] == due.isoformat() and rect["status"] == "open"
    )
    assert rect["history"][0]["action"] == "opened"

    transfer = client.post(
        f"/api/v1/results/{result.id}/follow-ups",
        headers=sup,
        json={
            "kind": "transfer_department",
            "target_department_id": str(other_dept.id),
            "description": "涉及卫生许可，移送县卫健局",
        },
    )
    assert transfer.status_code == 201, transfer.get_json()
    judicial = client.post(
        f"/api/v1/results/{result.id}/follow-ups", headers=sup, json={"kind": "transfer_judicial"}
    )
    assert judicial.status_code == 422 and "target_authority" in judicial.get_json()["errors"]

    publish = client.post(f"/api/v1/results/{result.id}/publish", headers=sup)
    assert publish.status_code == 200
    assert (
        session.get(InspectionForm, form.id, populate_existing=True).status == "approved"
    )  # follow-ups open

    url = f"/api/v1/follow-ups/{rect['id']}"
    moved = client.patch(
        url,
        headers=sup,
        json={"deadline": (due + timedelta(days=5)).isoformat(), "note": "企业申请延期，经批准"},
    )
    assert moved.status_code == 200 and moved.get_json()["deadline"] == (due + timedelta(days=5)).isoformat()
    assert client.patch(url, headers=sup, json={"action": "close"}).status_code == 422  # outcome required
    closed = client.patch(url, headers=sup, json={"action": "close", "outcome": "已整改到位，复查合格"})
    assert closed.status_code == 200 and closed.get_json()["status"] == "closed"
    client.patch(
        f"/api/v1/follow-ups/{transfer.get_json()['id']}",
        headers=sup,
        json={"action": "close", "outcome": "县卫健局已受理"},
    )
    assert session.get(InspectionForm, form.id, populate_existing=True).status == "closed"  # 办结

    reopened = client.patch(url, headers=sup, json={"action": "reopen", "note": "复查发现反弹"})
    assert reopened.status_code == 200
    history = [h["action"] for h in reopened.get_json()["history"]]
    assert history == ["opened", "updated", "closed", "reopened"]
    assert session.get(InspectionForm, form.id, populate_existing=True).status == "approved"
    listed = client.get("/api/v1/follow-ups", query_string={"status": "open"}, headers=sup).get_json()
    assert [f["id"] for f in listed] == [rect["id"]]
    outsider = factories.auth_headers(app, factories.make_user(session, roles=["supervisor"]))
    assert client.get(url, headers=outsider).status_code == 404
    assert client.get("/api/v1/follow-ups", headers=outsider).get_json() == []


# -------------------------------------------------------------------------------------------------- credit


def draw_weight(session, ent: Enterprise) -> Decimal:
    spec = PopulationSpec(
        filters=normalize_filters({"region_codes": [ent.region_code]}),
        strata_key="none",
        weight_rule=None,
        exclusions=Exclusions(),
    )
    rows = {row[0]: Decimal(row[2]) for row in population_rows(session, spec)}
    return rows[ent.uscc]


def test_unreachable_enterprise_is_proposed_for_abnormal_list_and_weighs_more_in_the_next_draw(
    client, session, app
):
    ent = factories.make_enterprise(session, region_code="510811", name="无法联系商贸有限公司")
    form = factories.make_submitted_form(
        session, enterprise=ent, proposed="通过登记的住所（经营场所）无法联系"
    )
    dept = dept_of(session, form)
    sup_user = factories.make_user(session, roles=["supervisor"], department=dept)
    sup = factories.auth_headers(app, sup_user)
    head = factories.auth_headers(app, factories.make_user(session, roles=["approver"], department=dept))
    before = draw_weight(session, ent)
    result = factories.make_result(session, form=form, actor=sup_user, category="unreachable_at_address")
    assert session.get(Enterprise, ent.id, populate_existing=True).risk_level == 1  # nothing until published

    assert client.post(f"/api/v1/results/{result.id}/publish", headers=sup).status_code == 200
    ent = session.get(Enterprise, ent.id, populate_existing=True)
    assert ent.risk_level == 2 and ent.abnormal_list is False  # the listing waits for the head
    raised = draw_weight(session, ent)
    assert raised > before

    [proposal] = client.get("/api/v1/credit/proposals", headers=head).get_json()
    assert proposal["flag"] == "abnormal_list" and proposal["enterprise"]["uscc"] == ent.uscc
    assert (
        client.post(
            f"/api/v1/credit/proposals/{proposal['id']}/decision", headers=sup, json={"approve": True}
        ).status_code
        == 403
    )
    decided = client.post(
        f"/api/v1/credit/proposals/{proposal['id']}/decision",
        headers=head,
        json={"approve": True, "note": "依法列入"},
    )
    assert decided.status_code == 200 and decided.get_json()["status"] == "approved"
    ent = session.get(Enterprise, ent.id, populate_existing=True)
    assert ent.abnormal_list is True
    assert draw_weight(session, ent) > raised
    again = client.post(
        f"/api/v1/credit/proposals/{proposal['id']}/decision", headers=head, json={"approve": True}
    )
    assert again.status_code == 409

    timeline = client.get(f"/api/v1/credit/enterprises/{ent.id}", headers=sup).get_json()
    kinds = {r["kind"]: r for r in timeline["records"]}
    assert set(kinds) == {"inspection_result", "risk_level", "flag_proposed", "flag_listed"}
    assert kinds["inspection_result"]["public"] and kinds["flag_listed"]["public"]
    assert not kinds["risk_level"]["public"] and not kinds["flag_proposed"]["public"]
    assert timeline["enterprise"]["risk_level"] == 2


def test_rejected_proposal_needs_a_reason_and_leaves_the_flag(client, session, app):
    form = factories.make_submitted_form(session)
    dept = dept_of(session, form)
    sup_user = factories.make_user(session, roles=["supervisor"], department=dept)
    head = factories.auth_headers(app, factories.make_user(session, roles=["approver"], department=dept))
    factories.make_result(session, form=form, actor=sup_user, category="info_falsified", publish=True)
    [proposal] = client.get("/api/v1/credit/proposals", headers=head).get_json()
    url = f"/api/v1/credit/proposals/{proposal['id']}/decision"
    assert client.post(url, headers=head, json={"approve": False}).status_code == 422
    assert (
        client.post(url, headers=head, json={"approve": False, "note": "已补正公示信息"}).status_code == 200
    )
    ent = session.get(Enterprise, form.enterprise_id, populate_existing=True)
    assert ent.abnormal_list is False and ent.risk_level == 3  # info_falsified raises two levels by default
    other_head = factories.auth_headers(app, factories.make_user(session, roles=["approver"]))
    assert (
        client.get(
            "/api/v1/credit/proposals", query_string={"status": "rejected"}, headers=other_head
        ).get_json()
        == []
    )


def test_credit_rules_are_configurable_by_the_administrator(client, session, app, token_for):
    admin = token_for("admin")
    rules = {r["category"]: r for r in client.get("/api/v1/credit/rules", headers=admin).get_json()}
    assert rules["unreachable_at_address"]["propose_flag"] == "abnormal_list"
    assert rules["no_problem"]["source"] == "default"
    resp = client.put(
        "/api/v1/credit/rules/refused_inspection",
        headers=admin,
        json={"risk_level_delta": 3, "propose_flag": "serious_violation", "note": "拒绝检查情节严重"},
    )
    assert resp.status_code == 200 and resp.get_json()["source"] == "configured"
    assert (
        client.put(
            "/api/v1/credit/rules/refused_inspection",
            headers=token_for("approver"),
            json={"risk_level_delta": 0},
        ).status_code
        == 403
    )
    assert (
        client.put("/api/v1/credit/rules/nope", headers=admin, json={"risk_level_delta": 0}).status_code
        == 404
    )
    assert (
        client.put("/api/v1/credit/rules/no_problem", headers=admin, json={"risk_level_delta": 9}).status_code
        == 422
    )

    form = factories.make_submitted_form(session)
    sup_user = factories.make_user(session, roles=["supervisor"], department=dept_of(session, form))
    result = factories.make_result(
        session, form=form, actor=sup_user, category="refused_inspection", publish=True
    )
    ent = session.get(Enterprise, form.enterprise_id, populate_existing=True)
    assert ent.risk_level == 4
    records = session.execute(select(CreditRecord).where(CreditRecord.result_id == result.id)).scalars().all()
    assert {r.kind for r in records} == {"inspection_result", "risk_level", "flag_proposed"}
