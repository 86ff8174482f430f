"""一公开: publish, withhold only with the department head's approval (archived, not deleted), deadline
warnings and the overdue list, and entry and publication rates with what blocks 100 %."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from backend.models import AuditEntry, Department, InspectionForm, InspectionResult
from backend.services import publication
from backend.services.audit import verify_chain
from tests import factories


def china(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour - 8, 0, tzinfo=UTC)


class Dept:
    """A department with its staff: supervisor (经办人), approver (主要负责人), planner."""

    def __init__(self, app, session) -> None:
        self.dept = factories.make_department(session)
        self.sup_user = factories.make_user(
            session, roles=["supervisor"], department=self.dept, display_name="审核人甲"
        )
        self.head_user = factories.make_user(
            session, roles=["approver"], department=self.dept, display_name="局长乙"
        )
        self.planner_user = factories.make_user(session, roles=["planner"], department=self.dept)
        self.sup = factories.auth_headers(app, self.sup_user)
        self.head = factories.auth_headers(app, self.head_user)
        self.planner = factories.auth_headers(app, self.planner_user)
        self.session = session

    def result(self, **kw):
        form = factories.make_submitted_form(
            self.session, department=self.dept, submitted_at=kw.pop("submitted_at", None)
        )
        return factories.make_result(self.session, form=form, actor=self.sup_user, **kw)


@pytest.fixture
def a(app, session):
    return Dept(app, session)


def test_publish_by_supervisor_or_head_not_others(client, session, app, a, token_for):
    r1, r2 = a.result(), a.result()
    assert client.post(f"/api/v1/results/{r1.id}/publish", headers=a.planner).status_code == 403
    assert client.post(f"/api/v1/results/{r1.id}/publish", headers=token_for("supervisor")).status_code == 404
    assert (
        client.post(
            f"/api/v1/results/{r1.id}/publish", headers=token_for("inspector", department=a.dept)
        ).status_code
        == 403
    )
    assert client.post(f"/api/v1/results/{r1.id}/publish", headers=token_for("admin")).status_code == 403
    resp = client.post(f"/api/v1/results/{r1.id}/publish", headers=a.sup)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["publication_status"] == "published" and body["published_on_time"] is True
    assert body["public_url"].endswith(f"/results/{r1.id}") and body["published_by"]["name"] == "审核人甲"
    assert client.post(f"/api/v1/results/{r1.id}/publish", headers=a.sup).status_code == 409
    assert client.post(f"/api/v1/results/{r2.id}/publish", headers=a.head).status_code == 200
    form = session.get(InspectionForm, r1.form_id, populate_existing=True)
    assert form.status == "closed"  # published, no follow-up open: 办结


def test_bulk_publish_reports_each(client, a, token_for):
    r1, r2 = a.result(), a.result()
    other = factories.make_result(a.session)
    client.post(f"/api/v1/results/{r2.id}/publish", headers=a.sup)
    resp = client.post(
        "/api/v1/results/publish", headers=a.sup, json={"result_ids": [str(r1.id), str(r2.id), str(other.id)]}
    )
    assert resp.status_code == 200
    outcome = {o["id"]: (o["status"], o["code"]) for o in resp.get_json()["results"]}
    assert outcome == {
        str(r1.id): ("published", 200),
        str(r2.id): ("rejected", 409),
        str(other.id): ("rejected", 404),
    }


def test_withhold_needs_reason_and_the_heads_approval_then_is_archived(client, session, a, token_for):
    r = a.result(details="涉及商业秘密的检查细节")
    url = f"/api/v1/results/{r.id}"
    assert client.post(f"{url}/withhold", headers=a.sup, json={"reason": ""}).status_code == 422
    assert client.post(f"{url}/withhold", headers=a.head, json={"reason": "涉及商业秘密"}).status_code == 403
    resp = client.post(
        f"{url}/withhold",
        headers=a.sup,
        json={"reason": "涉及商业秘密，依据《政府信息公开条例》第十五条不予公开"},
    )
    assert resp.status_code == 200 and resp.get_json()["withhold"]["status"] == "requested"
    # while the head decides, it can be neither published nor asked for again
    assert client.post(f"{url}/publish", headers=a.sup).status_code == 409
    assert client.post(f"{url}/withhold", headers=a.sup, json={"reason": "再次申请"}).status_code == 409
    # the supervisor cannot approve; another department's head cannot even see it
    assert client.post(f"{url}/withhold/decision", headers=a.sup, json={"approve": True}).status_code == 403
    other_head = token_for("approver")
    assert (
        client.post(f"{url}/withhold/decision", headers=other_head, json={"approve": True}).status_code == 404
    )
    decided = client.post(f"{url}/withhold/decision", headers=a.head, json={"approve": True, "note": "同意"})
    assert decided.status_code == 200, decided.get_json()
    body = decided.get_json()
    assert body["publication_status"] == "withheld" and body["archived"] is True and body["archived_at"]
    assert body["withhold"]["decided_by"]["name"] == "局长乙"
    assert client.post(f"{url}/publish", headers=a.sup).status_code == 409
    # archived, not deleted: still readable by the department, with the reason
    again = client.get(url, headers=a.sup).get_json()
    assert (
        again["withhold"]["reason"].startswith("涉及商业秘密")
        and again["details"] == "涉及商业秘密的检查细节"
    )
    actions = list(
        session.execute(select(AuditEntry.action).where(AuditEntry.entity_id == str(r.id))).scalars()
    )
    assert {"result.withhold_request", "result.withhold_approve", "credit.record"} <= set(actions)
    assert verify_chain(session=session).ok


def test_the_requester_cannot_approve_their_own_withhold(client, session, app):
    dept = factories.make_department(session)
    both = factories.make_user(session, roles=["supervisor", "approver"], department=dept)
    headers = factories.auth_headers(app, both)
    form = factories.make_submitted_form(session, department=dept)
    r = factories.make_result(session, form=form, actor=both)
    client.post(f"/api/v1/results/{r.id}/withhold", headers=headers, json={"reason": "涉及个人隐私"})
    resp = client.post(f"/api/v1/results/{r.id}/withhold/decision", headers=headers, json={"approve": True})
    assert resp.status_code == 403 and "本人" in resp.get_json()["message"]


def test_rejected_withhold_goes_back_to_be_published(client, a):
    r = a.result()
    url = f"/api/v1/results/{r.id}"
    client.post(f"{url}/withhold", headers=a.planner, json={"reason": "经办人认为涉及隐私"})
    assert client.post(f"{url}/withhold/decision", headers=a.head, json={"approve": False}).status_code == 422
    resp = client.post(
        f"{url}/withhold/decision", headers=a.head, json={"approve": False, "note": "不属于不予公开情形"}
    )
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["publication_status"] == "pending" and body["withhold"]["status"] == "rejected"
    assert client.post(f"{url}/publish", headers=a.sup).status_code == 200


def test_rates_and_what_blocks_100_percent(client, session, app, a, token_for):
    published = a.result()
    client.post(f"/api/v1/results/{published.id}/publish", headers=a.sup)
    pending = a.result()
    withheld = a.result()
    client.post(f"/api/v1/results/{withheld.id}/withhold", headers=a.sup, json={"reason": "涉及国家安全"})
    client.post(f"/api/v1/results/{withheld.id}/withhold/decision", headers=a.head, json={"approve": True})
    awaiting = a.result()
    client.post(f"/api/v1/results/{awaiting.id}/withhold", headers=a.sup, json={"reason": "涉及商业秘密"})
    not_entered = factories.make_submitted_form(session, department=a.dept)
    returned = factories.make_form(
        session, department=a.dept, status="returned", submitted_at=china(date(2026, 11, 2))
    )
    factories.make_form(session, department=a.dept, status="in_progress")  # not completed: not owed yet

    resp = client.get("/api/v1/publication/rates", headers=a.sup)
    assert resp.status_code == 200, resp.get_json()
    [row] = resp.get_json()
    assert row["department"]["id"] == str(a.dept.id)
    assert (row["completed"], row["entered"], row["published"], row["withheld"], row["to_publish"]) == (
        6,
        4,
        1,
        1,
        3,
    )
    assert row["entry_rate"] == round(4 / 6, 4) and row["publication_rate"] == round(1 / 3, 4)
    blockers = row["blockers"]
    assert {b["form_code"] for b in blockers["not_entered"]} == {not_entered.code, returned.code}
    assert [b["result_id"] for b in blockers["not_published"]] == [str(pending.id)]
    assert [b["result_id"] for b in blockers["withhold_awaiting_approval"]] == [str(awaiting.id)]
    assert row["blocker_counts"]["not_entered"] == 2
    # another department's staff see only their own (empty) department
    assert client.get("/api/v1/publication/rates", headers=token_for("supervisor")).get_json() == []
    admin_rows = client.get(
        "/api/v1/publication/rates",
        query_string={"department_id": str(a.dept.id)},
        headers=token_for("admin"),
    ).get_json()
    assert [r["department"]["id"] for r in admin_rows] == [str(a.dept.id)]


def test_warnings_and_overdue_by_working_days(session, a):
    # completed 2026-10-15 -> deadline 2026-11-12; completed 2026-11-10 -> deadline 2026-12-08
    old = a.result(submitted_at=china(date(2026, 10, 15)))
    recent = a.result(submitted_at=china(date(2026, 11, 10)))
    not_entered = factories.make_submitted_form(
        session, department=a.dept, submitted_at=china(date(2026, 10, 20))
    )
    assert old.publication_deadline == date(2026, 11, 12) and recent.publication_deadline == date(2026, 12, 8)

    today = date(2026, 11, 9)  # Monday
    warn = publication.warnings(session=session, actor=a.sup_user, within=5, today=today)
    assert [(w["kind"], w["form_code"], w["workdays_left"]) for w in warn] == [
        ("publication", session.get(InspectionForm, old.form_id).code, 3)
    ]
    wide = publication.warnings(session=session, actor=a.sup_user, within=20, today=today)
    # recent's deadline is 21 working days away: just outside
    assert {w["form_code"] for w in wide} == {session.get(InspectionForm, old.form_id).code, not_entered.code}
    late = publication.overdue(session=session, actor=a.sup_user, today=date(2026, 11, 18))
    assert [(w["kind"], w["overdue"]) for w in late] == [("publication", True), ("entry", True)]
    assert late[1]["deadline"] == date(2026, 11, 17) and late[1]["form_code"] == not_entered.code
    publication.publish(session=session, actor=a.sup_user, result_id=old.id)
    assert [
        w["kind"] for w in publication.overdue(session=session, actor=a.sup_user, today=date(2026, 11, 18))
    ] == ["entry"]


def test_overdue_and_warning_endpoints(client, session, a, token_for):
    a.result(submitted_at=china(date(2025, 3, 3)))  # long overdue
    resp = client.get("/api/v1/publication/overdue", headers=a.sup)
    assert resp.status_code == 200 and len(resp.get_json()) == 1 and resp.get_json()[0]["overdue"]
    warn = client.get("/api/v1/publication/warnings", query_string={"within": 5}, headers=a.sup)
    assert warn.status_code == 200 and warn.get_json() == []
    assert client.get("/api/v1/publication/overdue", headers=token_for("supervisor")).get_json() == []
    assert client.get("/api/v1/publication/overdue", headers=token_for("witness")).status_code == 403


def test_results_list_scope_and_filters(client, session, a, token_for):
    r = a.result()
    other = factories.make_result(session)
    rows = client.get("/api/v1/results", headers=a.planner).get_json()
    assert [x["id"] for x in rows] == [str(r.id)]
    assert (
        client.get(
            "/api/v1/results", query_string={"publication_status": "published"}, headers=a.sup
        ).get_json()
        == []
    )
    ent = session.get(factories.Enterprise, r.enterprise_id)
    assert [
        x["id"] for x in client.get("/api/v1/results", query_string={"q": ent.uscc}, headers=a.sup).get_json()
    ] == [str(r.id)]
    assert client.get(f"/api/v1/results/{other.id}", headers=a.sup).status_code == 404
    assert client.get(f"/api/v1/results/{r.id}", headers=token_for("witness")).status_code == 403
    dept = session.get(Department, other.department_id)
    assert session.execute(select(InspectionResult).where(InspectionResult.department_id == dept.id)).first()
