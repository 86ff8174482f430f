"""Test factories: build valid domain objects with sensible defaults."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from typing import Any

from sqlmodel import Session

from backend.models import CheckItem, CheckItemVersion, Checkpoint, Department, Enterprise, Inspector, User
from backend.services import auth as auth_service
from backend.services.uscc import make_uscc

_seq = itertools.count(1)
PASSWORD = "Passw0rd!23"  # noqa: S105
_PASSWORD_HASH = auth_service.hash_password(PASSWORD)


def make_department(session: Session, **kw: Any) -> Department:
    n = next(_seq)
    dept = Department(
        code=kw.pop("code", f"D{n:04d}"),
        name=kw.pop("name", f"测试部门{n}"),
        region_code=kw.pop("region_code", "510802"),
        level=kw.pop("level", "county"),
        **kw,
    )
    session.add(dept)
    session.commit()
    return dept


def make_user(session: Session, *, roles: list[str], department: Department | None = None, **kw: Any) -> User:
    n = next(_seq)
    if department is None and any(r in roles for r in ("planner", "approver", "supervisor", "inspector")):
        department = make_department(session)
    user = User(
        username=kw.pop("username", f"user{n}"),
        display_name=kw.pop("display_name", f"用户{n}"),
        password_hash=kw.pop("password_hash", _PASSWORD_HASH),
        roles=roles,
        department_id=department.id if department else None,
        **kw,
    )
    session.add(user)
    session.commit()
    if "inspector" in roles and user.inspector_id is None:
        insp = make_inspector(session, department=department, name=user.display_name)
        user.inspector_id = insp.id
        session.add(user)
        session.commit()
    return user


def auth_headers(app: Any, user: User) -> dict[str, str]:
    settings = app.config["SETTINGS"]
    with app.app_context():
        from backend.services.auth import _encode

        token = _encode(
            settings,
            {"sub": str(user.id), "jti": f"t{next(_seq)}", "roles": user.roles},
            settings.access_token_seconds,
            "access",
        )
    return {"Authorization": f"Bearer {token}"}


def make_enterprise(session: Session, **kw: Any) -> Enterprise:
    n = next(_seq)
    region = kw.pop("region_code", "510802")
    ent = Enterprise(
        uscc=kw.pop("uscc", make_uscc(region, 10_000_000 + n)),
        name=kw.pop("name", f"测试企业{n}有限公司"),
        region_code=region,
        industry_code=kw.pop("industry_code", "C1391"),
        registered_address=kw.pop("registered_address", f"四川省广元市利州区测试路{n}号"),
        legal_representative=kw.pop("legal_representative", "张三"),
        **kw,
    )
    session.add(ent)
    session.commit()
    return ent


def make_inspector(session: Session, *, department: Department | None = None, **kw: Any) -> Inspector:
    n = next(_seq)
    if department is None:
        department = make_department(session)
    insp = Inspector(
        staff_no=kw.pop("staff_no", f"S{n:06d}"),
        name=kw.pop("name", f"检查员{n}"),
        department_id=department.id,
        certificate_no=kw.pop("certificate_no", f"川执法{n:08d}"),
        certificate_valid_until=kw.pop("certificate_valid_until", date.today() + timedelta(days=365)),
        region_codes=kw.pop("region_codes", ["510802"]),
        specialties=kw.pop("specialties", []),
        **kw,
    )
    session.add(insp)
    session.commit()
    return insp


def make_item(session: Session, *, department: Department | None = None, published: bool = True,
              checkpoints: int = 3, **kw: Any) -> CheckItemVersion:
    n = next(_seq)
    if department is None:
        department = make_department(session)
    item = CheckItem(code=kw.pop("code", f"ITEM-{n:04d}"), department_id=department.id)
    session.add(item)
    session.flush()
    version = CheckItemVersion(
        item_id=item.id,
        version=1,
        status="published" if published else "draft",
        name=kw.pop("name", f"测试抽查事项{n}"),
        basis=kw.pop("basis", "《企业信息公示暂行条例》第十四条"),
        methods=kw.pop("methods", ["实地检查"]),
        content=kw.pop("content", "检查企业公示信息的真实性"),
        **kw,
    )
    session.add(version)
    session.flush()
    for i in range(checkpoints):
        session.add(
            Checkpoint(
                item_version_id=version.id,
                position=i,
                key=f"cp{i + 1}",
                question=f"检查要点{i + 1}：是否符合规定？",
                legal_clause="第十条",
                photo_required=(i == 0),
            )
        )
    session.commit()
    return version


def make_form(
    session: Session,
    *,
    enterprise: Enterprise | None = None,
    inspectors: list[Any] = (),  # type: ignore[assignment]
    department: Department | None = None,
    status: str = "dispatched",
    checkpoints: list[dict[str, Any]] | None = None,
    **kw: Any,
) -> Any:
    """一企一表 form with its team (Inspector objects, or Users that have an inspector) — drawn forms made directly."""
    from backend.models import FormAssignment, InspectionForm

    n = next(_seq)
    enterprise = enterprise or make_enterprise(session)
    department = department or make_department(session)
    if checkpoints is None:
        checkpoints = [
            {"key": "cp1", "question": "是否公示年度报告？", "legal_basis": "《企业信息公示暂行条例》第八条",
             "item_name": "年度报告公示情况", "department": department.name, "department_id": str(department.id),
             "answer_kind": "pass_fail", "options": [], "photo_required": True},
            {"key": "cp2", "question": "从业人员数量", "legal_basis": "第九条", "item_name": "年度报告公示情况",
             "department": department.name, "department_id": str(department.id), "answer_kind": "number",
             "options": [], "photo_required": False},
            {"key": "cp3", "question": "经营场所情况", "legal_basis": "第十条", "item_name": "登记事项",
             "department": department.name, "department_id": str(department.id), "answer_kind": "choice",
             "options": ["与登记一致", "与登记不一致", "无法联系"], "photo_required": False},
        ]
    form = InspectionForm(
        code=kw.pop("code", f"F-{n:06d}"),
        enterprise_id=enterprise.id,
        lead_department_id=department.id,
        department_ids=kw.pop("department_ids", [str(department.id)]),
        status=status,
        checkpoints=checkpoints,
        enterprise_snapshot=kw.pop("enterprise_snapshot", {"name": enterprise.name, "uscc": enterprise.uscc,
                                                            "address": enterprise.registered_address}),
        deadline_start=kw.pop("deadline_start", date.today()),
        deadline_complete=kw.pop("deadline_complete", date.today() + timedelta(days=20)),
        **kw,
    )
    session.add(form)
    session.flush()
    for i, member in enumerate(inspectors):
        inspector_id = getattr(member, "inspector_id", None) or member.id
        insp = session.get(Inspector, inspector_id)
        session.add(
            FormAssignment(
                form_id=form.id,
                inspector_id=inspector_id,
                department_id=insp.department_id if insp else department.id,
                is_lead=(i == 0),
            )
        )
    session.commit()
    return form


def make_plan(session: Session, *, lead: Department | None = None, created_by: User | None = None,
              status: str = "published", items: list[CheckItemVersion] = (), **kw: Any) -> Any:  # type: ignore[assignment]
    """年度抽查计划 in any status, made directly (the API tests drive the real state machine)."""
    from backend.models import AnnualPlan

    lead = lead or make_department(session)
    created_by = created_by or make_user(session, roles=["planner"], department=lead)
    year = kw.pop("year", date.today().year)
    plan = AnnualPlan(
        name=kw.pop("name", f"{year} 年度双随机抽查计划 {next(_seq)}"),
        year=year,
        item_ids=kw.pop("item_ids", [str(v.item_id) for v in items]),
        methods=kw.pop("methods", ["实地检查"]),
        ratio=kw.pop("ratio", "0.05"),
        lead_department_id=lead.id,
        deadline=kw.pop("deadline", date(year, 12, 31)),
        status=status,
        created_by=created_by.id,
        **kw,
    )
    session.add(plan)
    session.commit()
    return plan


def make_submitted_form(
    session: Session,
    *,
    submitted_at: Any = None,
    answers: dict[str, Any] | None = None,
    proposed: str | None = "未发现问题",
    proposed_details: str = "",
    **kw: Any,
) -> Any:
    """A form already submitted for review (made directly, no sync): answers by its first inspector.

    `submitted_at` (aware datetime) stands for the first submission, i.e. the inspection's completion.
    """
    import uuid as _uuid
    from datetime import UTC, datetime

    from backend.models import FormAnswer

    if not kw.get("inspectors"):
        department = kw.get("department") or make_department(session)
        kw["department"] = department
        kw["inspectors"] = [make_inspector(session, department=department), make_inspector(session, department=department)]
    form = make_form(
        session,
        status="submitted",
        submitted_at=submitted_at or datetime.now(UTC),
        proposed_result={"category": proposed, "details": proposed_details} if proposed else None,
        **kw,
    )
    first = kw["inspectors"][0]
    inspector_id = getattr(first, "inspector_id", None) or first.id
    for key, value in (answers if answers is not None else {"cp1": "pass", "cp2": 12, "cp3": "与登记一致"}).items():
        session.add(FormAnswer(form_id=form.id, checkpoint_key=key, value=value, inspector_id=inspector_id,
                               op_id=_uuid.uuid4()))
    session.commit()
    return form


def make_result(session: Session, *, form: Any = None, actor: User | None = None, category: str = "no_problem",
                details: str = "", publish: bool = False, follow_ups: list[dict[str, Any]] | None = None,
                **form_kw: Any) -> Any:
    """Approve a submitted form through the review service (so the result, audit and deadlines are real)."""
    from backend.services import publication, review

    form = form or make_submitted_form(session, **form_kw)
    if actor is None:
        actor = make_user(session, roles=["supervisor"], department=session.get(Department, form.lead_department_id))
    result = review.approve(session=session, actor=actor, form_id=form.id,
                            values={"category": category, "details": details, "follow_ups": follow_ups or []})
    if publish:
        result = publication.publish(session=session, actor=actor, result_id=result.id)
    return result
