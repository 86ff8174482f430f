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
