"""The public portal: zh-CN pages without sign-in, and nothing unpublished, withheld or personal ever
reachable — the rendered pages and the open-data files are searched for known private values."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import date

import pytest

from backend.models import AnnualPlan, FormSignature, InspectionForm
from backend.services import publication
from tests import factories
from tests.backend import planning_world as pw
from tests.backend.planning_world import ok

PRIVATE_ID = "510802199001011234"
PRIVATE_PHONE = "13987654321"
LEGAL_REP = "钱多多"
ENTERPRISE_REP = "孙代表"
ROLE_NAMED = "李大庆"


class Disclosed:
    """One published result full of personal data, and results that must stay out of sight."""

    def __init__(self, app, session) -> None:
        self.session = session
        dept = factories.make_department(session, name="利州区市场监督管理局")
        self.dept = dept
        self.sup = factories.make_user(session, roles=["supervisor"], department=dept)
        self.head = factories.make_user(session, roles=["approver"], department=dept)
        self.item = factories.make_item(
            session, department=dept, name="公开抽查事项甲", code=f"PUB-{uuid.uuid4().hex[:6]}"
        )
        self.draft_item = factories.make_item(
            session,
            department=dept,
            name="草稿事项不应公开",
            published=False,
            code=f"DRAFT-{uuid.uuid4().hex[:6]}",
        )
        session.add_all(
            [
                AnnualPlan(
                    name="2026年度公开抽查计划",
                    year=2026,
                    lead_department_id=dept.id,
                    deadline=date(2026, 11, 20),
                    created_by=self.sup.id,
                    status="published",
                    methods=["实地检查"],
                    ratio="0.03",
                ),
                AnnualPlan(
                    name="草稿计划不应公开",
                    year=2026,
                    lead_department_id=dept.id,
                    deadline=date(2026, 11, 20),
                    created_by=self.sup.id,
                    status="draft",
                ),
            ]
        )
        session.commit()

        self.public_ent = factories.make_enterprise(
            session, name="广元市公开商贸有限公司", legal_representative=LEGAL_REP, phone=PRIVATE_PHONE
        )
        form = factories.make_submitted_form(session, department=dept, enterprise=self.public_ent)
        session.add(
            FormSignature(
                form_id=form.id,
                signer="enterprise_rep",
                name=ENTERPRISE_REP,
                sha256="0" * 64,
                object_key="sha256/00/00/" + "0" * 64,
                inspector_id=_first_inspector(session, form),
                op_id=uuid.uuid4(),
            )
        )
        session.commit()
        self.published = factories.make_result(
            session,
            form=form,
            actor=self.sup,
            category="problem_corrected",
            details=(
                f"法定代表人{LEGAL_REP}在场，联系电话{PRIVATE_PHONE}，身份证号{PRIVATE_ID}，"
                f"企业代表{ENTERPRISE_REP}签字确认。负责人：{ROLE_NAMED}。经营场所未悬挂营业执照，已当场责令改正。"
            ),
            publish=True,
        )
        self.pending = self._result("未公示秘密企业有限公司", "UNPUBLISHED-SECRET-1")
        self.withheld = self._result("不予公示保密企业有限公司", "WITHHELD-SECRET-2")
        publication.request_withhold(
            session=session, actor=self.sup, result_id=self.withheld.id, reason="涉及商业秘密"
        )
        publication.decide_withhold(
            session=session, actor=self.head, result_id=self.withheld.id, approve=True
        )
        self.requested = self._result("申请不公示企业有限公司", "REQUESTED-SECRET-3")
        publication.request_withhold(
            session=session, actor=self.sup, result_id=self.requested.id, reason="涉及个人隐私"
        )
        self.not_entered = factories.make_submitted_form(
            session,
            department=dept,
            enterprise=factories.make_enterprise(session, name="尚未录入企业有限公司"),
        )
        self.private_strings = [
            LEGAL_REP,
            PRIVATE_PHONE,
            PRIVATE_ID,
            ENTERPRISE_REP,
            ROLE_NAMED,
            "19900101",
            "UNPUBLISHED-SECRET-1",
            "未公示秘密企业",
            "WITHHELD-SECRET-2",
            "不予公示保密企业",
            "REQUESTED-SECRET-3",
            "申请不公示企业",
            "尚未录入企业",
            "草稿事项不应公开",
            "草稿计划不应公开",
            "涉及商业秘密",
            "涉及个人隐私",
            "风险等级",  # internal credit records never reach the portal
            self.pending_uscc,
            self.withheld_uscc,
        ]

    def _result(self, name: str, details: str):
        ent = factories.make_enterprise(self.session, name=name, legal_representative="周某某")
        form = factories.make_submitted_form(self.session, department=self.dept, enterprise=ent)
        result = factories.make_result(
            self.session, form=form, actor=self.sup, category="info_falsified", details=details
        )
        setattr(
            self,
            {
                "UNPUBLISHED-SECRET-1": "pending_uscc",
                "WITHHELD-SECRET-2": "withheld_uscc",
                "REQUESTED-SECRET-3": "requested_uscc",
            }[details],
            ent.uscc,
        )
        return result


def _first_inspector(session, form):
    from sqlalchemy import select

    from backend.models import FormAssignment

    return (
        session.execute(select(FormAssignment.inspector_id).where(FormAssignment.form_id == form.id))
        .scalars()
        .first()
    )


@pytest.fixture
def disclosed(app, session):
    return Disclosed(app, session)


PAGES = [
    "/",
    "/items",
    "/plans",
    "/tasks",
    "/results",
    "/statistics",
    "/open-data",
    "/search?q=企业",
    "/search?q=有限公司",
    "/results?q=企业",
    "/results?category=info_falsified",
]
OPEN_DATA = [
    "/open-data/results.json",
    "/open-data/results.csv",
    "/open-data/items.json",
    "/open-data/items.csv",
    "/open-data/plans.json",
    "/open-data/plans.csv",
    "/open-data/tasks.json",
]


def text_of(resp) -> str:
    return resp.get_data(as_text=True)


def test_pages_are_public_zh_cn_and_phone_ready(client, disclosed):
    for url in PAGES:
        resp = client.get(url)
        assert resp.status_code == 200, url
        html = text_of(resp)
        assert '<html lang="zh-CN">' in html and 'name="viewport"' in html, url
        assert resp.headers["Cache-Control"].startswith("public"), url
        assert "<script" not in html, url  # server-rendered, no JS needed


def test_nothing_unpublished_withheld_or_personal_is_reachable(client, disclosed):
    r = disclosed.published
    pages = (
        PAGES
        + [
            f"/results/{r.id}",
            f"/enterprises/{disclosed.public_ent.uscc}",
            f"/search?q={disclosed.public_ent.uscc}",
        ]
        + OPEN_DATA
    )
    for url in pages:
        resp = client.get(url)
        assert resp.status_code == 200, url
        body = text_of(resp)
        if url.endswith(".json"):
            body += json.dumps(resp.get_json(), ensure_ascii=False)
        for secret in disclosed.private_strings:
            assert secret not in body, f"{secret!r} leaked on {url}"
    for result in (disclosed.pending, disclosed.withheld, disclosed.requested):
        resp = client.get(f"/results/{result.id}")
        assert resp.status_code == 404 and "<html" in text_of(resp)
    for uscc in (disclosed.pending_uscc, disclosed.withheld_uscc, disclosed.requested_uscc):
        assert client.get(f"/enterprises/{uscc}").status_code == 404
        found = text_of(client.get(f"/search?q={uscc}"))
        assert f"/enterprises/{uscc}" not in found and "/results/" not in found.split("抽查结果（")[1]
    assert client.get(f"/results/{uuid.uuid4()}").status_code == 404
    assert client.get("/results/not-a-uuid").status_code == 404


def test_published_result_is_shown_with_personal_data_masked(client, disclosed):
    r = disclosed.published
    html = text_of(client.get(f"/results/{r.id}"))
    assert "广元市公开商贸有限公司" in html and disclosed.public_ent.uscc in html
    assert "发现问题已责令改正" in html and "利州区市场监督管理局" in html
    assert "钱*" in html and "139****4321" in html and "510802***********4" in html
    assert "孙*" in html and "负责人：李*" in html and "经营场所未悬挂营业执照" in html
    listed = text_of(client.get("/results"))
    assert f"/results/{r.id}" in listed and "广元市公开商贸有限公司" in listed


def test_search_by_name_or_uscc_and_the_enterprise_credit_timeline(client, session, disclosed):
    ent = disclosed.public_ent
    for q in ("公开商贸", ent.uscc, ent.uscc.lower()):
        html = text_of(client.get("/search", query_string={"q": q}))
        assert f"/enterprises/{ent.uscc}" in html, q
    page = text_of(client.get(f"/enterprises/{ent.uscc}"))
    assert "信用记录" in page and "“双随机、一公开”抽查：发现问题已责令改正" in page
    assert f"/results/{disclosed.published.id}" in page and "钱*" in page
    assert text_of(client.get("/search", query_string={"q": "不存在的企业名称"})).count("/enterprises/") == 0


def test_open_data_files(client, disclosed):
    data = client.get("/open-data/results.json").get_json()
    assert data["count"] == 1 and data["results"][0]["id"] == str(disclosed.published.id)
    assert data["results"][0]["enterprise"]["legal_representative"] == "钱*"
    raw = client.get("/open-data/results.csv")
    assert raw.headers["Content-Type"].startswith("text/csv") and raw.data.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(raw.data.decode("utf-8-sig"))))
    assert len(rows) == 1 and rows[0]["检查结果"] == "发现问题已责令改正"
    assert rows[0]["统一社会信用代码"] == disclosed.public_ent.uscc
    items = client.get("/open-data/items.json").get_json()["items"]
    assert "公开抽查事项甲" in {i["name"] for i in items}
    plans = client.get("/open-data/plans.json").get_json()["plans"]
    assert [p["name"] for p in plans] == ["2026年度公开抽查计划"]
    assert "2026年度公开抽查计划" in client.get("/open-data/plans.csv").data.decode("utf-8-sig")
    assert client.get("/open-data/results.json").headers["Access-Control-Allow-Origin"] == "*"


def test_statistics_page_shows_published_figures_with_svg_charts(client, disclosed):
    html = text_of(client.get("/statistics"))
    assert html.count("<svg") == 3 and "利州区市场监督管理局" in html
    assert "公示率" in html and "发现问题已责令改正" in html
    # only published results count towards the public problem figures: 1 of 1 published has a problem
    # publication rate: 1 of 3 to publish (the withheld one is out)
    assert "100.0%" in html and "33.3%" in html
    assert "暂无数据" in text_of(client.get("/statistics?year=2020"))


def test_item_list_shows_published_versions_only(client, disclosed):
    html = text_of(client.get("/items"))
    assert "公开抽查事项甲" in html and "草稿事项不应公开" not in html and "检查要点1" in html


def test_task_notice_with_commitment_record_and_verifier(client, app, session, token_for):
    world = pw.build_world(session, token_for, app, enterprises=40, inspectors_per_department=4)
    drawn = pw.drawn_task(client, world)
    task_id = drawn["task"]["id"]
    ok(client.post(f"/api/v1/tasks/{task_id}/draw/dispatch", headers=world.planner))
    listing = text_of(client.get("/tasks"))
    notice = client.get("/api/v1/public/notices").get_json()[0]
    assert notice["commitment"] in listing
    assert notice["links"]["record"] in listing and "/api/v1/public/verify_draw.py" in listing
    page = text_of(client.get(f"/tasks/{notice['notice_id']}"))
    assert notice["population_digest"] in page and notice["links"]["population"] in page
    assert client.get(notice["links"]["record"]).status_code == 200
    assert client.get("/api/v1/public/verify_draw.py").status_code == 200

    # a form of that task, reviewed and published, names its task and plan on the portal
    from sqlalchemy import select

    form = (
        session.execute(select(InspectionForm).where(InspectionForm.task_id == uuid.UUID(task_id)))
        .scalars()
        .first()
    )
    form.status = "submitted"
    form.submitted_at = form.dispatched_at
    session.add(form)
    session.commit()
    sup = factories.make_user(session, roles=["supervisor"], department=world.lead)
    result = factories.make_result(session, form=form, actor=sup, publish=True)
    html = text_of(client.get(f"/results/{result.id}"))
    assert drawn["task"]["code"] in html and "2026 年度利州区部门联合双随机抽查计划" in html
    assert "利州区卫生健康局" in html  # the joint department
    plans = text_of(client.get("/plans"))
    assert "2026 年度利州区部门联合双随机抽查计划" in plans
