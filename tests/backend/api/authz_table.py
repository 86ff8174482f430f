"""Who may call which endpoint: the expectations test_authorization.py checks against every route.

Every (METHOD, path) under /api/v1 in the app's url_map needs an entry here, or the authorization test
fails. Paths are written as Flask shows them with the converters left out: "/api/v1/items/<item_id>".

An entry says which callers succeed (2xx); callers listed in `hide` must get 404 (the object is outside
their reach and its existence must not leak); every other signed-in caller must get 403; anonymous
callers must get 401 unless "anonymous" is allowed. `status` pins an exact code for a caller whose
request passes authorization but is refused for another stated reason.

The callers (see World in test_authorization.py): admin, planner (department A), planner_other
(department B), approver (A), supervisor (A), inspector (A, linked to inspector record `inspector_id`),
witness, anonymous. Every object in the world belongs to department A.

Adding an endpoint: add one entry; when it needs objects, add them in `WORLD_BUILDERS` (a function
`(session, world) -> None` that stores ids with `world.set(name, value)`; URL placeholders are filled
from world values of the same name). Use `body`/`query`/`files` callables `(world) -> …` for requests
that must succeed for the allowed callers; a list of Expect gives variants (e.g. one per <kind>).
"""

from __future__ import annotations

import io
import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from backend.services.uscc import make_uscc

ROLES = ("admin", "planner", "planner_other", "approver", "supervisor", "inspector", "witness", "anonymous")
SIGNED_IN = frozenset(ROLES) - {"anonymous"}
EVERYONE = frozenset(ROLES)

_n = itertools.count(1)


def unique() -> int:
    return next(_n)


@dataclass(frozen=True)
class Expect:
    allow: frozenset[str]
    hide: frozenset[str] = frozenset()
    status: dict[str, int] = field(default_factory=dict)
    body: Callable[[Any], Any] | None = None
    query: Callable[[Any], dict[str, Any]] | None = None
    files: Callable[[Any], dict[str, Any]] | None = None
    path: dict[str, str] = field(default_factory=dict)  # fixed URL values, e.g. {"kind": "items"}
    path_from: dict[str, str] = field(default_factory=dict)  # URL value taken from another world value
    # For lists and exports: allowed callers must see `marker(world)` in the response, `filtered` ones must not.
    marker: Callable[[Any], str] | None = None
    filtered: frozenset[str] = frozenset()


def allow(*roles: str, **kw: Any) -> Expect:
    for name in ("hide", "filtered"):
        if name in kw:
            kw[name] = frozenset(kw[name])
    return Expect(allow=frozenset(roles), **kw)


ADMIN = ("admin",)
STAFF = tuple(r for r in ROLES if r != "anonymous")
ENTERPRISE_READERS = ("admin", "planner", "planner_other", "approver", "supervisor", "witness")
ENTERPRISE_WRITERS = ("admin", "planner", "planner_other")
DEPT_READERS = ("admin", "planner", "approver", "supervisor")  # department A's objects
INSPECTOR_READERS = (*DEPT_READERS, "inspector")  # + the inspector reading their own record


def _csv(header: list[str], *rows: list[str]) -> dict[str, Any]:
    lines = [",".join(header), *(",".join(r) for r in rows)]
    return {"file": (io.BytesIO(("\n".join(lines) + "\n").encode("utf-8")), "upload.csv")}


def enterprise_file(w: Any) -> dict[str, Any]:
    return _csv(["统一社会信用代码", "名称"], [make_uscc("510802", 60_000_000 + unique()), "导入测试企业有限公司"])


def inspector_file(w: Any) -> dict[str, Any]:
    n = unique()
    return _csv(
        ["工号", "姓名", "部门编码", "执法证号"], [f"IMP-{n}", "导入测试人员", w.dept_a_code, f"IMPCERT-{n}"]
    )


def item_file(w: Any) -> dict[str, Any]:
    header = ["事项编码", "部门编码", "事项名称", "检查要点"]
    return _csv(header, [f"IMP-ITEM-{unique()}", w.dept_a_code, "导入事项", "是否合规"])


def new_inspector(w: Any) -> dict[str, Any]:
    n = unique()
    return {"staff_no": f"NEW-{n}", "name": "新执法人员", "department_id": str(w.department_id),
            "certificate_no": f"NEWCERT-{n}"}


TABLE: dict[tuple[str, str], Expect | list[Expect]] = {
    # ---- sign-in (the caller's own token is irrelevant: the body carries the credentials) ----
    ("POST", "/api/v1/auth/login"): allow(*EVERYONE, body=lambda w: w.login_body),
    ("POST", "/api/v1/auth/refresh"): allow(*EVERYONE, body=lambda w: {"refresh_token": w.fresh_refresh_token()}),
    ("POST", "/api/v1/auth/logout"): allow(*EVERYONE, body=lambda w: {"refresh_token": w.fresh_refresh_token()}),
    ("GET", "/api/v1/auth/me"): allow(*STAFF),
    # ---- departments ----
    ("GET", "/api/v1/departments"): allow(*STAFF),
    ("POST", "/api/v1/departments"): allow(
        *ADMIN, body=lambda w: {"code": f"AZ-{unique()}", "name": "新部门", "region_code": "510802", "level": "county"}
    ),
    ("GET", "/api/v1/departments/<department_id>"): allow(*STAFF),
    ("PATCH", "/api/v1/departments/<department_id>"): allow(*ADMIN, body=lambda w: {"name": "改名后的部门"}),
    # ---- enterprises: shared master data ----
    ("GET", "/api/v1/enterprises"): allow(
        *ENTERPRISE_READERS, query=lambda w: {"q": w.enterprise_uscc}, marker=lambda w: w.enterprise_uscc
    ),
    ("POST", "/api/v1/enterprises"): allow(
        *ENTERPRISE_WRITERS,
        body=lambda w: {"uscc": make_uscc("510802", 61_000_000 + unique()), "name": "新建企业有限公司"},
    ),
    ("GET", "/api/v1/enterprises/<enterprise_id>"): allow(*ENTERPRISE_READERS),
    ("PATCH", "/api/v1/enterprises/<enterprise_id>"): allow(
        *ENTERPRISE_WRITERS, body=lambda w: {"phone": "0839-1234567"}
    ),
    ("DELETE", "/api/v1/enterprises/<enterprise_id>"): allow(*ENTERPRISE_WRITERS),
    ("POST", "/api/v1/enterprises/<enterprise_id>/status"): allow(
        *ENTERPRISE_WRITERS, body=lambda w: {"status": "cancelled", "reason": "已注销"}
    ),
    ("GET", "/api/v1/enterprises/<enterprise_id>/status-history"): allow(*ENTERPRISE_READERS),
    # ---- inspectors: department A's record of the inspector caller ----
    ("GET", "/api/v1/inspectors"): allow(
        *INSPECTOR_READERS, "planner_other", filtered=["planner_other"], marker=lambda w: str(w.inspector_id),
        query=lambda w: {"q": w.inspector_staff_no},
    ),
    ("POST", "/api/v1/inspectors"): allow(
        "admin", "planner",
        body=lambda w: new_inspector(w),
    ),
    ("GET", "/api/v1/inspectors/<inspector_id>"): allow(*INSPECTOR_READERS, hide=["planner_other"]),
    ("PATCH", "/api/v1/inspectors/<inspector_id>"): allow(
        "admin", "planner", hide=["planner_other"], body=lambda w: {"phone": "13800000000"}
    ),
    ("DELETE", "/api/v1/inspectors/<inspector_id>"): allow("admin", "planner", hide=["planner_other"]),
    ("GET", "/api/v1/inspectors/<inspector_id>/certificate"): allow(
        *INSPECTOR_READERS, hide=["planner_other"], query=lambda w: {"on": date.today().isoformat()}
    ),
    # ---- 回避 records (scoped by the inspector's department; the inspector sees their own) ----
    ("GET", "/api/v1/conflicts"): allow(
        *INSPECTOR_READERS, "planner_other", filtered=["planner_other"], marker=lambda w: str(w.conflict_id),
        query=lambda w: {"inspector_id": str(w.inspector_id)},
    ),
    ("POST", "/api/v1/conflicts"): allow(
        "admin", "planner", hide=["planner_other"],
        body=lambda w: {"inspector_id": str(w.inspector_id), "enterprise_id": str(w.spare_enterprise_id),
                        "reason": "relative"},
    ),
    ("GET", "/api/v1/conflicts/<conflict_id>"): allow(*INSPECTOR_READERS, hide=["planner_other"]),
    ("PATCH", "/api/v1/conflicts/<conflict_id>"): allow(
        "admin", "planner", hide=["planner_other"], body=lambda w: {"note": "补充说明"}
    ),
    ("DELETE", "/api/v1/conflicts/<conflict_id>"): allow("admin", "planner", hide=["planner_other"]),
    # ---- check items (department A); the public list needs no token ----
    ("GET", "/api/v1/items/public"): allow(*EVERYONE, marker=lambda w: w.item_code, query=lambda w: {"q": w.item_name}),
    ("GET", "/api/v1/items"): allow(
        *DEPT_READERS, "planner_other", filtered=["planner_other"], marker=lambda w: w.item_code,
        query=lambda w: {"q": w.item_code},
    ),
    ("POST", "/api/v1/items"): allow(
        "admin", "planner",
        body=lambda w: {"code": f"NEW-ITEM-{unique()}", "department_id": str(w.department_id), "name": "新事项",
                        "checkpoints": [{"question": "是否合规？"}]},
    ),
    ("GET", "/api/v1/items/<item_id>"): allow(*DEPT_READERS, hide=["planner_other"]),
    ("PATCH", "/api/v1/items/<item_id>"): allow(
        "admin", "planner", hide=["planner_other"], body=lambda w: {"active": False}
    ),
    ("DELETE", "/api/v1/items/<item_id>"): allow("admin", "planner", hide=["planner_other"]),
    ("GET", "/api/v1/items/<item_id>/versions"): allow(*DEPT_READERS, hide=["planner_other"]),
    ("POST", "/api/v1/items/<item_id>/versions"): allow(
        "admin", "planner", hide=["planner_other"], path_from={"item_id": "published_item_id"},
        body=lambda w: {"change_note": "年度调整"},
    ),
    ("GET", "/api/v1/items/<item_id>/versions/<version_id>"): allow(*DEPT_READERS, hide=["planner_other"]),
    ("PATCH", "/api/v1/items/<item_id>/versions/<version_id>"): allow(
        "admin", "planner", hide=["planner_other"], body=lambda w: {"name": "修改后的草稿"}
    ),
    ("POST", "/api/v1/items/<item_id>/versions/<version_id>/publish"): allow(
        "admin", "planner", "approver", hide=["planner_other"]
    ),
    # ---- user accounts: the system administrator only ----
    ("GET", "/api/v1/users"): allow(*ADMIN),
    ("POST", "/api/v1/users"): allow(
        *ADMIN,
        body=lambda w: {"username": f"newuser{unique()}", "display_name": "新用户", "password": "s3cret-pass",
                        "roles": ["witness"]},
    ),
    ("GET", "/api/v1/users/<user_id>"): allow(*ADMIN),
    ("PATCH", "/api/v1/users/<user_id>"): allow(*ADMIN, body=lambda w: {"display_name": "改名"}),
    ("DELETE", "/api/v1/users/<user_id>"): allow(*ADMIN),
    # ---- working-day overrides ----
    ("GET", "/api/v1/calendar/overrides"): allow(*STAFF),
    ("POST", "/api/v1/calendar/overrides"): allow(
        *ADMIN, body=lambda w: {"day": (date(2100, 1, 1) - timedelta(days=unique())).isoformat(), "is_workday": True}
    ),
    ("GET", "/api/v1/calendar/overrides/<day>"): allow(*STAFF),
    ("PATCH", "/api/v1/calendar/overrides/<day>"): allow(*ADMIN, body=lambda w: {"note": "调休"}),
    ("DELETE", "/api/v1/calendar/overrides/<day>"): allow(*ADMIN),
    # ---- bulk files ----
    ("POST", "/api/v1/imports/<kind>"): [
        allow(*ENTERPRISE_WRITERS, path={"kind": "enterprises"}, files=enterprise_file),
        # planner_other passes the role check; each row for department A is then refused in the report.
        allow("admin", "planner", status={"planner_other": 422}, path={"kind": "inspectors"}, files=inspector_file),
        allow("admin", "planner", status={"planner_other": 422}, path={"kind": "items"}, files=item_file),
    ],
    ("GET", "/api/v1/exports/<kind>.<fmt>"): [
        allow(*ENTERPRISE_READERS, path={"kind": "enterprises", "fmt": fmt}) for fmt in ("csv", "xlsx")
    ]
    + [
        allow(
            *INSPECTOR_READERS, "planner_other", filtered=["planner_other"],
            path={"kind": "inspectors", "fmt": "csv"}, marker=lambda w: w.inspector_staff_no,
        ),
        allow(*INSPECTOR_READERS, "planner_other", path={"kind": "inspectors", "fmt": "xlsx"}),
        allow(*DEPT_READERS, "planner_other", filtered=["planner_other"], path={"kind": "items", "fmt": "csv"},
              marker=lambda w: w.item_code),
        allow(*DEPT_READERS, "planner_other", path={"kind": "items", "fmt": "xlsx"}),
    ],
    # ---- field sync, evidence uploads (tus) and evidence: see _fieldwork_world below ----
    ("GET", "/api/v1/sync/pull"): allow("inspector"),
    ("POST", "/api/v1/sync/push"): allow(
        "inspector",
        body=lambda w: {"device_id": "authz", "operations": [{
            "op_id": str(uuid.uuid4()), "type": "note", "form_id": str(w.form_id), "base_version": 1,
            "payload": {"text": "现场记录"}}]},
    ),
    # tus requests need protocol headers the harness does not send: the inspector passes authorization and is
    # then refused by the protocol check (412 without Tus-Resumable, 400 for POST without a method override).
    ("POST", "/api/v1/uploads/"): allow(status={"inspector": 412}),
    ("PATCH", "/api/v1/uploads/<upload_id>"): allow(status={"inspector": 412}),
    ("POST", "/api/v1/uploads/<upload_id>"): allow(status={"inspector": 400}),
    ("DELETE", "/api/v1/uploads/<upload_id>"): allow(status={"inspector": 412}),
    ("GET", "/api/v1/evidence/<evidence_id>"): allow(*INSPECTOR_READERS, hide=["planner_other", "witness"]),
    # original bytes: the team, the departments' supervisors, admins (approvers, planners: derivatives only)
    ("GET", "/api/v1/evidence/<evidence_id>/content"): allow(
        "admin", "supervisor", "inspector", hide=["planner_other", "witness"]
    ),
    ("GET", "/api/v1/evidence/<evidence_id>/thumbnail"): allow(
        *INSPECTOR_READERS, hide=["planner_other", "witness"]
    ),
    ("GET", "/api/v1/evidence/<evidence_id>/display"): allow(
        *INSPECTOR_READERS, hide=["planner_other", "witness"]
    ),
    ("GET", "/api/v1/forms/<form_id>/evidence"): allow(
        *INSPECTOR_READERS, hide=["planner_other", "witness"], marker=lambda w: str(w.evidence_id)
    ),
}

# Functions (session, world) adding objects that other people's entries need; see the module docstring.
WORLD_BUILDERS: list[Callable[[Any, Any], None]] = []


def _fieldwork_world(session: Any, w: Any) -> None:
    """A dispatched form of department A with the inspector caller on its team, one received photo and an
    open upload of that inspector."""
    import hashlib

    from backend.models import Evidence, FormAssignment, InspectionForm, Upload, User
    from backend.models.base import utcnow
    from storage import evidence_key

    n = unique()
    inspector_user = w.users["inspector"]
    form = InspectionForm(code=f"W-FORM-{n}", enterprise_id=w.enterprise_id, status="dispatched",
                          lead_department_id=w.department_id, department_ids=[str(w.department_id)],
                          checkpoints=[{"key": "cp1", "question": "是否合规？", "answer_kind": "pass_fail"}])
    session.add(form)
    session.flush()
    session.add(FormAssignment(form_id=form.id, inspector_id=w.inspector_id, department_id=w.department_id,
                               is_lead=True))
    store = w.app.extensions["shuangsui.store"]
    data = b"\xff\xd8\xff\xe0" + f"authz-photo-{n}".encode() + b"\xff\xd9"
    digest = hashlib.sha256(data).hexdigest()
    key = evidence_key(digest)
    store.put(key, io.BytesIO(data), len(data), "image/jpeg")
    derived = {}
    for variant in ("thumbnail", "display"):
        derived[variant] = f"derivatives/authz-{n}/{variant}.jpg"
        store.put(derived[variant], io.BytesIO(data), len(data), "image/jpeg")
    evidence = Evidence(
        id=uuid.uuid4(), form_id=form.id, checkpoint_key="cp1", kind="photo", sha256=digest, size=len(data),
        mime="image/jpeg", filename="IMG.jpg", captured_at=utcnow(), received_at=utcnow(), device_id="authz",
        inspector_id=w.inspector_id, user_id=inspector_user.id, status="received", object_key=key,
        thumbnail_key=derived["thumbnail"], display_key=derived["display"],
        media={"mime": "image/jpeg", "sha256_verified": digest}, op_id=uuid.uuid4(),
    )
    upload = Upload(evidence_id=evidence.id, length=len(data), created_by=inspector_user.id,
                    expires_at=utcnow() + timedelta(days=1))
    session.add_all([evidence, upload])
    session.flush()
    assert isinstance(inspector_user, User)
    w.set("form_id", form.id)
    w.set("evidence_id", evidence.id)
    w.set("upload_id", upload.id)


WORLD_BUILDERS.append(_fieldwork_world)


# ---- plans, tasks and the draw (issue 3) -------------------------------------------------------------------
# Objects are built lazily (a URL or body asking for them builds them on first use), because a full draw per
# world would slow every other entry down. Stages: draft/submitted/approved/published plans, a draft task, a
# noticed task, one with its entropy entered, a drawn task, a dispatched task with its form.

PLAN_READERS = ("admin", "planner", "approver", "supervisor")  # department A staff; witnesses once in force
DRAW_TODAY = date(2026, 3, 2)


class _Lazy:
    """A world value built on first use: str() (URL filling) or .get() (bodies) triggers the build."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._value: Any = None
        self._done = False

    def get(self) -> Any:
        if not self._done:
            self._value = self._build()
            self._done = True
        return self._value

    def __str__(self) -> str:
        return str(self.get())


def _v(w: Any, name: str) -> Any:
    value = w.values[name]
    return value.get() if isinstance(value, _Lazy) else value


def _planning_world(session: Any, w: Any) -> None:
    from backend.models import Enterprise, Inspector
    from backend.services import draws, plans, tasks

    w.app.config["SHUANGSUI_TODAY"] = DRAW_TODAY  # only the draw endpoints read it
    settings = w.app.config["SETTINGS"]
    users = w.users
    cache: dict[str, Any] = {}

    def base() -> dict[str, Any]:
        if "industry" not in cache:
            n = unique()
            cache["industry"] = f"Z{n:07d}"
            for i in range(40):
                session.add(
                    Enterprise(
                        uscc=make_uscc("510802", 90_000_000 + n * 100 + i),
                        name=f"抽查企业{n}-{i}",
                        region_code="510802",
                        industry_code=cache["industry"],
                    )
                )
            cache["inspectors"] = []
            for i in range(4):
                insp = Inspector(
                    staff_no=f"D-{n}-{i}",
                    name=f"摇号执法人员{n}-{i}",
                    department_id=w.department_id,
                    certificate_no=f"DCERT-{n}-{i}",
                    certificate_valid_until=date(2027, 12, 31),
                    region_codes=["510802"],
                )
                session.add(insp)
                cache["inspectors"].append(insp)
            session.commit()
        return cache

    def plan(stage: str) -> Any:
        base()
        values = {
            "name": f"计划{unique()}",
            "year": 2026,
            "item_ids": [str(w.published_item_id)],
            "methods": ["实地检查"],
            "ratio": "0.05",
            "target_filters": {"industry_codes": [cache["industry"]]},
        }
        p = plans.create_plan(session=session, actor=users["planner"], values=values)
        if stage == "draft":
            return p.id
        plans.submit_plan(session=session, actor=users["planner"], plan_id=p.id)
        if stage == "submitted":
            return p.id
        plans.approve_plan(session=session, actor=users["approver"], settings=settings, plan_id=p.id)
        if stage == "approved":
            return p.id
        plans.publish_plan(session=session, actor=users["planner"], settings=settings, plan_id=p.id)
        return p.id

    def task(stage: str) -> Any:
        from sqlalchemy import select

        from backend.models import CheckItemVersion

        version_id = session.execute(
            select(CheckItemVersion.id).where(CheckItemVersion.item_id == w.published_item_id)
        ).scalar_one()
        t = tasks.create_task(
            session=session,
            actor=users["planner"],
            values={
                "plan_id": plan("published"),
                "name": f"任务{unique()}",
                "item_version_ids": [str(version_id)],
                "ratio": "0.05",
                "inspection_date": date(2026, 3, 4),
            },
        )
        if stage == "draft":
            return t.id
        draws.publish_notice(
            session=session, actor=users["planner"], settings=settings, task_id=t.id, today=DRAW_TODAY
        )
        if stage == "noticed":
            return t.id
        draws.enter_entropy(
            session=session, actor=users["witness"], task_id=t.id, source="见证人号码", numbers=[3, 1, 4]
        )
        if stage == "ready":
            return t.id
        draws.perform_draw(session=session, actor=users["planner"], settings=settings, task_id=t.id)
        if stage == "drawn":
            return t.id
        draws.dispatch(session=session, actor=users["planner"], task_id=t.id, today=DRAW_TODAY)
        return t.id

    def draw_of(name: str) -> Any:
        from sqlalchemy import select

        from backend.models import Draw

        return session.execute(select(Draw).where(Draw.task_id == _v(w, name))).scalar_one()

    def form() -> Any:
        from sqlalchemy import select

        from backend.models import FormAssignment, InspectionForm

        f = (
            session.execute(
                select(InspectionForm).where(InspectionForm.task_id == _v(w, "dispatched_task_id"))
            )
            .scalars()
            .first()
        )
        team = session.execute(
            select(FormAssignment.inspector_id).where(FormAssignment.form_id == f.id)
        ).scalars()
        on = set(team)
        cache["replace"] = {
            "old_inspector_id": str(next(iter(sorted(on)))),
            "new_inspector_id": str(next(i.id for i in cache["inspectors"] if i.id not in on)),
            "reason": "原检查人员回避",
        }
        cache["checkpoint_key"] = f.checkpoints[0]["key"]
        return f.id

    for name, build in {
        "plan_id": lambda: plan("draft"),
        "submitted_plan_id": lambda: plan("submitted"),
        "approved_plan_id": lambda: plan("approved"),
        "published_plan_id": lambda: plan("published"),
        "task_id": lambda: task("draft"),
        "noticed_task_id": lambda: task("noticed"),
        "ready_task_id": lambda: task("ready"),
        "drawn_task_id": lambda: task("drawn"),
        "dispatched_task_id": lambda: task("dispatched"),
        "task_form_id": form,
        "noticed_draw_id": lambda: draw_of("noticed_task_id").id,
        "notice_id": lambda: draw_of("noticed_task_id").notice_id,
        "performed_draw_id": lambda: draw_of("drawn_task_id").id,
    }.items():
        w.set(name, _Lazy(build))
    w.set("replace_body", _Lazy(lambda: (_v(w, "task_form_id"), cache["replace"])[1]))
    w.set(
        "adjust_body",
        _Lazy(
            lambda: (
                _v(w, "task_form_id"),
                {"reason": "该企业不涉及此项", "remove_checkpoint_keys": [cache["checkpoint_key"]]},
            )[1]
        ),
    )


WORLD_BUILDERS.append(_planning_world)

_PLAN = {"plan_id": "plan_id"}
_NOTICED = {"task_id": "noticed_task_id"}

TABLE.update(
    {
        ("GET", "/api/v1/plans"): allow(
            *PLAN_READERS,
            "planner_other",
            "witness",
            filtered=["planner_other", "witness"],
            query=lambda w: {"status": "draft", "_": str(w.values["plan_id"])},
            marker=lambda w: str(w.values["plan_id"]),
        ),
        ("POST", "/api/v1/plans"): allow(
            "planner", "planner_other", body=lambda w: {"name": "新计划", "year": 2026}
        ),
        ("GET", "/api/v1/plans/<plan_id>"): allow(*PLAN_READERS, hide=["planner_other", "witness"]),
        ("PATCH", "/api/v1/plans/<plan_id>"): allow(
            "planner", hide=["planner_other"], body=lambda w: {"name": "改名"}
        ),
        ("POST", "/api/v1/plans/<plan_id>/submit"): allow("planner", hide=["planner_other"]),
        ("POST", "/api/v1/plans/<plan_id>/approve"): allow(
            "approver", path_from={"plan_id": "submitted_plan_id"}
        ),
        ("POST", "/api/v1/plans/<plan_id>/reject"): allow(
            "approver", path_from={"plan_id": "submitted_plan_id"}, body=lambda w: {"reason": "比例需调整"}
        ),
        ("POST", "/api/v1/plans/<plan_id>/publish"): allow(
            "planner", hide=["planner_other"], path_from={"plan_id": "approved_plan_id"}
        ),
        ("GET", "/api/v1/plans/<plan_id>/adjustments"): allow(
            *PLAN_READERS, "witness", hide=["planner_other"], path_from={"plan_id": "published_plan_id"}
        ),
        ("POST", "/api/v1/plans/<plan_id>/adjustments"): allow(
            "planner",
            hide=["planner_other"],
            path_from={"plan_id": "published_plan_id"},
            body=lambda w: {"reason": "联席会议决定", "changes": {"name": f"调整后的计划{unique()}"}},
        ),
        ("GET", "/api/v1/public/plans"): allow(*EVERYONE),
        ("GET", "/api/v1/tasks"): allow(
            *PLAN_READERS,
            "planner_other",
            "witness",
            filtered=["planner_other", "witness"],
            query=lambda w: {"status": "draft", "_": str(w.values["task_id"])},
            marker=lambda w: str(w.values["task_id"]),
        ),
        ("POST", "/api/v1/tasks"): allow(
            "planner",
            hide=["planner_other"],
            body=lambda w: {
                "plan_id": str(w.values["published_plan_id"]),
                "name": "新任务",
                "item_version_ids": [str(_published_version(w))],
            },
        ),
        ("GET", "/api/v1/tasks/<task_id>"): allow(*PLAN_READERS, hide=["planner_other", "witness"]),
        ("PATCH", "/api/v1/tasks/<task_id>"): allow(
            "planner", hide=["planner_other"], body=lambda w: {"name": "改名任务"}
        ),
        ("GET", "/api/v1/tasks/<task_id>/forms"): allow(
            *PLAN_READERS, hide=["planner_other"], path_from={"task_id": "dispatched_task_id"}
        ),
        ("POST", "/api/v1/tasks/<task_id>/forms/<form_id>/replace-inspector"): allow(
            "planner",
            hide=["planner_other"],
            path_from={"task_id": "dispatched_task_id", "form_id": "task_form_id"},
            body=lambda w: _v(w, "replace_body"),
        ),
        ("POST", "/api/v1/tasks/<task_id>/forms/<form_id>/adjust"): allow(
            "planner",
            hide=["planner_other"],
            path_from={"task_id": "dispatched_task_id", "form_id": "task_form_id"},
            body=lambda w: _v(w, "adjust_body"),
        ),
        ("GET", "/api/v1/tasks/<task_id>/notice"): allow(
            *PLAN_READERS, "witness", hide=["planner_other"], path_from=_NOTICED
        ),
        ("POST", "/api/v1/tasks/<task_id>/notice"): allow(
            "planner", hide=["planner_other"], body=lambda w: {}
        ),
        ("GET", "/api/v1/tasks/<task_id>/draw"): allow(
            *PLAN_READERS, "witness", hide=["planner_other"], path_from=_NOTICED
        ),
        ("POST", "/api/v1/tasks/<task_id>/draw/entropy"): allow(
            "planner",
            "witness",
            hide=["planner_other"],
            path_from=_NOTICED,
            body=lambda w: {"source": "见证人号码", "numbers": [2, 7, 1]},
        ),
        ("POST", "/api/v1/tasks/<task_id>/draw/perform"): allow(
            "planner", hide=["planner_other"], path_from={"task_id": "ready_task_id"}
        ),
        ("POST", "/api/v1/tasks/<task_id>/draw/dispatch"): allow(
            "planner", hide=["planner_other"], path_from={"task_id": "drawn_task_id"}
        ),
        ("GET", "/api/v1/draws/<draw_id>"): allow(
            *PLAN_READERS, "witness", hide=["planner_other"], path_from={"draw_id": "performed_draw_id"}
        ),
        ("GET", "/api/v1/draws/<draw_id>/signatures"): allow(
            *PLAN_READERS, "witness", hide=["planner_other"], path_from={"draw_id": "performed_draw_id"}
        ),
        ("POST", "/api/v1/draws/<draw_id>/signatures"): allow(
            "witness", path_from={"draw_id": "performed_draw_id"}, body=lambda w: {"statement": "现场见证"}
        ),
        ("GET", "/api/v1/public/notices"): allow(*EVERYONE),
        ("GET", "/api/v1/public/notices/<notice_id>"): allow(*EVERYONE),
        ("GET", "/api/v1/public/draws/<draw_id>/record.json"): allow(
            *EVERYONE, path_from={"draw_id": "performed_draw_id"}
        ),
        ("GET", "/api/v1/public/draws/<draw_id>/population.csv"): allow(
            *EVERYONE, path_from={"draw_id": "noticed_draw_id"}
        ),
        ("GET", "/api/v1/public/verify_draw.py"): allow(*EVERYONE),
    }
)


def _published_version(w: Any) -> Any:
    from sqlalchemy import select

    from backend.models import CheckItemVersion

    return w.session.execute(
        select(CheckItemVersion.id).where(CheckItemVersion.item_id == w.published_item_id)
    ).scalar_one()


# ---- review, results, publication, credit, statistics and reports (department A's objects) ----
# Acting roles are checked by the decorator (403 for every other role); an object of another department is
# then a 404 for a role that could read it in its own department (planner_other).
RESULT_READERS = ("admin", "planner", "approver", "supervisor")


def _results_world(session: Any, w: Any) -> None:
    """A submitted form awaiting review (with a signature image), an approved result with an open follow-up and
    a pending credit proposal, and a result whose withholding the supervisor asked for."""
    from backend.models import CreditFlagProposal, FormAssignment, FormSignature, InspectionForm
    from backend.services import publication, review
    from storage import ObjectExists, evidence_key

    n = unique()
    supervisor = w.users["supervisor"]

    def submitted(code: str) -> Any:
        form = InspectionForm(code=f"{code}-{n}", enterprise_id=w.enterprise_id, lead_department_id=w.department_id,
                              department_ids=[str(w.department_id)], status="submitted", submitted_at=None,
                              proposed_result={"category": "未发现问题", "details": ""},
                              checkpoints=[{"key": "cp1", "question": "是否合规？", "answer_kind": "pass_fail"}])
        session.add(form)
        session.flush()
        session.add(FormAssignment(form_id=form.id, inspector_id=w.inspector_id, department_id=w.department_id,
                                   is_lead=True))
        session.flush()
        return form

    form = submitted("W-REVIEW")
    import hashlib

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGBA", (60, 20), (0, 0, 0, 255)).save(buf, "PNG")
    png = buf.getvalue()

    key = evidence_key(hashlib.sha256(png).hexdigest())
    try:
        w.app.extensions["shuangsui.store"].put(key, io.BytesIO(png), len(png), "image/png")
    except ObjectExists:
        pass
    sig = FormSignature(form_id=form.id, signer="enterprise_rep", name="企业代表", sha256=hashlib.sha256(png).hexdigest(),
                        object_key=key, inspector_id=w.inspector_id, op_id=uuid.uuid4())
    session.add(sig)
    session.commit()
    result = review.approve(session=session, actor=supervisor, form_id=submitted("W-RESULT").id,
                            values={"category": "problem_pending",
                                    "follow_ups": [{"kind": "case_filed", "description": "立案调查"}]})
    withhold = review.approve(session=session, actor=supervisor, form_id=submitted("W-WITHHOLD").id,
                              values={"category": "no_problem"})
    publication.request_withhold(session=session, actor=supervisor, result_id=withhold.id, reason="涉及商业秘密")
    proposal = CreditFlagProposal(enterprise_id=w.enterprise_id, flag="abnormal_list", result_id=result.id,
                                  department_id=w.department_id, category="unreachable_at_address")
    session.add(proposal)
    session.commit()
    from sqlalchemy import select

    from backend.models import FollowUp

    follow_up = session.execute(select(FollowUp).where(FollowUp.result_id == result.id)).scalar_one()
    w.set("review_form_id", form.id)
    w.set("signature_id", sig.id)
    w.set("result_id", result.id)
    w.set("withhold_result_id", withhold.id)
    w.set("follow_up_id", follow_up.id)
    w.set("proposal_id", proposal.id)


WORLD_BUILDERS.append(_results_world)

_REVIEW_FORM = {"form_id": "review_form_id"}

TABLE.update({
    # paginated lists: ask for department A, so an admin's first page is not crowded by other worlds
    ("GET", "/api/v1/review/queue"): allow(
        *RESULT_READERS, "planner_other", filtered=["planner_other"], marker=lambda w: str(w.review_form_id),
        query=lambda w: {"department_id": str(w.department_id)},
    ),
    ("GET", "/api/v1/review/forms/<form_id>"): allow(*RESULT_READERS, hide=["planner_other"], path_from=_REVIEW_FORM),
    ("POST", "/api/v1/review/forms/<form_id>/approve"): allow(
        "supervisor", path_from=_REVIEW_FORM, body=lambda w: {"category": "no_problem"}
    ),
    ("POST", "/api/v1/review/forms/<form_id>/return"): allow(
        "supervisor", path_from=_REVIEW_FORM, body=lambda w: {"comments": [{"checkpoint_key": "cp1", "comment": "请核实"}]}
    ),
    ("POST", "/api/v1/review/forms/<form_id>/request-evidence"): allow(
        "supervisor", path_from=_REVIEW_FORM, body=lambda w: {"comments": [{"comment": "请补拍照片"}]}
    ),
    ("POST", "/api/v1/review/forms/<form_id>/comments"): allow(
        "supervisor", path_from=_REVIEW_FORM, body=lambda w: {"comment": "已电话核实"}
    ),
    ("GET", "/api/v1/review/forms/<form_id>/signatures/<signature_id>/image"): allow(
        *RESULT_READERS, hide=["planner_other"], path_from=_REVIEW_FORM
    ),
    ("GET", "/api/v1/results/categories"): allow(*STAFF),
    ("GET", "/api/v1/results"): allow(
        *RESULT_READERS, "planner_other", filtered=["planner_other"], marker=lambda w: str(w.result_id),
        query=lambda w: {"department_id": str(w.department_id)},
    ),
    ("GET", "/api/v1/results/<result_id>"): allow(*RESULT_READERS, hide=["planner_other"]),
    ("PATCH", "/api/v1/results/<result_id>"): allow("supervisor", body=lambda w: {"details": "补充说明"}),
    ("POST", "/api/v1/results/<result_id>/publish"): allow("supervisor", "approver"),
    ("POST", "/api/v1/results/publish"): allow(
        "supervisor", "approver", body=lambda w: {"result_ids": [str(w.result_id)]}
    ),
    ("POST", "/api/v1/results/<result_id>/withhold"): allow(
        "supervisor", "planner", hide=["planner_other"], body=lambda w: {"reason": "涉及个人隐私，不予公开"}
    ),
    ("POST", "/api/v1/results/<result_id>/withhold/decision"): allow(
        "approver", path_from={"result_id": "withhold_result_id"}, body=lambda w: {"approve": True}
    ),
    ("GET", "/api/v1/results/<result_id>/follow-ups"): allow(*RESULT_READERS, hide=["planner_other"]),
    ("POST", "/api/v1/results/<result_id>/follow-ups"): allow(
        "supervisor", "approver", body=lambda w: {"kind": "case_filed", "description": "立案"}
    ),
    ("GET", "/api/v1/follow-ups"): allow(
        *RESULT_READERS, "planner_other", filtered=["planner_other"], marker=lambda w: str(w.follow_up_id),
        query=lambda w: {"department_id": str(w.department_id)},
    ),
    ("GET", "/api/v1/follow-ups/<follow_up_id>"): allow(*RESULT_READERS, hide=["planner_other"]),
    ("PATCH", "/api/v1/follow-ups/<follow_up_id>"): allow(
        "supervisor", "approver", body=lambda w: {"description": "补充立案信息"}
    ),
    ("GET", "/api/v1/publication/warnings"): allow(
        *RESULT_READERS, "planner_other", filtered=["planner_other"], marker=lambda w: str(w.result_id),
        query=lambda w: {"within": 20},
    ),
    ("GET", "/api/v1/publication/overdue"): allow(*RESULT_READERS, "planner_other"),
    ("GET", "/api/v1/publication/rates"): allow(
        *RESULT_READERS, "planner_other", filtered=["planner_other"], marker=lambda w: str(w.department_id)
    ),
    ("GET", "/api/v1/credit/rules"): allow(*RESULT_READERS, "planner_other"),
    ("PUT", "/api/v1/credit/rules/<category>"): allow(
        *ADMIN, path={"category": "no_problem"}, body=lambda w: {"risk_level_delta": 0}
    ),
    ("GET", "/api/v1/credit/proposals"): allow(
        *RESULT_READERS, "planner_other", filtered=["planner_other"], marker=lambda w: str(w.proposal_id)
    ),
    ("POST", "/api/v1/credit/proposals/<proposal_id>/decision"): allow("approver", body=lambda w: {"approve": True}),
    ("GET", "/api/v1/credit/enterprises/<enterprise_id>"): allow(*RESULT_READERS, "planner_other"),
    ("GET", "/api/v1/statistics"): allow(
        *RESULT_READERS, "planner_other", filtered=["planner_other"], marker=lambda w: str(w.department_id)
    ),
    ("GET", "/api/v1/reports/statistics.xlsx"): allow(*RESULT_READERS, "planner_other"),
    ("GET", "/api/v1/reports/results.xlsx"): allow(*RESULT_READERS, "planner_other"),
    ("GET", "/api/v1/reports/forms/<form_id>/record.pdf"): allow(
        *RESULT_READERS, hide=["planner_other"], path_from=_REVIEW_FORM
    ),
})
