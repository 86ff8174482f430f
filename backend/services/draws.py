"""The verifiable draw of a task: notice, witnessed entropy, the draw itself, dispatch of 一企一表 forms.

Flow (DESIGN §4): publish the notice (population from the directory, digest, parameters, algorithm,
commitment to a fresh 32-byte secret, and the inspector side it will match against) -> witnesses enter
entropy (RFC 3797 numbers and/or a named beacon value) -> perform: seed = HKDF(secret, entropy), keyed
weighted stratified selection and deterministic matching, the record with the revealed secret -> dispatch:
one joint form per drawn enterprise with every department's team, in one transaction.

The algorithm itself lives in backend/draw/verify_draw.py, which is also the public verifier.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import unicodedata
import uuid
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import Any

import zstandard
from sqlalchemy import and_, func, select
from sqlmodel import Session

from ..config import Settings
from ..draw import verify_draw as algorithm
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..models.accounts import User
from ..models.base import utcnow
from ..models.directory import (
    CheckItem,
    CheckItemVersion,
    Checkpoint,
    ConflictOfInterest,
    Department,
    Enterprise,
    Inspector,
)
from ..models.fieldwork import FormAnswer
from ..models.forms import FormAssignment, InspectionForm
from ..models.planning import (
    PLAN_IN_FORCE,
    AnnualPlan,
    Draw,
    DrawArtifact,
    DrawNotice,
    DrawWitnessSignature,
    InspectionTask,
)
from . import audit
from .plans import canonical, content_digest, plan_cap, server_key
from .population import (
    add_months,
    allocate_counts,
    canonical_population_csv,
    check_cap,
    count_eligible,
    eligible_conditions,
    population_rows,
    ratio_text,
    region_prefix,
)
from .tasks import add_workdays, get_task, population_spec, require_task_planner, required_specialties

Progress = Callable[[str, int | None, int | None], None]
OPEN_FORM_STATUSES = ("dispatched", "in_progress", "submitted", "returned")
ADJUSTABLE_FORM_STATUSES = ("dispatched", "in_progress", "returned")
DEFAULT_ENTROPY_SOURCES = [
    {
        "name": "见证人号码",
        "kind": "numbers",
        "description": "公告后由到场见证人现场报出的号码（RFC 3797 格式）",
    }
]
CONFLICT_REASONS = {"relative": "亲属关系", "former_employer": "曾在该企业任职", "other": "其他应回避情形"}
DRAW_NOT_FOUND = "摇号记录不存在"
VERIFIER_PATH = Path(algorithm.__file__).resolve()


def _noop(_stage: str, _done: int | None = None, _total: int | None = None) -> None:
    return None


# --------------------------------------------------------------------------------- the sealed secret


def _secret_keys(settings: Settings) -> tuple[bytes, bytes]:
    base = server_key(settings, "draw-secret-at-rest")
    return (
        hmac.new(base, b"enc", hashlib.sha256).digest(),
        hmac.new(base, b"mac", hashlib.sha256).digest(),
    )


def seal_secret(settings: Settings, secret_hex: str) -> str:
    """Encrypt-then-MAC with HMAC-SHA256 as the PRF (stdlib only): the secret never sits in clear at rest."""
    enc, mac = _secret_keys(settings)
    nonce = secrets.token_bytes(16)
    plain = bytes.fromhex(secret_hex)
    stream = hmac.new(enc, nonce, hashlib.sha256).digest()
    cipher = bytes(a ^ b for a, b in zip(plain, stream, strict=True))
    tag = hmac.new(mac, nonce + cipher, hashlib.sha256).digest()
    return "v1." + base64.urlsafe_b64encode(nonce + cipher + tag).decode()


def unseal_secret(settings: Settings, sealed: str) -> str:
    enc, mac = _secret_keys(settings)
    if not sealed.startswith("v1."):
        raise Conflict("摇号秘密值的存储格式无法识别")
    raw = base64.urlsafe_b64decode(sealed[3:])
    nonce, cipher, tag = raw[:16], raw[16:48], raw[48:]
    if not hmac.compare_digest(tag, hmac.new(mac, nonce + cipher, hashlib.sha256).digest()):
        raise Conflict("摇号秘密值无法解封（服务器密钥已更换或数据被篡改）")
    stream = hmac.new(enc, nonce, hashlib.sha256).digest()
    return bytes(a ^ b for a, b in zip(cipher, stream, strict=True)).hex()


# ------------------------------------------------------------------------------------------ artifacts


#: The first bytes of a Zstandard frame; artifacts stored before Zstandard are zlib streams (0x78 …).
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _pack(data: bytes) -> bytes:
    # Zstandard at level 1: a smaller result than zlib's fastest level in under half the time, unpacked in
    # about 60 % of zlib's (a million-row snapshot: 35 MB to 4.4 MB in 0.06 s, unpacked in 0.05 s; zlib
    # 6.6 MB in 0.14 s, unpacked in 0.08 s).
    return zstandard.ZstdCompressor(level=1).compress(data)


def _unpack(content: bytes) -> bytes:
    if content[:4] == _ZSTD_MAGIC:
        return zstandard.ZstdDecompressor().decompress(content)  # the frame states its size
    return zlib.decompress(content)


def _store_artifact(session: Session, notice_id: uuid.UUID, kind: str, data: bytes) -> DrawArtifact:
    artifact = DrawArtifact(
        notice_id=notice_id,
        kind=kind,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        content=_pack(data),
    )
    session.add(artifact)
    return artifact


def artifact_bytes(session: Session, notice_id: uuid.UUID, kind: str) -> bytes:
    return _artifact(session, notice_id, kind)[0]


def _artifact(session: Session, notice_id: uuid.UUID, kind: str) -> tuple[bytes, str]:
    """An artifact's bytes and their SHA-256 (hex), checked against the digest stored beside them."""
    query = select(DrawArtifact.content, DrawArtifact.sha256).where(
        DrawArtifact.notice_id == notice_id, DrawArtifact.kind == kind
    )
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # bytea in the binary protocol: the text protocol's hex form is twice the size and decoded here.
        compiled = query.compile(dialect=connection.dialect)
        with connection.connection.driver_connection.cursor(binary=True) as cursor:  # type: ignore[union-attr]
            content = cursor.execute(str(compiled), compiled.params).fetchone()
    else:
        content = session.execute(query).first()
    if content is None:
        raise NotFound("摇号文件不存在")
    try:
        data, digest = _unpack(content[0]), content[1]
    except (zstandard.ZstdError, zlib.error) as exc:  # damaged below the application: same answer as a digest
        raise Conflict("摇号文件校验失败（存储内容被改动）") from exc
    if hashlib.sha256(data).hexdigest() != digest:
        raise Conflict("摇号文件校验失败（存储内容被改动）")
    return data, digest


# --------------------------------------------------------------------------------------------- access


def _draw_for_task(session: Session, task: InspectionTask) -> Draw | None:
    return session.execute(select(Draw).where(Draw.task_id == task.id)).scalar_one_or_none()


def get_draw(*, session: Session, actor: User, draw_id: uuid.UUID) -> tuple[Draw, InspectionTask, AnnualPlan]:
    draw = session.get(Draw, draw_id)
    if draw is None:
        raise NotFound(DRAW_NOT_FOUND)
    try:
        task, plan = get_task(session=session, actor=actor, task_id=draw.task_id)
    except NotFound as exc:
        raise NotFound(DRAW_NOT_FOUND) from exc
    return draw, task, plan


def get_task_draw(
    *, session: Session, actor: User, task_id: uuid.UUID
) -> tuple[Draw, InspectionTask, AnnualPlan]:
    task, plan = get_task(session=session, actor=actor, task_id=task_id)
    draw = _draw_for_task(session, task)
    if draw is None:
        raise NotFound("该任务尚未发布摇号公告")
    return draw, task, plan


def notice_of(session: Session, draw: Draw) -> DrawNotice:
    notice = session.get(DrawNotice, draw.notice_id)
    assert notice is not None  # noqa: S101 - FK
    return notice


# ------------------------------------------------------------------------------------ matching inputs


@dataclass
class DepartmentIndex:
    by_id: dict[str, Department]
    by_code: dict[str, Department]

    @classmethod
    def load(cls, session: Session, ids: Iterable[str]) -> DepartmentIndex:
        rows = (
            session.execute(
                select(Department).where(Department.id.in_([uuid.UUID(i) for i in ids]))  # type: ignore[attr-defined]
            )
            .scalars()
            .all()
        )
        return cls({str(d.id): d for d in rows}, {d.code: d for d in rows})


def _current_loads(session: Session, inspector_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    if not inspector_ids:
        return {}
    rows = session.execute(
        select(FormAssignment.inspector_id, func.count())
        .join(InspectionForm, InspectionForm.id == FormAssignment.form_id)
        .where(
            FormAssignment.active == True,  # noqa: E712
            InspectionForm.status.in_(OPEN_FORM_STATUSES),  # type: ignore[attr-defined]
            FormAssignment.inspector_id.in_(inspector_ids),  # type: ignore[attr-defined]
        )
        .group_by(FormAssignment.inspector_id)
    ).all()
    return {r[0]: int(r[1]) for r in rows}


def _inspector_entry(insp: Inspector, dept_code: str, load: int) -> dict[str, Any]:
    return {
        "id": str(insp.id),
        "department": dept_code,
        "certificate_valid_until": insp.certificate_valid_until.isoformat()
        if insp.certificate_valid_until
        else None,
        "specialties": sorted(set(insp.specialties or [])),
        "region_codes": sorted(set(insp.region_codes or [])),
        "active": bool(insp.active),
        "current_load": load,
    }


def matching_side(
    session: Session, task: InspectionTask, depts: DepartmentIndex, *, today: date
) -> dict[str, Any]:
    """The inspector directory, 回避 records and previous pairings the notice commits to."""
    inspectors = (
        session.execute(
            select(Inspector)
            .where(Inspector.department_id.in_([d.id for d in depts.by_id.values()]))  # type: ignore[attr-defined]
            .order_by(Inspector.id)
        )
        .scalars()
        .all()
    )
    ids = [i.id for i in inspectors]
    loads = _current_loads(session, ids)
    entries = [
        _inspector_entry(i, depts.by_id[str(i.department_id)].code, loads.get(i.id, 0)) for i in inspectors
    ]
    conflicts = []
    pairings = []
    for start in range(0, len(ids), 2000):
        chunk = ids[start : start + 2000]
        for insp_id, uscc, reason in session.execute(
            select(ConflictOfInterest.inspector_id, Enterprise.uscc, ConflictOfInterest.reason)
            .join(Enterprise, Enterprise.id == ConflictOfInterest.enterprise_id)
            .where(ConflictOfInterest.inspector_id.in_(chunk))  # type: ignore[attr-defined]
        ):
            conflicts.append(
                {"inspector_id": str(insp_id), "uscc": uscc, "reason": CONFLICT_REASONS.get(reason, reason)}
            )
        if task.pairing_lookback_months:
            cutoff = add_months(today, -task.pairing_lookback_months)
            for insp_id, uscc in session.execute(
                select(FormAssignment.inspector_id, Enterprise.uscc)
                .join(InspectionForm, InspectionForm.id == FormAssignment.form_id)
                .join(Enterprise, Enterprise.id == InspectionForm.enterprise_id)
                .where(
                    FormAssignment.inspector_id.in_(chunk),  # type: ignore[attr-defined]
                    func.coalesce(InspectionForm.dispatched_at, InspectionForm.created_at)
                    >= _midnight(cutoff),
                )
                .distinct()
            ):
                pairings.append({"inspector_id": str(insp_id), "uscc": uscc})
    return {"inspectors": entries, "conflicts": conflicts, "previous_pairings": pairings}


def _midnight(day: date) -> Any:
    from datetime import UTC, datetime

    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _pool_reasons(
    insp: Mapping[str, Any], *, inspection_date: str, specialty: str | None, cap: int | None
) -> list[str]:
    reasons = []
    if not insp["active"]:
        reasons.append("已停用")
    valid = insp["certificate_valid_until"]
    if valid is None:
        reasons.append("无执法证")
    elif valid < inspection_date:
        reasons.append("执法证到期")
    if specialty and specialty not in insp["specialties"]:
        reasons.append(f"缺少专长“{specialty}”")
    if cap is not None and insp["current_load"] >= cap:
        reasons.append("工作量已满")
    return reasons


def check_pools(
    *,
    side: Mapping[str, Any],
    regions: Mapping[str, str],
    parameters: Mapping[str, Any],
    depts: DepartmentIndex,
) -> None:
    """Before publishing: every (department, region) pool must hold enough inspectors who pass the
    enterprise-independent checks, otherwise no draw could ever be dispatched. Per-enterprise conditions
    (回避, previous pairing, workload as it fills) are checked by the matching itself."""
    needed = parameters["inspectors_per_target"]
    date_ = parameters["inspection_date"]
    cap = parameters["workload_cap"]
    # Index by (department, jurisdiction prefix) once: a region's pool is the union over its prefixes.
    by_prefix: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for insp in side["inspectors"]:
        for prefix in {region_prefix(c) for c in insp["region_codes"]}:
            by_prefix[(insp["department"], prefix)].append(insp)
    for code in parameters["departments"]:
        specialty = parameters["required_specialties"].get(code)
        for region, example in sorted(regions.items()):
            seen: dict[str, dict[str, Any]] = {}
            for length in range(1, len(region) + 1):
                for insp in by_prefix.get((code, region[:length]), ()):
                    seen[insp["id"]] = insp
            pool = list(seen.values())
            reasons: Counter[str] = Counter()
            fit = 0
            for insp in pool:
                why = _pool_reasons(insp, inspection_date=date_, specialty=specialty, cap=cap)
                if why:
                    reasons.update(why)
                else:
                    fit += 1
            if fit < needed:
                dept = depts.by_code[code]
                detail = "，".join(f"{k} {n} 名" for k, n in sorted(reasons.items()))
                missing = (
                    "辖区内没有该部门的执法检查人员"
                    if not pool
                    else f"需要 {needed} 名，符合条件的仅 {fit} 名（辖区内共 {len(pool)} 名：{detail}）"
                )
                raise Invalid(
                    f"无法为地区 {region} 的检查对象（如 {example}）匹配“{dept.name}”的执法检查人员："
                    f"{missing}",
                    errors={
                        "matching": {
                            "uscc": example,
                            "department": dept.name,
                            "region_code": region,
                            "missing": missing,
                        }
                    },
                )


# ------------------------------------------------------------------------------------------ the notice


def build_parameters(
    session: Session, task: InspectionTask, plan: AnnualPlan, depts: DepartmentIndex, sizes: Mapping[str, int]
) -> dict[str, Any]:
    cap = plan_cap(plan)
    check_cap(
        ratio=Decimal(task.ratio) if task.ratio else None,
        count=task.count,
        cap=cap,
        population_size=sum(sizes.values()),
        is_key_area=plan.is_key_area,
    )
    params: dict[str, Any] = {"max_ratio": ratio_text(cap)}
    if task.ratio:
        params.update(mode="ratio", ratio=task.ratio)
    else:
        assert task.count is not None  # noqa: S101 - validated on save
        params.update(mode="counts", counts=allocate_counts(task.count, sizes))
    if task.weight_rule:
        params["weight_rule"] = task.weight_rule
    per_target = set((task.inspectors_per_target or {}).values()) or {algorithm.DEFAULT_INSPECTORS_PER_TARGET}
    params["inspectors_per_target"] = max(per_target)
    params["workload_cap"] = task.workload_cap
    params["inspection_date"] = task.inspection_date.isoformat() if task.inspection_date else None
    params["required_specialties"] = {
        depts.by_id[d].code: s for d, s in required_specialties(session, task).items() if d in depts.by_id
    }
    params["lead_department"] = depts.by_id[str(plan.lead_department_id)].code
    params["departments"] = sorted(depts.by_id[d].code for d in task.department_ids)
    try:
        return algorithm.normalize_parameters(params)
    except algorithm.DrawError as exc:
        raise Invalid(f"摇号参数无效：{exc}") from exc


def _regions_of_population(session: Session, task: InspectionTask, today: date) -> dict[str, str]:
    """region_code -> one example uscc, over the eligible population."""
    spec = population_spec(task, today=today)
    conds = eligible_conditions(session, spec.filters, spec.exclusions)
    rows = session.execute(
        select(Enterprise.region_code, func.min(Enterprise.uscc))
        .where(and_(*conds))
        .group_by(Enterprise.region_code)
    ).all()
    return {r[0] or "": r[1] for r in rows}


def _notice_context(
    session: Session, task: InspectionTask, plan: AnnualPlan, depts: DepartmentIndex
) -> dict[str, Any]:
    items = session.execute(
        select(CheckItem.code, CheckItemVersion.version, CheckItemVersion.name, CheckItem.department_id)
        .join(CheckItem, CheckItem.id == CheckItemVersion.item_id)
        .where(CheckItemVersion.id.in_([uuid.UUID(v) for v in task.item_version_ids]))  # type: ignore[attr-defined]
        .order_by(CheckItem.code)
    ).all()
    return {
        "task": {"id": str(task.id), "code": task.code, "name": task.name},
        "plan": {
            "id": str(plan.id),
            "name": plan.name,
            "year": plan.year,
            "content_digest": content_digest(plan),
            "is_key_area": plan.is_key_area,
            "cap": ratio_text(plan_cap(plan)),
        },
        "items": [
            {"code": code, "version": version, "name": name, "department": depts.by_id[str(dept)].code}
            for code, version, name, dept in items
            if str(dept) in depts.by_id
        ],
        "departments": [
            {"code": depts.by_id[d].code, "name": depts.by_id[d].name} for d in task.department_ids
        ],
        "target_filters": task.target_filters or {},
        "exclusions": population_spec(task).exclusions.describe(),
        "strata_key": task.strata_key,
        "pairing_lookback_months": task.pairing_lookback_months,
    }


def publish_notice(
    *,
    session: Session,
    actor: User,
    settings: Settings,
    task_id: uuid.UUID,
    entropy_sources: Sequence[Mapping[str, Any]] | None = None,
    today: date | None = None,
    max_population: int | None = None,
    progress: Progress | None = None,
) -> tuple[DrawNotice, Draw]:
    """Fix the population, parameters and inspector side, commit to a fresh secret, and publish."""
    progress = progress or _noop
    today = today or date.today()
    task, plan = get_task(session=session, actor=actor, task_id=task_id)
    require_task_planner(actor, plan, "发布摇号公告")
    if task.status != "draft":
        raise Conflict("该任务的摇号公告已经发布，公告发布后不可修改", errors={"status": [task.status]})
    if plan.status not in PLAN_IN_FORCE:
        raise Conflict("年度计划不在有效状态，不能发布公告")
    if task.inspection_date is None:
        raise Invalid("请先填写检查日期（用于核对执法证有效期）", errors={"inspection_date": ["不能为空"]})
    depts = DepartmentIndex.load(session, task.department_ids)
    spec = population_spec(task, today=today)
    progress("检查范围", None, None)
    regions = _regions_of_population(session, task, today)
    if max_population is not None:
        size = count_eligible(session, spec.filters, spec.exclusions)
        if size > max_population:
            raise Conflict(
                f"检查对象 {size} 户，规模较大，请使用命令行发布公告：shuangsui draw notice {task.id}",
                errors={"population_size": [str(size)]},
            )
    if "" in regions:
        raise Invalid(
            f"有检查对象未登记所在地区（如 {regions['']}），无法按辖区匹配执法检查人员；"
            "请先补全检查对象名录库",
            errors={"target_filters": ["存在未登记地区的检查对象"]},
        )
    progress("读取检查对象名录", None, None)
    # PostgreSQL writes the canonical CSV itself; elsewhere (or for a row that would not be canonical,
    # which the validating path then names) the rows come through Python.
    snapshot = canonical_population_csv(session, spec)
    population: Any = None
    if snapshot is not None:
        population_bytes, sizes = snapshot
    else:
        population = population_rows(session, spec)
        population_bytes, sizes = None, population.sizes()
    if not sizes:
        raise Invalid(
            "没有符合条件的检查对象，不能发布公告", errors={"target_filters": ["范围内没有可抽取的检查对象"]}
        )
    parameters = build_parameters(session, task, plan, depts, sizes)
    _check_plan_budget(session, plan, task, parameters, sizes)
    progress("执法检查人员名录", None, None)
    side = matching_side(session, task, depts, today=today)
    check_pools(side=side, regions=regions, parameters=parameters, depts=depts)
    sources = list(entropy_sources or DEFAULT_ENTROPY_SOURCES)
    secret = algorithm.new_secret()
    progress("生成公告", None, None)
    try:
        notice_body = algorithm.make_notice(
            population_rows=population,
            population_csv=population_bytes,
            strata_sizes=sizes if population_bytes is not None else None,
            parameters=parameters,
            commitment=algorithm.commitment_for(secret),
            entropy_sources=sources,
            inspectors=side["inspectors"],
            conflicts=side["conflicts"],
            previous_pairings=side["previous_pairings"],
            context=_notice_context(session, task, plan, depts),
        )
    except algorithm.DrawError as exc:
        raise Invalid(f"不能发布公告：{exc}", errors={"notice": [str(exc)]}) from exc
    notice = DrawNotice(
        task_id=task.id,
        algorithm=notice_body["algorithm"],
        population_digest=notice_body["population_digest"],
        population_size=notice_body["population_size"],
        total=notice_body["total"],
        parameters=notice_body["parameters"],
        commitment=notice_body["commitment"],
        matching_digest=notice_body["matching_digest"],
        notice=notice_body,
        notice_digest=algorithm.notice_digest(notice_body),
        published_by=actor.id,
    )
    session.add(notice)
    session.flush()
    progress("保存名录快照", None, None)
    if population_bytes is None:
        population_bytes = algorithm.canonical_population_bytes(population)
    _store_artifact(session, notice.id, "population", population_bytes)
    _store_artifact(session, notice.id, "matching_side", algorithm.canonical_json(side))
    draw = Draw(
        task_id=task.id,
        notice_id=notice.id,
        secret_sealed=seal_secret(settings, secret),
        beacon_name=next((s["name"] for s in notice_body["entropy_sources"] if s["kind"] == "beacon"), None),
    )
    session.add(draw)
    task.status = "noticed"
    task.noticed_at = notice.published_at
    task.updated_at = notice.published_at
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="draw.notice_published",
        entity="inspection_task",
        entity_id=task.id,
        data={
            "notice_id": str(notice.id),
            "draw_id": str(draw.id),
            "notice_digest": notice.notice_digest,
            "population_digest": notice.population_digest,
            "population_size": notice.population_size,
            "total": notice.total,
            "commitment": notice.commitment,
            "matching_digest": notice.matching_digest,
        },
    )
    session.commit()
    return notice, draw


def _check_plan_budget(
    session: Session,
    plan: AnnualPlan,
    task: InspectionTask,
    parameters: Mapping[str, Any],
    sizes: Mapping[str, int],
) -> None:
    """A plan's 抽查数量 is a budget shared by its tasks."""
    if plan.count is None:
        return
    quotas = algorithm.compute_quotas(strata_sizes=sizes, parameters=parameters)
    this = sum(quotas.values())
    used = session.execute(
        select(func.coalesce(func.sum(DrawNotice.total), 0))
        .join(InspectionTask, InspectionTask.id == DrawNotice.task_id)
        .where(InspectionTask.plan_id == plan.id, InspectionTask.id != task.id)
    ).scalar_one()
    if used + this > plan.count:
        raise Invalid(
            f"本任务将抽取 {this} 户，加上本计划已公告的 {used} 户，超过年度计划的抽查数量 {plan.count} 户",
            errors={"count": [f"本计划剩余 {max(plan.count - used, 0)} 户"]},
        )


# --------------------------------------------------------------------------------------------- entropy


def enter_entropy(
    *,
    session: Session,
    actor: User,
    task_id: uuid.UUID,
    source: str,
    numbers: Sequence[int] | None = None,
    value: str | None = None,
) -> Draw:
    """Record one declared entropy source, once, after the notice (never before it)."""
    task, plan = get_task(session=session, actor=actor, task_id=task_id)
    if not (
        actor.has_role("witness")
        or (actor.has_role("planner") and actor.department_id == plan.lead_department_id)
    ):
        raise Forbidden("只有监督员或牵头部门的部门管理员可以录入见证号码")
    draw = _draw_for_task(session, task)
    if draw is None:
        raise Conflict(
            "摇号公告发布前不能录入见证号码或信标值：熵必须在公告之后确定", errors={"notice": ["尚未发布"]}
        )
    if draw.status != "awaiting_entropy":
        raise Conflict("摇号已经完成，不能再录入")
    notice = notice_of(session, draw)
    declared = {s["name"]: s for s in notice.notice["entropy_sources"]}
    entry = declared.get(source)
    if entry is None:
        raise Invalid(f"公告没有声明熵来源“{source}”", errors={"source": [f"可选：{'、'.join(declared)}"]})
    entered = {e["source"] for e in draw.entropy_log}
    if source in entered:
        raise Conflict(f"熵来源“{source}”已录入，不能更改", errors={"source": ["已录入"]})
    now = utcnow()
    log = {
        "source": source,
        "kind": entry["kind"],
        "entered_by": str(actor.id),
        "entered_by_name": actor.display_name,
        "entered_at": now.isoformat(),
    }
    if entry["kind"] == "numbers":
        if value is not None or not numbers:
            raise Invalid("请录入见证号码", errors={"numbers": ["至少一个非负整数"]})
        if any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in numbers):
            raise Invalid("见证号码必须是非负整数", errors={"numbers": ["只能填写非负整数"]})
        if entry.get("count") is not None and len(numbers) != entry["count"]:
            raise Invalid(
                f"“{source}”应录入 {entry['count']} 个号码", errors={"numbers": [f"实际 {len(numbers)} 个"]}
            )
        wanted = sorted(int(n) for n in numbers)
        log["key_string"] = algorithm.rfc3797_key_string([wanted])
        draw.witness_numbers = {**draw.witness_numbers, source: wanted}
    else:
        if numbers or not value or not value.strip():
            raise Invalid("请录入信标取值", errors={"value": ["不能为空"]})
        if len(value) > 512:
            raise Invalid("信标取值过长", errors={"value": ["不超过 512 个字符"]})
        draw.beacon_value = value
        log["value"] = value
    draw.entropy_log = [*draw.entropy_log, log]
    draw.entered_by = actor.id
    audit.record(
        session=session,
        actor=actor,
        action="draw.entropy_entered",
        entity="draw",
        entity_id=draw.id,
        data={k: v for k, v in log.items() if k != "entered_by_name"} | {"numbers": numbers or None},
    )
    session.commit()
    return draw


def missing_sources(session: Session, draw: Draw) -> list[str]:
    notice = notice_of(session, draw)
    entered = {e["source"] for e in draw.entropy_log}
    return [s["name"] for s in notice.notice["entropy_sources"] if s["name"] not in entered]


# ------------------------------------------------------------------------------------------- the draw


class _Targets(Mapping[str, dict[str, Any]]):
    """Region and departments of the population members, for build_record().

    Two ways in. Called with the drawn enterprises and the stratum of each (docs/draw-requests.md R1:
    `targets(drawn_usccs, strata)`, what build_record() does), it resolves just those. Walked as a mapping,
    items() is one C-level zip over the population with a shared attrs dict per region: no Python frame per
    enterprise.
    """

    def __init__(
        self, session: Session, population: algorithm.Population, by_stratum: bool, departments: list[str]
    ) -> None:
        self._session = session
        self._population = population
        self._by_stratum = by_stratum  # region strata: the stratum *is* the region code fixed by the notice
        self._departments = departments
        self._attrs: dict[str, dict[str, Any]] = {}
        self._regions: dict[str, str] | None = None
        self._index: dict[str, dict[str, Any]] | None = None

    def _attr(self, region: str) -> dict[str, Any]:
        attrs = self._attrs.get(region)
        if attrs is None:
            attrs = self._attrs[region] = {"region_code": region, "departments": self._departments}
        return attrs

    def _lookup(self, usccs: Sequence[str]) -> dict[str, str]:
        regions: dict[str, str] = {}
        for start in range(0, len(usccs), 20000):
            part = list(usccs[start : start + 20000])
            for uscc, region in self._session.execute(
                select(Enterprise.uscc, Enterprise.region_code).where(Enterprise.uscc.in_(part))  # type: ignore[attr-defined]
            ):
                regions[uscc] = region
        missing = [u for u in usccs if u not in regions]
        if missing:
            raise Conflict(f"公告名录中的检查对象已从名录库删除：{'、'.join(missing[:5])}")
        return regions

    def __call__(self, drawn: Sequence[str], strata: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        if self._by_stratum:
            # The stratum each enterprise was drawn from is its region (the notice fixed both).
            attrs = {region: self._attr(region) for region in set(strata.values())}
            return {u: attrs[strata[u]] for u in drawn}
        return {u: self._attr(r) for u, r in self._lookup(drawn).items()}

    def items(self):  # type: ignore[no-untyped-def]
        usccs = map(itemgetter(0), self._population)
        if self._by_stratum:
            regions: Iterable[str] = map(itemgetter(1), self._population)
        else:
            if self._regions is None:
                self._regions = self._lookup([row[0] for row in self._population])
            regions = map(self._regions.__getitem__, map(itemgetter(0), self._population))
        known = self._regions.values() if self._regions is not None else self._population.strata
        for region in set(known):
            self._attr(region)
        return zip(usccs, map(self._attrs.__getitem__, regions), strict=True)

    def __getitem__(self, uscc: str) -> dict[str, Any]:
        if self._index is None:
            self._index = dict(self.items())
        return self._index[uscc]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return map(itemgetter(0), self._population)

    def __len__(self) -> int:
        return len(self._population)


def _targets_for(
    session: Session, task: InspectionTask, population: algorithm.Population, departments: list[str]
) -> _Targets:
    return _Targets(session, population, task.strata_key == "region_code", departments)


def perform_draw(
    *,
    session: Session,
    actor: User,
    settings: Settings,
    task_id: uuid.UUID,
    max_population: int | None = None,
    progress: Progress | None = None,
) -> Draw:
    """Run the draw against the published notice, reveal the secret in the record; all or nothing."""
    progress = progress or _noop
    task, plan = get_task(session=session, actor=actor, task_id=task_id)
    require_task_planner(actor, plan, "进行摇号")
    draw = _draw_for_task(session, task)
    if draw is None:
        raise Conflict("请先发布摇号公告")
    if draw.status == "performed":
        raise Conflict("该任务已经摇号，结果不可重抽", errors={"record_digest": [draw.record_digest or ""]})
    missing = missing_sources(session, draw)
    if missing:
        raise Conflict(f"尚未录入熵来源：{'、'.join(missing)}", errors={"entropy": missing})
    notice = notice_of(session, draw)
    if max_population is not None and notice.population_size > max_population:
        raise Conflict(
            f"检查对象 {notice.population_size} 户，规模较大，请使用命令行摇号：shuangsui draw run {task.id}",
            errors={"population_size": [str(notice.population_size)]},
        )
    progress("读取公告名录", None, None)
    # The snapshot is the notice's canonical population CSV; its SHA-256 (just checked against the stored
    # one) is the population digest that build_record checks against the notice, so the algorithm need
    # not re-serialise a million rows.
    snapshot, snapshot_digest = _artifact(session, notice.id, "population")
    # One pause of the cyclic collector over parsing, drawing and matching: they allocate millions of
    # acyclic objects, and a collection between two of them would walk all of those for nothing.
    with algorithm._gc_paused():
        return _perform(session, actor, draw, task, notice, snapshot, snapshot_digest, settings, progress)


def _perform(
    session: Session,
    actor: User,
    draw: Draw,
    task: InspectionTask,
    notice: DrawNotice,
    snapshot: bytes,
    snapshot_digest: str,
    settings: Settings,
    progress: Progress,
) -> Draw:
    population = snapshot_population(snapshot)
    side = json.loads(artifact_bytes(session, notice.id, "matching_side"))
    departments = list(notice.parameters["departments"])
    targets = _targets_for(session, task, population, departments)
    secret = unseal_secret(settings, draw.secret_sealed)
    progress("抽取与匹配", None, None)
    built: dict[str, Any] = {}
    try:
        record = algorithm.build_record(
            notice=notice.notice,
            secret_hex=secret,
            witness_numbers=draw.witness_numbers,
            beacon=draw.beacon_value,
            population_rows=population,
            targets=targets,
            inspectors=side["inspectors"],
            conflicts=side["conflicts"],
            previous_pairings=side["previous_pairings"],
            population_digest=snapshot_digest,
            out=built,
        )
    except algorithm.InfeasibleMatch as exc:
        session.rollback()
        message = _infeasible_message(session, exc)
        audit.record(
            session=session,
            actor=actor,
            action="draw.infeasible",
            entity="draw",
            entity_id=draw.id,
            data={"uscc": exc.uscc, "department": exc.department, "missing": exc.missing},
        )
        session.commit()
        raise Invalid(
            message,
            errors={
                "matching": {
                    "uscc": exc.uscc,
                    "department": exc.department,
                    "missing": exc.missing,
                    "needed": exc.needed,
                    "eligible": exc.eligible,
                    "reasons": exc.reasons,
                }
            },
        ) from exc
    except algorithm.DrawError as exc:
        raise Invalid(f"摇号失败：{exc}") from exc
    progress("保存摇号记录", None, None)
    # The canonical bytes the algorithm serialised once while digesting the record (no second pass over
    # tens of megabytes); the verifier compares them with canonical_json(record) byte for byte.
    data = built["record_bytes"]
    _store_artifact(session, notice.id, "record", data)
    now = utcnow()
    draw.seed = record["seed"]
    draw.record_digest = record["record_digest"]
    draw.selected_count = record["selection"]["total"]
    draw.status = "performed"
    draw.performed_by = actor.id
    draw.revealed_at = now
    task.status = "drawn"
    task.drawn_at = now
    task.updated_at = now
    audit.record(
        session=session,
        actor=actor,
        action="draw.performed",
        entity="draw",
        entity_id=draw.id,
        data={
            "record_digest": draw.record_digest,
            "seed": draw.seed,
            "selected": draw.selected_count,
            "notice_digest": notice.notice_digest,
            "secret_revealed": True,
        },
    )
    session.commit()
    return draw


def _infeasible_message(session: Session, exc: algorithm.InfeasibleMatch) -> str:
    ent = session.execute(select(Enterprise.name).where(Enterprise.uscc == exc.uscc)).scalar_one_or_none()
    dept = session.execute(
        select(Department.name).where(Department.code == exc.department)
    ).scalar_one_or_none()
    who = f"{ent}（{exc.uscc}）" if ent else exc.uscc
    return f"无法为企业 {who} 匹配“{dept or exc.department}”的执法检查人员：{exc.missing}。未派发任何检查表。"


def snapshot_population(data: bytes) -> algorithm.Population:
    """The notice's population back from its stored canonical CSV (strata are blocks of lines in it).

    The notice validated these bytes and the caller checked their digest against the notice, so they are
    cut into strata, not validated again (build_record checks size and digest against the notice anyway).
    """
    try:
        return algorithm.canonical_population(data)
    except algorithm.DrawError as exc:
        raise Conflict(f"公告名录快照格式无效：{exc}") from exc


def record_bytes(*, session: Session, draw: Draw) -> bytes:
    if draw.status != "performed":
        raise NotFound("摇号尚未进行，暂无摇号记录")
    return artifact_bytes(session, draw.notice_id, "record")


def population_csv(*, session: Session, draw: Draw) -> bytes:
    return artifact_bytes(session, draw.notice_id, "population")


def load_record(session: Session, draw: Draw) -> dict[str, Any]:
    return json.loads(record_bytes(session=session, draw=draw))


# ------------------------------------------------------------------------------------------ 一企一表


_PUNCT = re.compile(r"[\s\u3000，。、；：？！,.;:?!（）()“”\"'《》]+")


def _question_key(question: str) -> str:
    return _PUNCT.sub("", unicodedata.normalize("NFKC", question or "")).lower()


def _legal_basis(basis: str, clause: str) -> str:
    basis, clause = (basis or "").strip(), (clause or "").strip()
    if not clause or clause in basis:
        return basis
    if not basis:
        return clause
    return f"{basis} {clause}"


def _checkpoint_key(item_code: str, key: str) -> str:
    full = f"{item_code}.{key}"
    if len(full) <= 64:
        return full
    return f"{item_code[:40]}.{hashlib.sha256(full.encode()).hexdigest()[:16]}"


def merged_checkpoints(
    session: Session, task: InspectionTask, depts: DepartmentIndex
) -> list[dict[str, Any]]:
    """Every participating department's checkpoints; the same question (same answer kind) appears once and
    keeps each department's item and legal basis in merged_from."""
    rows = session.execute(
        select(CheckItemVersion, CheckItem)
        .join(CheckItem, CheckItem.id == CheckItemVersion.item_id)
        .where(CheckItemVersion.id.in_([uuid.UUID(v) for v in task.item_version_ids]))  # type: ignore[attr-defined]
    ).all()
    order = {d: i for i, d in enumerate(task.department_ids)}
    rows = sorted(rows, key=lambda r: (order.get(str(r[1].department_id), 99), r[1].code))
    merged: dict[str, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for version, item in rows:
        dept = depts.by_id.get(str(item.department_id))
        if dept is None:
            continue
        points = (
            session.execute(
                select(Checkpoint)
                .where(Checkpoint.item_version_id == version.id)
                .order_by(Checkpoint.position, Checkpoint.key)
            )
            .scalars()
            .all()
        )
        for cp in points:
            basis = _legal_basis(version.basis, cp.legal_clause)
            source = {
                "item_code": item.code,
                "item_name": version.name,
                "item_version_id": str(version.id),
                "checkpoint_key": cp.key,
                "department_id": str(dept.id),
                "department": dept.name,
                "legal_basis": basis,
            }
            match = f"{_question_key(cp.question)}|{cp.answer_kind}"
            existing = merged.get(match)
            if existing is not None:
                existing["merged_from"].append(source)
                existing["photo_required"] = existing["photo_required"] or cp.photo_required
                departments = {m["department_id"] for m in existing["merged_from"]}
                existing["department_ids"] = sorted(departments)
                continue
            entry = {
                "key": _checkpoint_key(item.code, cp.key),
                "question": cp.question,
                "legal_basis": basis,
                "legal_clause": cp.legal_clause,
                "item_code": item.code,
                "item_name": version.name,
                "item_version_id": str(version.id),
                "department_id": str(dept.id),
                "department": dept.name,
                "department_ids": [str(dept.id)],
                "answer_kind": cp.answer_kind,
                "options": list(cp.options or []),
                "photo_required": cp.photo_required,
                "merged_from": [source],
            }
            merged[match] = entry
            out.append(entry)
    return out


_SNAPSHOT_FIELDS = (
    "uscc",
    "name",
    "entity_type",
    "legal_representative",
    "phone",
    "registered_address",
    "business_address",
    "region_code",
    "industry_code",
    "status",
    "special_libraries",
    "abnormal_list",
    "serious_violation",
    "blacklist",
    "risk_level",
    "complaints_count",
    "lat",
    "lng",
)


def enterprise_snapshot(ent: Enterprise) -> dict[str, Any]:
    snap = {f: getattr(ent, f) for f in _SNAPSHOT_FIELDS}
    snap["established_on"] = ent.established_on.isoformat() if ent.established_on else None
    snap["address"] = ent.business_address or ent.registered_address
    snap["snapshot_at"] = utcnow().isoformat()
    return snap


@dataclass
class DispatchResult:
    task: InspectionTask
    forms: int
    assignments: int
    deadline_start: date
    deadline_complete: date
    warnings: list[str] = field(default_factory=list)


def dispatch(
    *,
    session: Session,
    actor: User,
    task_id: uuid.UUID,
    today: date | None = None,
    max_forms: int | None = None,
    progress: Progress | None = None,
) -> DispatchResult:
    """Create the 一企一表 forms with their teams; one transaction, so nothing is ever half-dispatched."""
    progress = progress or _noop
    today = today or date.today()
    task, plan = get_task(session=session, actor=actor, task_id=task_id)
    require_task_planner(actor, plan, "派发检查表")
    draw = _draw_for_task(session, task)
    if task.status == "dispatched":
        raise Conflict("该任务已派发")
    if draw is None or draw.status != "performed" or task.status != "drawn":
        raise Conflict("请先完成摇号再派发检查表")
    if max_forms is not None and (draw.selected_count or 0) > max_forms:
        raise Conflict(
            f"本次抽中 {draw.selected_count} 户，规模较大，请使用命令行派发："
            f"shuangsui draw run {task.id} --dispatch",
            errors={"selected": [str(draw.selected_count)]},
        )
    deadline_start = add_workdays(session, today, 5)
    deadline_complete = task.window_end or plan.deadline
    inspection_date = task.inspection_date or today
    if inspection_date > deadline_start:
        raise Conflict(
            f"检查日期 {inspection_date.isoformat()} 晚于派发后 5 个工作日（{deadline_start.isoformat()}）："
            "每一批次抽查检查应在完成随机抽取和选派后 5 个工作日内组织实施，请临近检查日期再派发",
            errors={"inspection_date": [inspection_date.isoformat()]},
        )
    if deadline_complete < today:
        raise Conflict(f"任务完成时限 {deadline_complete.isoformat()} 已过，不能派发")
    if inspection_date < today:
        inspection_date = today
    record = load_record(session, draw)
    # (uscc, lead department, [(department, inspector ids, the team's lead first)]) per drawn enterprise
    matching = list(algorithm.team_assignments(record)) if record.get("matching") else []
    depts = DepartmentIndex.load(session, task.department_ids)
    progress("合并检查要点", None, None)
    checkpoints = merged_checkpoints(session, task, depts)
    usccs = [uscc for uscc, _, _ in matching]
    enterprises: dict[str, Enterprise] = {}
    for start in range(0, len(usccs), 5000):
        for ent in session.execute(
            select(Enterprise).where(Enterprise.uscc.in_(usccs[start : start + 5000]))  # type: ignore[attr-defined]
        ).scalars():
            enterprises[ent.uscc] = ent
    gone = [u for u in usccs if u not in enterprises]
    if gone:
        raise Conflict(f"抽中的检查对象已从名录库删除：{'、'.join(gone[:5])}")
    inspector_ids = sorted(
        {uuid.UUID(i) for _, _, teams in matching for _, ids in teams for i in ids}
    )
    warnings = _stale_team_warnings(session, inspector_ids, inspection_date)
    now = utcnow()
    department_ids = list(task.department_ids)
    forms = assignments = 0
    total = len(matching)
    batch: list[tuple[InspectionForm, dict[str, Any]]] = []

    def flush_batch() -> None:
        nonlocal assignments
        session.flush()  # forms first: assignments reference them, and no ORM relationship orders the inserts
        for form, (_, lead_department, teams) in batch:
            lead_inspector = next(ids[0] for code, ids in teams if code == lead_department)
            for code, ids in teams:
                dept = depts.by_code[code]
                for inspector_id in ids:
                    session.add(
                        FormAssignment(
                            form_id=form.id,
                            inspector_id=uuid.UUID(inspector_id),
                            department_id=dept.id,
                            is_lead=inspector_id == lead_inspector,
                            assigned_at=now,
                        )
                    )
                    assignments += 1
        session.flush()
        batch.clear()

    for index, target in enumerate(matching, start=1):
        ent = enterprises[target[0]]
        form = InspectionForm(
            code=f"{task.code}-{index:05d}",
            task_id=task.id,
            enterprise_id=ent.id,
            lead_department_id=depts.by_code[target[1]].id,
            department_ids=department_ids,
            status="dispatched",
            version=1,
            checkpoints=checkpoints,
            enterprise_snapshot=enterprise_snapshot(ent),
            inspection_date=inspection_date,
            deadline_start=deadline_start,
            deadline_complete=deadline_complete,
            dispatched_at=now,
        )
        session.add(form)
        batch.append((form, target))
        forms += 1
        if len(batch) >= 1000:
            flush_batch()
            progress("派发检查表", index, total)
    flush_batch()
    task.status = "dispatched"
    task.dispatched_at = now
    task.dispatched_by = actor.id
    task.deadline_start = deadline_start
    task.deadline_complete = deadline_complete
    task.updated_at = now
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="draw.dispatched",
        entity="inspection_task",
        entity_id=task.id,
        data={
            "draw_id": str(draw.id),
            "record_digest": draw.record_digest,
            "forms": forms,
            "assignments": assignments,
            "deadline_start": deadline_start.isoformat(),
            "deadline_complete": deadline_complete.isoformat(),
            "warnings": warnings,
        },
    )
    progress("提交", total, total)
    session.commit()
    return DispatchResult(task, forms, assignments, deadline_start, deadline_complete, warnings)


def _stale_team_warnings(session: Session, inspector_ids: list[uuid.UUID], on: date) -> list[str]:
    """Inspectors who stopped qualifying between the notice and dispatch: they need an audited replacement."""
    out = []
    for start in range(0, len(inspector_ids), 5000):
        for insp in session.execute(
            select(Inspector).where(Inspector.id.in_(inspector_ids[start : start + 5000]))  # type: ignore[attr-defined]
        ).scalars():
            if not insp.certificate_valid_on(on):
                out.append(
                    f"{insp.name}（{insp.staff_no}）执法证在检查日期 {on.isoformat()} 无效或已停用，"
                    "请调整执法人员"
                )
    return sorted(out)


# --------------------------------------------------------------------------- after dispatch: adjustments


def _form_in_task(session: Session, task: InspectionTask, form_id: uuid.UUID) -> InspectionForm:
    form = session.get(InspectionForm, form_id)
    if form is None or form.task_id != task.id:
        raise NotFound("检查表不存在")
    return form


def replace_inspector(
    *,
    session: Session,
    actor: User,
    task_id: uuid.UUID,
    form_id: uuid.UUID,
    old_inspector_id: uuid.UUID,
    new_inspector_id: uuid.UUID,
    reason: str,
    today: date | None = None,
) -> InspectionForm:
    """调整执法人员: swap one team member for another who satisfies every matching constraint; audited."""
    today = today or date.today()
    task, plan = get_task(session=session, actor=actor, task_id=task_id)
    form = _form_in_task(session, task, form_id)
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("调整执法人员须说明理由（不得随意更换执法检查人员）", errors={"reason": ["不能为空"]})
    if form.status not in ADJUSTABLE_FORM_STATUSES:
        raise Conflict(f"检查表当前状态（{form.status}）不能调整执法人员")
    old = session.execute(
        select(FormAssignment).where(
            FormAssignment.form_id == form.id,
            FormAssignment.inspector_id == old_inspector_id,
            FormAssignment.active == True,  # noqa: E712
        )
    ).scalar_one_or_none()
    if old is None:
        raise Invalid(
            "被替换的执法检查人员不在本检查表的检查组中", errors={"old_inspector_id": ["不在检查组中"]}
        )
    lead_planner = actor.has_role("planner") and actor.department_id == plan.lead_department_id
    own_team = actor.has_role("planner") and actor.department_id == old.department_id
    if not (lead_planner or own_team):
        raise Forbidden("只有牵头部门或该检查组所属部门的部门管理员可以调整执法人员")
    new = session.get(Inspector, new_inspector_id)
    if new is None:
        raise Invalid("新的执法检查人员不存在", errors={"new_inspector_id": ["不存在"]})
    current = session.execute(
        select(FormAssignment).where(FormAssignment.form_id == form.id, FormAssignment.inspector_id == new.id)
    ).scalar_one_or_none()
    if current is not None and current.active:
        raise Invalid("该执法检查人员已在本检查表的检查组中", errors={"new_inspector_id": ["已在检查组中"]})
    reasons = _candidate_problems(session, task, form, new, old.department_id, today=today)
    if reasons:
        raise Invalid(
            f"{new.name} 不符合匹配条件：{'；'.join(r['text'] for r in reasons)}",
            errors={"new_inspector_id": [r["text"] for r in reasons]},
        )
    now = utcnow()
    old.active = False
    old.replaced_at = now
    old.replaced_reason = reason
    if current is None:
        current = FormAssignment(
            form_id=form.id,
            inspector_id=new.id,
            department_id=old.department_id,
            is_lead=old.is_lead,
            assigned_at=now,
        )
        session.add(current)
    else:
        current.active = True
        current.is_lead = old.is_lead
        current.assigned_at = now
        current.replaced_at = None
        current.replaced_reason = ""
    if old.is_lead:
        old.is_lead = False
    form.version += 1
    form.updated_at = now
    audit.record(
        session=session,
        actor=actor,
        action="form.inspectors_adjusted",
        entity="inspection_form",
        entity_id=form.id,
        data={
            "label": "调整执法人员",
            "reason": reason,
            "old_inspector_id": str(old.inspector_id),
            "new_inspector_id": str(new.id),
            "department_id": str(old.department_id),
            "lead": current.is_lead,
            "form_version": form.version,
        },
    )
    session.commit()
    return form


def _candidate_problems(
    session: Session,
    task: InspectionTask,
    form: InspectionForm,
    insp: Inspector,
    department_id: uuid.UUID,
    *,
    today: date,
) -> list[dict[str, str]]:
    draw = _draw_for_task(session, task)
    assert draw is not None  # noqa: S101 - dispatched tasks have a draw
    notice = notice_of(session, draw)
    dept = session.get(Department, department_id)
    insp_dept = session.get(Department, insp.department_id)
    assert dept is not None and insp_dept is not None  # noqa: S101 - FKs
    ent = session.get(Enterprise, form.enterprise_id)
    assert ent is not None  # noqa: S101 - FK
    on = form.inspection_date or today
    parameters = {**notice.parameters, "inspection_date": on.isoformat()}
    conflicts = [
        {"inspector_id": str(insp.id), "uscc": ent.uscc, "reason": CONFLICT_REASONS.get(r, r)}
        for (r,) in session.execute(
            select(ConflictOfInterest.reason).where(
                ConflictOfInterest.inspector_id == insp.id, ConflictOfInterest.enterprise_id == ent.id
            )
        )
    ]
    cutoff = add_months(today, -task.pairing_lookback_months) if task.pairing_lookback_months else None
    pairings = []
    if cutoff is not None:
        seen = session.execute(
            select(FormAssignment.id)
            .join(InspectionForm, InspectionForm.id == FormAssignment.form_id)
            .where(
                FormAssignment.inspector_id == insp.id,
                InspectionForm.enterprise_id == ent.id,
                InspectionForm.id != form.id,
                func.coalesce(InspectionForm.dispatched_at, InspectionForm.created_at) >= _midnight(cutoff),
            )
            .limit(1)
        ).first()
        if seen is not None:
            pairings.append({"inspector_id": str(insp.id), "uscc": ent.uscc})
    load = _current_loads(session, [insp.id]).get(insp.id, 0)
    entry = _inspector_entry(insp, insp_dept.code, load)
    try:
        return algorithm.explain_candidate(
            inspector=entry,
            uscc=ent.uscc,
            region_code=ent.region_code,
            department=dept.code,
            parameters=parameters,
            conflicts=conflicts,
            previous_pairings=pairings,
            load=load,
        )
    except algorithm.DrawError as exc:
        return [{"code": "invalid", "text": str(exc)}]


def adjust_form_content(
    *,
    session: Session,
    actor: User,
    task_id: uuid.UUID,
    form_id: uuid.UUID,
    reason: str,
    remove_checkpoint_keys: Sequence[str] = (),
    restore_checkpoint_keys: Sequence[str] = (),
    inspection_date: date | None = None,
) -> InspectionForm:
    """更改检查内容 after dispatch: only within the task's pinned items, with a reason, audited."""
    task, plan = get_task(session=session, actor=actor, task_id=task_id)
    require_task_planner(actor, plan, "调整检查内容")
    form = _form_in_task(session, task, form_id)
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("调整检查内容须说明理由（不得随意更改检查内容）", errors={"reason": ["不能为空"]})
    if form.status not in ADJUSTABLE_FORM_STATUSES:
        raise Conflict(f"检查表当前状态（{form.status}）不能调整检查内容")
    current = {cp["key"]: cp for cp in form.checkpoints}
    diff: dict[str, Any] = {}
    remove = [k for k in remove_checkpoint_keys if k]
    unknown = [k for k in remove if k not in current]
    if unknown:
        raise Invalid("要删除的检查要点不在本检查表中", errors={"remove_checkpoint_keys": unknown})
    answered = (
        session.execute(
            select(FormAnswer.checkpoint_key).where(
                FormAnswer.form_id == form.id, FormAnswer.checkpoint_key.in_(remove)
            )  # type: ignore[attr-defined]
        )
        .scalars()
        .all()
    )
    if answered:
        raise Conflict("已有作答的检查要点不能删除", errors={"remove_checkpoint_keys": sorted(answered)})
    full = {
        cp["key"]: cp
        for cp in merged_checkpoints(session, task, DepartmentIndex.load(session, task.department_ids))
    }
    restore = [k for k in restore_checkpoint_keys if k]
    bad = [k for k in restore if k not in full or k in current]
    if bad:
        raise Invalid("只能恢复本任务抽查事项中被删除的检查要点", errors={"restore_checkpoint_keys": bad})
    if remove or restore:
        kept = [cp for cp in form.checkpoints if cp["key"] not in set(remove)]
        kept_keys = {cp["key"] for cp in kept} | set(restore)
        form.checkpoints = [cp for cp in full.values() if cp["key"] in kept_keys] + [
            cp for cp in kept if cp["key"] not in full
        ]
        diff["removed"] = remove
        diff["restored"] = restore
    if inspection_date is not None and inspection_date != form.inspection_date:
        if form.deadline_complete and inspection_date > form.deadline_complete:
            raise Invalid(
                "检查日期不能晚于完成时限", errors={"inspection_date": [form.deadline_complete.isoformat()]}
            )
        team = (
            session.execute(
                select(Inspector)
                .join(FormAssignment, FormAssignment.inspector_id == Inspector.id)
                .where(
                    FormAssignment.form_id == form.id,
                    FormAssignment.active == True,  # noqa: E712
                )
            )
            .scalars()
            .all()
        )
        invalid = [i.name for i in team if not i.certificate_valid_on(inspection_date)]
        if invalid:
            raise Invalid(
                f"{'、'.join(invalid)} 的执法证在 {inspection_date.isoformat()} 无效，请先调整执法人员",
                errors={"inspection_date": invalid},
            )
        diff["inspection_date"] = [
            form.inspection_date.isoformat() if form.inspection_date else None,
            inspection_date.isoformat(),
        ]
        form.inspection_date = inspection_date
    if not diff:
        raise Invalid("没有需要调整的内容", errors={"reason": ["没有变化"]})
    form.version += 1
    form.updated_at = utcnow()
    audit.record(
        session=session,
        actor=actor,
        action="form.content_adjusted",
        entity="inspection_form",
        entity_id=form.id,
        data={"label": "更改检查内容", "reason": reason, **diff, "form_version": form.version},
    )
    session.commit()
    return form


def list_task_forms(
    *, session: Session, actor: User, task_id: uuid.UUID, page: int = 1, page_size: int = 100
) -> tuple[list[tuple[InspectionForm, list[FormAssignment]]], int]:
    task, _plan = get_task(session=session, actor=actor, task_id=task_id)
    if actor.has_role("witness") and not actor.has_role("admin", "planner", "approver", "supervisor"):
        raise Forbidden("监督员只能查看摇号与审计信息")
    total = session.execute(
        select(func.count()).select_from(InspectionForm).where(InspectionForm.task_id == task.id)
    ).scalar_one()
    forms = (
        session.execute(
            select(InspectionForm)
            .where(InspectionForm.task_id == task.id)
            .order_by(InspectionForm.code)
            .limit(page_size)
            .offset((page - 1) * page_size)
        )
        .scalars()
        .all()
    )
    by_form: dict[uuid.UUID, list[FormAssignment]] = defaultdict(list)
    if forms:
        for a in session.execute(
            select(FormAssignment)
            .where(FormAssignment.form_id.in_([f.id for f in forms]))  # type: ignore[attr-defined]
            .order_by(FormAssignment.assigned_at)
        ).scalars():
            by_form[a.form_id].append(a)
    return [(f, by_form[f.id]) for f in forms], int(total)


# --------------------------------------------------------------------------------------------- witness


def witness_signature(settings: Settings, sig: DrawWitnessSignature) -> str:
    body = {
        "draw_id": str(sig.draw_id),
        "record_digest": sig.record_digest,
        "user_id": str(sig.user_id),
        "signed_at": sig.signed_at.isoformat(),
        "statement": sig.statement,
    }
    return hmac.new(server_key(settings, "draw-witness"), canonical(body), hashlib.sha256).hexdigest()


def sign_draw(
    *, session: Session, actor: User, settings: Settings, draw_id: uuid.UUID, statement: str = ""
) -> DrawWitnessSignature:
    if not actor.has_role("witness"):
        raise Forbidden("只有监督员可以签署摇号见证")
    draw, _task, _plan = get_draw(session=session, actor=actor, draw_id=draw_id)
    if draw.status != "performed" or not draw.record_digest:
        raise Conflict("摇号完成后才能签署见证")
    exists = session.execute(
        select(DrawWitnessSignature.id).where(
            DrawWitnessSignature.draw_id == draw.id, DrawWitnessSignature.user_id == actor.id
        )
    ).first()
    if exists is not None:
        raise Conflict("您已签署过该次摇号")
    sig = DrawWitnessSignature(
        draw_id=draw.id,
        user_id=actor.id,
        signer_name=actor.display_name,
        role="witness",
        statement=(statement or "本人现场见证了本次摇号，摇号过程与记录一致。").strip()[:500],
        record_digest=draw.record_digest,
        signature="",
        signed_at=utcnow(),
    )
    sig.signature = witness_signature(settings, sig)
    session.add(sig)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="draw.witness_signed",
        entity="draw",
        entity_id=draw.id,
        data={"record_digest": draw.record_digest, "signature": sig.signature},
    )
    session.commit()
    return sig


def signatures_of(session: Session, draw: Draw) -> list[DrawWitnessSignature]:
    return list(
        session.execute(
            select(DrawWitnessSignature)
            .where(DrawWitnessSignature.draw_id == draw.id)
            .order_by(DrawWitnessSignature.signed_at)
        ).scalars()
    )


# ---------------------------------------------------------------------------------------------- public


def public_notices(
    *, session: Session, page: int = 1, page_size: int = 50
) -> tuple[list[dict[str, Any]], int]:
    stmt = (
        select(DrawNotice, Draw, InspectionTask)
        .join(Draw, Draw.notice_id == DrawNotice.id)
        .join(InspectionTask, InspectionTask.id == DrawNotice.task_id)
    )
    total = session.execute(select(func.count()).select_from(DrawNotice)).scalar_one()
    rows = session.execute(
        stmt.order_by(DrawNotice.published_at.desc()).limit(page_size).offset((page - 1) * page_size)  # type: ignore[attr-defined]
    ).all()
    return [public_notice_summary(n, d, t) for n, d, t in rows], int(total)


def public_notice_summary(notice: DrawNotice, draw: Draw, task: InspectionTask) -> dict[str, Any]:
    return {
        "notice_id": notice.id,
        "draw_id": draw.id,
        "task_code": task.code,
        "task_name": task.name,
        "algorithm": notice.algorithm,
        "published_at": notice.published_at,
        "population_size": notice.population_size,
        "population_digest": notice.population_digest,
        "total": notice.total,
        "commitment": notice.commitment,
        "notice_digest": notice.notice_digest,
        "status": draw.status,
        "record_digest": draw.record_digest,
        "revealed_at": draw.revealed_at,
        "links": {
            "notice": f"/api/v1/public/notices/{notice.id}",
            "population": f"/api/v1/public/draws/{draw.id}/population.csv",
            "record": f"/api/v1/public/draws/{draw.id}/record.json" if draw.record_digest else None,
            "verifier": "/api/v1/public/verify_draw.py",
        },
    }


def public_notice(*, session: Session, notice_id: uuid.UUID) -> tuple[DrawNotice, Draw, InspectionTask]:
    notice = session.get(DrawNotice, notice_id)
    if notice is None:
        raise NotFound("公告不存在")
    draw = session.execute(select(Draw).where(Draw.notice_id == notice.id)).scalar_one()
    task = session.get(InspectionTask, notice.task_id)
    assert task is not None  # noqa: S101 - FK
    return notice, draw, task


def public_draw(*, session: Session, draw_id: uuid.UUID) -> Draw:
    draw = session.get(Draw, draw_id)
    if draw is None:
        raise NotFound(DRAW_NOT_FOUND)
    return draw


def verifier_bytes() -> bytes:
    return VERIFIER_PATH.read_bytes()


__all__ = [
    "DispatchResult",
    "adjust_form_content",
    "dispatch",
    "enter_entropy",
    "perform_draw",
    "publish_notice",
    "replace_inspector",
    "sign_draw",
]
