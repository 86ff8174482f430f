"""A small joint-inspection world for plan/task/draw tests, and helpers that drive the real API through it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlmodel import Session

from backend.models import CheckItem, CheckItemVersion, Checkpoint, Department, Enterprise, Inspector, User
from tests import factories

TODAY = date(2026, 3, 2)  # a Monday; pinned through SHUANGSUI_TODAY so deadlines are reproducible
INSPECTION_DAY = date(2026, 3, 4)
REGION = "510802"


@dataclass
class World:
    lead: Department
    partner: Department
    item_lead: CheckItemVersion
    item_partner: CheckItemVersion
    enterprises: list[Enterprise]
    excluded: list[Enterprise]
    inspector_users: dict[str, list[User]]  # department code -> users with an inspector
    planner: dict[str, str]
    planner_partner: dict[str, str]
    approver: dict[str, str]
    witness: dict[str, str]
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def inspectors(self, dept: Department) -> list[Inspector]:
        return [u._inspector for u in self.inspector_users[dept.code]]  # type: ignore[attr-defined]


def _item(
    session: Session,
    dept: Department,
    code: str,
    name: str,
    basis: str,
    points: list[tuple[str, str, str, bool]],
    specialty: str | None = None,
) -> CheckItemVersion:
    item = CheckItem(code=code, department_id=dept.id)
    session.add(item)
    session.flush()
    version = CheckItemVersion(
        item_id=item.id,
        version=1,
        status="published",
        name=name,
        basis=basis,
        methods=["实地检查"],
        specialty=specialty,
    )
    session.add(version)
    session.flush()
    for i, (key, question, clause, photo) in enumerate(points):
        session.add(
            Checkpoint(
                item_version_id=version.id,
                position=i,
                key=key,
                question=question,
                legal_clause=clause,
                photo_required=photo,
            )
        )
    session.commit()
    return version


def build_world(
    session: Session, token_for: Any, app: Any, *, enterprises: int = 60, inspectors_per_department: int = 5
) -> World:
    app.config["SHUANGSUI_TODAY"] = TODAY
    lead = factories.make_department(session, code="SCJG", name="利州区市场监督管理局")
    partner = factories.make_department(session, code="WJJ", name="利州区卫生健康局")
    item_lead = _item(
        session,
        lead,
        "SCJG-NB",
        "企业年度报告公示情况",
        "《企业信息公示暂行条例》",
        [
            ("nb1", "是否按时公示年度报告？", "第八条", True),
            ("nb2", "营业执照是否在经营场所醒目位置悬挂？", "第十条", False),
        ],
    )
    item_partner = _item(
        session,
        partner,
        "WJJ-GG",
        "公共场所卫生许可",
        "《公共场所卫生管理条例》",
        [
            ("gg1", "是否按时公示年度报告?", "第六条", False),  # the same question, half-width mark: merged
            ("gg2", "从业人员是否持有效健康合格证明？", "第七条", True),
        ],
    )
    ents = []
    for i in range(enterprises):
        ents.append(
            factories.make_enterprise(
                session,
                region_code=REGION,
                abnormal_list=(i % 7 == 0),
                complaints_count=i % 4,
                risk_level=1 + i % 4,
                industry_code="H6210" if i % 2 else "F5211",
            )
        )
    excluded = [
        factories.make_enterprise(session, region_code=REGION, status="cancelled"),
        factories.make_enterprise(session, region_code=REGION, status="revoked"),
        factories.make_enterprise(session, region_code=REGION, status="moved_out"),
    ]
    users: dict[str, list[User]] = {}
    for dept in (lead, partner):
        users[dept.code] = []
        for _ in range(inspectors_per_department):
            user = factories.make_user(session, roles=["inspector"], department=dept)
            user._inspector = session.get(Inspector, user.inspector_id)  # type: ignore[attr-defined]
            users[dept.code].append(user)
    return World(
        lead=lead,
        partner=partner,
        item_lead=item_lead,
        item_partner=item_partner,
        enterprises=ents,
        excluded=excluded,
        inspector_users=users,
        planner=token_for("planner", department=lead),
        planner_partner=token_for("planner", department=partner),
        approver=token_for("approver", department=lead),
        witness=token_for("witness"),
    )


def ok(resp: Any, code: int = 200) -> Any:
    assert resp.status_code == code, resp.get_json()
    return resp.get_json()


def published_plan(client: Any, world: World, **over: Any) -> dict[str, Any]:
    body = {
        "name": "2026 年度利州区部门联合双随机抽查计划",
        "year": 2026,
        "item_ids": [str(world.item_lead.item_id), str(world.item_partner.item_id)],
        "target_scope": "辖区内存续、在业的市场主体",
        "methods": ["实地检查"],
        "ratio": "0.05",
        "participating_department_ids": [str(world.partner.id)],
        "window_start": "2026-03-01",
        **over,
    }
    plan = ok(client.post("/api/v1/plans", json=body, headers=world.planner), 201)
    ok(client.post(f"/api/v1/plans/{plan['id']}/submit", headers=world.planner))
    ok(client.post(f"/api/v1/plans/{plan['id']}/approve", headers=world.approver))
    return ok(client.post(f"/api/v1/plans/{plan['id']}/publish", headers=world.planner))


def task(client: Any, world: World, plan: dict[str, Any], **over: Any) -> dict[str, Any]:
    body = {
        "plan_id": plan["id"],
        "name": "2026 年第一批联合抽查",
        "item_version_ids": [str(world.item_lead.id), str(world.item_partner.id)],
        "ratio": "0.05",
        "strata_key": "region_code",
        "inspection_date": INSPECTION_DAY.isoformat(),
        **over,
    }
    return ok(client.post("/api/v1/tasks", json=body, headers=world.planner), 201)


ENTROPY = [
    {"name": "见证人甲", "kind": "numbers", "count": 3, "description": "公证员现场掷骰"},
    {"name": "上证指数", "kind": "beacon", "description": "2026-03-02 上证综指收盘点位"},
]


def drawn_task(client: Any, world: World, **task_over: Any) -> dict[str, Any]:
    plan = published_plan(client, world)
    t = task(client, world, plan, **task_over)
    ok(
        client.post(
            f"/api/v1/tasks/{t['id']}/notice", json={"entropy_sources": ENTROPY}, headers=world.planner
        ),
        201,
    )
    enter_entropy(client, world, t["id"])
    draw = ok(client.post(f"/api/v1/tasks/{t['id']}/draw/perform", headers=world.planner))
    return {"plan": plan, "task": t, "draw": draw}


def enter_entropy(client: Any, world: World, task_id: str) -> None:
    ok(
        client.post(
            f"/api/v1/tasks/{task_id}/draw/entropy",
            json={"source": "见证人甲", "numbers": [6, 2, 5]},
            headers=world.witness,
        )
    )
    ok(
        client.post(
            f"/api/v1/tasks/{task_id}/draw/entropy",
            json={"source": "上证指数", "value": "3367.58"},
            headers=world.witness,
        )
    )
