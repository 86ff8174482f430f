"""抽查事项清单: check items with versioned content, ordered checkpoints, draft → published → retired."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlmodel import Session

from ..errors import Conflict, Invalid, NotFound
from ..models.accounts import User
from ..models.base import utcnow
from ..models.directory import (
    ANSWER_KINDS,
    ITEM_CATEGORIES,
    ITEM_METHODS,
    CheckItem,
    CheckItemVersion,
    Checkpoint,
    Department,
)
from . import access, audit
from .changes import apply_changes, commit_or_conflict
from .querying import Page, like_pattern

VERSION_FIELDS = ("name", "basis", "methods", "content", "category", "target_scope", "specialty", "change_note")
CHECKPOINT_FIELDS = ("key", "question", "legal_clause", "answer_kind", "options", "photo_required")
STATUS_LABELS = {"draft": "草稿", "published": "已发布", "retired": "已停用"}


# ---- views (plain dicts: an item with its versions, a version with its checkpoints) ------------


def checkpoint_dict(cp: Checkpoint) -> dict[str, Any]:
    return {"id": cp.id, "position": cp.position, **{f: getattr(cp, f) for f in CHECKPOINT_FIELDS}}


def version_dict(version: CheckItemVersion, checkpoints: Iterable[Checkpoint] | None = None) -> dict[str, Any]:
    out = version.model_dump()
    if checkpoints is not None:
        out["checkpoints"] = [checkpoint_dict(cp) for cp in sorted(checkpoints, key=lambda c: c.position)]
    return out


def _checkpoints_of(session: Session, version_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Checkpoint]]:
    out: dict[uuid.UUID, list[Checkpoint]] = defaultdict(list)
    if not version_ids:
        return out
    rows = session.execute(
        select(Checkpoint)
        .where(Checkpoint.item_version_id.in_(version_ids))  # type: ignore[attr-defined]
        .order_by(Checkpoint.position)
    ).scalars()
    for cp in rows:
        out[cp.item_version_id].append(cp)
    return out


def _versions_of(session: Session, item_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[CheckItemVersion]]:
    out: dict[uuid.UUID, list[CheckItemVersion]] = defaultdict(list)
    if not item_ids:
        return out
    rows = session.execute(
        select(CheckItemVersion)
        .where(CheckItemVersion.item_id.in_(item_ids))  # type: ignore[attr-defined]
        .order_by(CheckItemVersion.version)
    ).scalars()
    for v in rows:
        out[v.item_id].append(v)
    return out


def item_dict(item: CheckItem, versions: list[CheckItemVersion], checkpoints: list[Checkpoint] | None = None) -> dict:
    latest = versions[-1] if versions else None
    published = next((v for v in reversed(versions) if v.status == "published"), None)
    return {
        **item.model_dump(),
        "latest_version": version_dict(latest, checkpoints) if latest else None,
        "published_version": published.version if published else None,
        "published_version_id": published.id if published else None,
        "draft_version_id": latest.id if latest and latest.status == "draft" else None,
    }


# ---- reading ------------------------------------------------------------------------------------


def _item(session: Session, actor: User, item_id: uuid.UUID, action: str = access.READ) -> CheckItem:
    item = session.get(CheckItem, item_id)
    if item is None:
        raise NotFound("抽查事项不存在")
    access.authorize(actor, "check_item", access.READ, department_id=item.department_id)
    if action != access.READ:
        access.authorize(actor, "check_item", action, department_id=item.department_id)
    return item


def list_items(
    *,
    session: Session,
    actor: User,
    department_id: uuid.UUID | None,
    q: str | None,
    active: bool | None,
    page: int,
    page_size: int,
) -> Page[dict]:
    reach = access.scope(actor, "check_item", access.READ)
    stmt = select(CheckItem)
    cond = reach.where(department_col=CheckItem.department_id)
    if cond is not None:
        stmt = stmt.where(cond)
    if department_id:
        stmt = stmt.where(CheckItem.department_id == department_id)
    if active is not None:
        stmt = stmt.where(CheckItem.active.is_(active))  # type: ignore[attr-defined]
    if q:
        pattern = like_pattern(q.strip())
        names = select(CheckItemVersion.item_id).where(CheckItemVersion.name.like(pattern, escape="\\"))  # type: ignore[attr-defined]
        stmt = stmt.where(or_(CheckItem.code.like(pattern, escape="\\"), CheckItem.id.in_(names)))  # type: ignore[attr-defined]
    stmt = stmt.order_by(CheckItem.code, CheckItem.id)
    total = session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    items = list(session.execute(stmt.limit(page_size).offset((page - 1) * page_size)).scalars())
    versions = _versions_of(session, [i.id for i in items])
    return Page([item_dict(i, versions[i.id]) for i in items], total)


def get_item(*, session: Session, actor: User, item_id: uuid.UUID) -> dict:
    item = _item(session, actor, item_id)
    versions = _versions_of(session, [item.id])[item.id]
    cps = _checkpoints_of(session, [versions[-1].id])[versions[-1].id] if versions else []
    return item_dict(item, versions, cps)


def list_versions(*, session: Session, actor: User, item_id: uuid.UUID) -> list[dict]:
    item = _item(session, actor, item_id)
    return [version_dict(v) for v in _versions_of(session, [item.id])[item.id]]


def _version(session: Session, item: CheckItem, version_id: uuid.UUID) -> CheckItemVersion:
    version = session.get(CheckItemVersion, version_id)
    if version is None or version.item_id != item.id:
        raise NotFound("版本不存在")
    return version


def get_version(*, session: Session, actor: User, item_id: uuid.UUID, version_id: uuid.UUID) -> dict:
    item = _item(session, actor, item_id)
    version = _version(session, item, version_id)
    return version_dict(version, _checkpoints_of(session, [version.id])[version.id])


def public_items(
    *, session: Session, department_id: uuid.UUID | None, q: str | None, category: str | None, page: int, page_size: int
) -> Page[dict]:
    """The public list: for every active item, its latest published version with checkpoints."""
    latest = (
        select(CheckItemVersion.item_id, func.max(CheckItemVersion.version).label("version"))
        .where(CheckItemVersion.status == "published")
        .group_by(CheckItemVersion.item_id)
        .subquery()
    )
    stmt = (
        select(CheckItemVersion, CheckItem, Department)
        .join(latest, and_(latest.c.item_id == CheckItemVersion.item_id, latest.c.version == CheckItemVersion.version))
        .join(CheckItem, CheckItem.id == CheckItemVersion.item_id)
        .join(Department, Department.id == CheckItem.department_id)
        .where(CheckItem.active.is_(True))  # type: ignore[attr-defined]
    )
    if department_id:
        stmt = stmt.where(CheckItem.department_id == department_id)
    if category:
        stmt = stmt.where(CheckItemVersion.category == category)
    if q:
        stmt = stmt.where(CheckItemVersion.name.like(like_pattern(q.strip()), escape="\\"))  # type: ignore[attr-defined]
    stmt = stmt.order_by(CheckItem.code, CheckItem.id)
    total = session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    rows = session.execute(stmt.limit(page_size).offset((page - 1) * page_size)).all()
    cps = _checkpoints_of(session, [v.id for v, _, _ in rows])
    items = []
    for version, item, dept in rows:
        body = version_dict(version, cps[version.id])
        body.update(code=item.code, department_id=dept.id, department_name=dept.name)
        items.append(body)
    return Page(items, total)


# ---- writing ------------------------------------------------------------------------------------


def _validate_version(values: dict[str, Any]) -> None:
    errors: dict[str, list[str]] = {}
    methods = values.get("methods")
    if methods is not None:
        unknown = [m for m in methods if m not in ITEM_METHODS]
        if unknown:
            errors["methods"] = [f"不支持的抽查方式：{'、'.join(unknown)}"]
    if "category" in values and values["category"] not in ITEM_CATEGORIES:
        errors["category"] = ["事项类别应为 key（重点）或 general（一般）"]
    if errors:
        raise Invalid("抽查事项内容有误", errors=errors)


def _normalise_checkpoints(checkpoints: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    keys: set[str] = set()
    for i, raw in enumerate(checkpoints):
        cp = {f: raw[f] for f in CHECKPOINT_FIELDS if f in raw}
        cp.setdefault("key", f"cp{i + 1}")
        cp.setdefault("legal_clause", "")
        cp.setdefault("answer_kind", "pass_fail")
        cp.setdefault("options", [])
        cp.setdefault("photo_required", False)
        where = f"checkpoints.{i}"
        if cp["key"] in keys:
            raise Invalid("检查要点编号重复", errors={where: {"key": [f"编号“{cp['key']}”重复"]}})
        keys.add(cp["key"])
        if cp["answer_kind"] not in ANSWER_KINDS:
            raise Invalid("答案类型不正确", errors={where: {"answer_kind": ["答案类型不正确"]}})
        if cp["answer_kind"] == "choice" and not cp["options"]:
            raise Invalid("选择题须提供选项", errors={where: {"options": ["选择题须提供选项"]}})
        if not str(cp.get("question", "")).strip():
            raise Invalid("检查要点不能为空", errors={where: {"question": ["不能为空"]}})
        cp["position"] = i
        out.append(cp)
    return out


def _write_checkpoints(session: Session, version: CheckItemVersion, checkpoints: list[dict[str, Any]]) -> None:
    for old in session.execute(select(Checkpoint).where(Checkpoint.item_version_id == version.id)).scalars():
        session.delete(old)
    session.flush()
    for cp in checkpoints:
        session.add(Checkpoint(item_version_id=version.id, **cp))


def _checkpoint_content(cps: Iterable[Checkpoint] | Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{f: (cp[f] if isinstance(cp, dict) else getattr(cp, f)) for f in CHECKPOINT_FIELDS} for cp in cps]


def create_item(*, session: Session, actor: User | None, values: dict[str, Any]) -> dict:
    """A new 抽查事项 with its first version (a draft) and ordered checkpoints."""
    values = dict(values)
    checkpoints = _normalise_checkpoints(values.pop("checkpoints", []))
    code = values.pop("code")
    department_id = values.pop("department_id", None) or (actor.department_id if actor else None)
    if department_id is None:
        raise Invalid("请指定部门", errors={"department_id": ["必填"]})
    if actor is not None:
        access.authorize(actor, "check_item", access.WRITE, department_id=department_id, existing=False)
    if session.get(Department, department_id) is None:
        raise Invalid("部门不存在", errors={"department_id": ["部门不存在"]})
    if session.execute(select(CheckItem.id).where(CheckItem.code == code)).first():
        raise Conflict("事项编码已存在", errors={"code": ["事项编码已存在"]})
    _validate_version(values)
    item = CheckItem(code=code, department_id=department_id)
    session.add(item)
    session.flush()
    version = CheckItemVersion(item_id=item.id, version=1, status="draft", **values)
    session.add(version)
    session.flush()
    _write_checkpoints(session, version, checkpoints)
    audit.record(
        session=session,
        actor=actor,
        action="check_item.create",
        entity="check_item",
        entity_id=item.id,
        data={"code": code, "department_id": department_id, "version": 1, **values, "checkpoints": checkpoints},
    )
    commit_or_conflict(session, field="code", message="事项编码已存在")
    return get_item_unchecked(session=session, item_id=item.id)


def get_item_unchecked(*, session: Session, item_id: uuid.UUID) -> dict:
    item = session.get(CheckItem, item_id)
    assert item is not None
    versions = _versions_of(session, [item.id])[item.id]
    cps = _checkpoints_of(session, [versions[-1].id])[versions[-1].id] if versions else []
    return item_dict(item, versions, cps)


def update_item(*, session: Session, actor: User, item_id: uuid.UUID, values: dict[str, Any]) -> dict:
    item = _item(session, actor, item_id, access.WRITE)
    diff = apply_changes(item, values, touch=False)
    if diff:
        audit.record(
            session=session,
            actor=actor,
            action="check_item.update",
            entity="check_item",
            entity_id=item.id,
            data={"code": item.code, "changes": diff},
        )
        session.commit()
    return get_item(session=session, actor=actor, item_id=item.id)


def new_draft(*, session: Session, actor: User | None, item_id: uuid.UUID, change_note: str = "") -> dict:
    """Open the next version as a draft, copying the latest version and its checkpoints."""
    if actor is not None:
        item = _item(session, actor, item_id, access.WRITE)
    else:
        item = session.get(CheckItem, item_id)  # type: ignore[assignment]
    versions = _versions_of(session, [item.id])[item.id]
    latest = versions[-1]
    if latest.status == "draft":
        raise Conflict(
            "该事项已有草稿版本，请编辑或发布后再新建", errors={"version": [f"草稿为第 {latest.version} 版"]}
        )
    draft = CheckItemVersion(
        item_id=item.id,
        version=latest.version + 1,
        status="draft",
        **{f: getattr(latest, f) for f in VERSION_FIELDS if f != "change_note"},
        change_note=change_note,
    )
    session.add(draft)
    session.flush()
    cps = _checkpoints_of(session, [latest.id])[latest.id]
    _write_checkpoints(session, draft, [{"position": c.position, **_checkpoint_content([c])[0]} for c in cps])
    audit.record(
        session=session,
        actor=actor,
        action="check_item.new_version",
        entity="check_item",
        entity_id=item.id,
        data={"code": item.code, "version": draft.version, "copied_from": latest.version},
    )
    commit_or_conflict(session, field="version", message="版本号冲突，请重试")
    return version_dict(draft, _checkpoints_of(session, [draft.id])[draft.id])


def update_draft(
    *, session: Session, actor: User | None, item_id: uuid.UUID, version_id: uuid.UUID, values: dict[str, Any]
) -> dict:
    """Edit a draft; published and retired versions are immutable (409)."""
    if actor is not None:
        item = _item(session, actor, item_id, access.WRITE)
    else:
        item = session.get(CheckItem, item_id)  # type: ignore[assignment]
    version = _version(session, item, version_id)
    if version.status != "draft":
        raise Conflict(
            f"第 {version.version} 版已{STATUS_LABELS[version.status]}，不能修改；请新建版本",
            errors={"status": [version.status]},
        )
    values = dict(values)
    checkpoints = values.pop("checkpoints", None)
    _validate_version(values)
    diff = apply_changes(version, values, touch=False)
    if checkpoints is not None:
        normalised = _normalise_checkpoints(checkpoints)
        current = _checkpoints_of(session, [version.id])[version.id]
        if _checkpoint_content(current) != _checkpoint_content(normalised):
            diff["checkpoints"] = [_checkpoint_content(current), _checkpoint_content(normalised)]
            _write_checkpoints(session, version, normalised)
    if diff:
        audit.record(
            session=session,
            actor=actor,
            action="check_item.edit_draft",
            entity="check_item",
            entity_id=item.id,
            data={"code": item.code, "version": version.version, "changes": diff},
        )
        session.commit()
    return version_dict(version, _checkpoints_of(session, [version.id])[version.id])


def publish(*, session: Session, actor: User | None, item_id: uuid.UUID, version_id: uuid.UUID) -> dict:
    """Publish a draft; the previously published version of the item is retired in the same transaction."""
    if actor is not None:
        item = _item(session, actor, item_id, access.PUBLISH)
    else:
        item = session.get(CheckItem, item_id)  # type: ignore[assignment]
    version = _version(session, item, version_id)
    if version.status != "draft":
        raise Conflict(
            f"只有草稿可以发布，第 {version.version} 版已{STATUS_LABELS[version.status]}",
            errors={"status": [version.status]},
        )
    if not _checkpoints_of(session, [version.id])[version.id]:
        raise Invalid("发布前至少需要一个检查要点", errors={"checkpoints": ["至少需要一个检查要点"]})
    retired = []
    for old in session.execute(
        select(CheckItemVersion).where(CheckItemVersion.item_id == item.id, CheckItemVersion.status == "published")
    ).scalars():
        old.status = "retired"
        retired.append(old.version)
    version.status = "published"
    version.published_at = utcnow()
    version.published_by = actor.id if actor else None
    audit.record(
        session=session,
        actor=actor,
        action="check_item.publish",
        entity="check_item",
        entity_id=item.id,
        data={"code": item.code, "version": version.version, "retired": retired},
    )
    session.commit()
    return version_dict(version, _checkpoints_of(session, [version.id])[version.id])


def deactivate_item(*, session: Session, actor: User, item_id: uuid.UUID) -> None:
    item = _item(session, actor, item_id, access.WRITE)
    if apply_changes(item, {"active": False}, touch=False):
        audit.record(
            session=session,
            actor=actor,
            action="check_item.deactivate",
            entity="check_item",
            entity_id=item.id,
            data={"code": item.code},
        )
        session.commit()
