"""The eligible population of a draw: directory filters, statutory exclusions, strata, credit weights."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Integer, String, and_, case, column, func, literal, literal_column, or_, select, values
from sqlmodel import Session

from ..draw import verify_draw as algorithm
from ..errors import Invalid
from ..models.directory import ENTERPRISE_STATUSES, INELIGIBLE_STATUSES, Enterprise
from ..models.forms import InspectionForm
from .querying import json_list_contains

#: The statutory cap and the sentence of the seed it comes from (广府办发〔2019〕58号, 四(一)).
DEFAULT_CAP = Decimal("0.05")
CAP_RULE = (
    "检查对象抽查比例不超过检查对象名录库总数的 5%。重点领域、特殊行业和上级有具体要求的除外，但应明确抽查比例上限。"
)

ELIGIBLE_STATUSES = tuple(s for s in ENTERPRISE_STATUSES if s not in INELIGIBLE_STATUSES)
RISK_CLASSES = {1: "A", 2: "B", 3: "C", 4: "D"}  # risk_level 1 低 .. 4 高 -> SAMR 信用风险分类 A..D
UNKNOWN_STRATUM = "未登记"
ALL_STRATUM = "全部"

FILTER_KEYS = {
    "region_codes",
    "industry_codes",
    "special_libraries",
    "statuses",
    "abnormal_list",
    "serious_violation",
    "blacklist",
    "flagged_only",
    "min_risk_level",
}


# ------------------------------------------------------------------------------------------ decimals


def parse_ratio(value: Any, field_name: str) -> Decimal:
    """A ratio as an exact decimal in (0, 1]; floats are refused upstream by the schema (strings only)."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise Invalid("比例格式无效", errors={field_name: ["请填写小数形式的比例，如 0.03"]}) from exc
    if not number.is_finite() or number <= 0 or number > 1:
        raise Invalid("比例必须大于 0 且不超过 1", errors={field_name: ["比例必须在 (0, 1] 之间，如 0.03 表示 3%"]})
    return number


def ratio_text(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def percent(value: Decimal) -> str:
    return f"{ratio_text(value * 100)}%"


def cap_for(*, is_key_area: bool, key_area_cap: str | None) -> Decimal:
    if is_key_area and key_area_cap:
        return Decimal(key_area_cap)
    return DEFAULT_CAP


def max_count(cap: Decimal, population_size: int) -> int:
    return int((cap * population_size).to_integral_value(rounding=ROUND_FLOOR))


def check_cap(
    *,
    ratio: Decimal | None,
    count: int | None,
    cap: Decimal,
    population_size: int | None,
    is_key_area: bool,
    field_prefix: str = "",
) -> None:
    """Refuse a ratio or count above the cap, quoting the rule."""
    label = f"重点领域计划明确的上限 {percent(cap)}" if is_key_area else "上限 5%"
    if ratio is not None and ratio > cap:
        raise Invalid(
            f"抽查比例 {percent(ratio)} 超过{label}。依据：“{CAP_RULE}”",
            errors={f"{field_prefix}ratio": [f"不得超过 {percent(cap)}"]},
            rule=CAP_RULE,
        )
    if count is not None and population_size is not None:
        allowed = max_count(cap, population_size)
        if count > allowed:
            raise Invalid(
                f"抽查数量 {count} 户超过{label}：符合条件的检查对象共 {population_size} 户，"
                f"最多抽取 {allowed} 户。依据：“{CAP_RULE}”",
                errors={f"{field_prefix}count": [f"不得超过 {allowed} 户（{population_size} 户 × {percent(cap)}）"]},
                rule=CAP_RULE,
            )


# ------------------------------------------------------------------------------------------- filters


def region_prefix(code: str) -> str:
    """行政区划 prefix a code stands for: 510000 covers 51xxxx, 510800 covers 5108xx (GB/T 2260 levels)."""
    for length in (2, 4, 6, 9):
        if length < len(code) and set(code[length:]) == {"0"}:
            return code[:length]
    return code


def normalize_filters(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate target filters; returns a canonical dict (sorted lists, only given keys)."""
    raw = dict(raw or {})
    unknown = set(raw) - FILTER_KEYS
    if unknown:
        raise Invalid("检查对象范围含未知条件", errors={"target_filters": [f"未知条件：{', '.join(sorted(unknown))}"]})
    out: dict[str, Any] = {}
    for key in ("region_codes", "industry_codes", "special_libraries", "statuses"):
        values = raw.get(key)
        if values in (None, []):
            continue
        if isinstance(values, str) or not isinstance(values, list | tuple):
            raise Invalid("检查对象范围格式无效", errors={"target_filters": [f"{key} 必须是列表"]})
        cleaned = sorted({str(v).strip() for v in values if str(v).strip()})
        if key == "region_codes":
            bad = [c for c in cleaned if not c.isdigit() or len(c) not in (2, 4, 6, 9, 12)]
            if bad:
                raise Invalid("行政区划代码无效", errors={"target_filters": [f"区划代码应为数字：{'、'.join(bad)}"]})
        if key == "statuses":
            bad = [s for s in cleaned if s not in ELIGIBLE_STATUSES]
            if bad:
                raise Invalid(
                    "注销、吊销、迁出的检查对象一律排除，不能作为抽查范围",
                    errors={"target_filters": [f"不可选状态：{'、'.join(bad)}；可选：{'、'.join(ELIGIBLE_STATUSES)}"]},
                )
        out[key] = cleaned
    for key in ("abnormal_list", "serious_violation", "blacklist", "flagged_only"):
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, bool):
            raise Invalid("检查对象范围格式无效", errors={"target_filters": [f"{key} 必须是 true 或 false"]})
        out[key] = value
    level = raw.get("min_risk_level")
    if level is not None:
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 4:
            raise Invalid("检查对象范围格式无效", errors={"target_filters": ["min_risk_level 必须是 1–4"]})
        out["min_risk_level"] = level
    return out


@dataclass
class Exclusions:
    """Left out beyond the statutory 注销/吊销/迁出: enterprises inspected for the same items recently."""

    item_ids: list[str] = field(default_factory=list)
    months: int | None = None
    today: date | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "statuses": list(INELIGIBLE_STATUSES),
            "inspected_same_item_within_months": self.months,
        }


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    last = [
        31,
        29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28,
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ][month - 1]
    return date(year, month, min(day.day, last))


def _recently_inspected(session: Session, exclusions: Exclusions) -> Any:
    """A subquery of enterprise ids inspected for one of the items within the window, or None."""
    if not exclusions.months or not exclusions.item_ids:
        return None
    from ..models.planning import InspectionTask

    today = exclusions.today or date.today()
    cutoff = add_months(today, -exclusions.months)
    cutoff_at = datetime(cutoff.year, cutoff.month, cutoff.day, tzinfo=UTC)
    wanted = set(exclusions.item_ids)
    task_ids = [
        task_id
        for task_id, item_ids in session.execute(
            select(InspectionTask.id, InspectionTask.item_ids).where(
                InspectionTask.dispatched_at >= cutoff_at  # type: ignore[operator]
            )
        ).all()
        if wanted & set(item_ids or [])
    ]
    if not task_ids:
        return None
    return select(InspectionForm.enterprise_id).where(
        InspectionForm.task_id.in_(task_ids),  # type: ignore[union-attr]
        InspectionForm.dispatched_at >= cutoff_at,  # type: ignore[operator]
    )


def eligible_conditions(
    session: Session, filters: Mapping[str, Any], exclusions: Exclusions | None = None
) -> list[Any]:
    conds: list[Any] = [
        Enterprise.active == True,  # noqa: E712 - SQL expression
        Enterprise.status.in_(filters.get("statuses") or ELIGIBLE_STATUSES),  # type: ignore[attr-defined]
    ]
    if filters.get("region_codes"):
        conds.append(or_(*(Enterprise.region_code.startswith(region_prefix(c)) for c in filters["region_codes"])))  # type: ignore[attr-defined]
    if filters.get("industry_codes"):
        conds.append(or_(*(Enterprise.industry_code.startswith(c) for c in filters["industry_codes"])))  # type: ignore[attr-defined]
    if filters.get("special_libraries"):
        conds.append(
            or_(
                *(
                    json_list_contains(session, Enterprise.special_libraries, lib)
                    for lib in filters["special_libraries"]
                )
            )
        )
    for flag in ("abnormal_list", "serious_violation", "blacklist"):
        if flag in filters:
            conds.append(getattr(Enterprise, flag) == filters[flag])
    if filters.get("flagged_only"):
        conds.append(or_(Enterprise.abnormal_list, Enterprise.serious_violation, Enterprise.blacklist))  # type: ignore[arg-type]
    if filters.get("min_risk_level"):
        conds.append(Enterprise.risk_level >= filters["min_risk_level"])
    if exclusions is not None:
        recent = _recently_inspected(session, exclusions)
        if recent is not None:
            conds.append(Enterprise.id.notin_(recent))  # type: ignore[attr-defined]
    return conds


def count_eligible(session: Session, filters: Mapping[str, Any], exclusions: Exclusions | None = None) -> int:
    stmt = select(func.count()).select_from(Enterprise).where(and_(*eligible_conditions(session, filters, exclusions)))
    return int(session.execute(stmt).scalar_one())


# ---------------------------------------------------------------------------------- weights & strata


def stratum_column(strata_key: str) -> Any:
    if strata_key == "region_code":
        return Enterprise.region_code
    if strata_key == "industry_code":
        return Enterprise.industry_code
    return literal_column("''")


class WeightTable:
    """weight_for() memoised on the few distinct flag combinations (a million calls would cost seconds)."""

    def __init__(self, rule: Mapping[str, Any] | None) -> None:
        self.rule = dict(rule) if rule is not None else None
        normalized = algorithm.normalize_parameters({"mode": "ratio", "ratio": "0.01", "weight_rule": rule})
        self.complaint_cap = int(normalized["weight_rule"]["complaint_cap"])
        self._cache: dict[tuple[bool, bool, int, int], str] = {}

    def weight(self, abnormal: bool, serious: bool, complaints: int, risk_level: int) -> str:
        key = (
            bool(abnormal),
            bool(serious),
            min(max(int(complaints or 0), 0), self.complaint_cap),
            int(risk_level or 0),
        )
        cached = self._cache.get(key)
        if cached is None:
            cached = algorithm.weight_for(
                abnormal_list=key[0],
                serious_violation=key[1],
                complaints=key[2],
                risk_level=RISK_CLASSES.get(key[3]),
                rule=self.rule,
            )
            self._cache[key] = cached
        return cached


@dataclass
class PopulationSpec:
    filters: dict[str, Any]
    strata_key: str
    weight_rule: dict[str, Any] | None
    exclusions: Exclusions


def _weight_class(table: WeightTable) -> Any:
    """A small integer per weight class, computed by the database: abnormal*2 + serious-or-black, complaints
    capped by the rule, risk level. Transferring one int instead of five columns halves the read."""
    cap = table.complaint_cap
    complaints = case(
        (Enterprise.complaints_count > cap, cap),
        (Enterprise.complaints_count < 0, 0),
        else_=Enterprise.complaints_count,
    )
    risk = case((Enterprise.risk_level > 9, 0), (Enterprise.risk_level < 0, 0), else_=Enterprise.risk_level)
    flags = case((Enterprise.abnormal_list, 2), else_=0) + case(
        (or_(Enterprise.serious_violation, Enterprise.blacklist), 1),
        else_=0,  # type: ignore[arg-type]
    )
    return ((flags * (cap + 1) + complaints) * 10 + risk).label("weight_class")


def population_select(session: Session, spec: PopulationSpec, table: WeightTable | None = None) -> Any:
    """The eligible-population query: (uscc, stratum, weight class). Unordered: the algorithm sorts, and an
    index-ordered scan over a million rows costs several times a sequential one."""
    table = table or WeightTable(spec.weight_rule)
    return select(Enterprise.uscc, stratum_column(spec.strata_key).label("stratum"), _weight_class(table)).where(
        and_(*eligible_conditions(session, spec.filters, spec.exclusions))
    )


def read_population(
    session: Session, spec: PopulationSpec, table: WeightTable | None = None, *, ordered: bool = False
) -> list[Any]:
    """Fetch the raw eligible rows. PostgreSQL goes through the driver's binary cursor: at a million rows the
    ORM's per-row objects would cost more than the query.

    ``ordered``: by stratum, then uscc, in code-point order (the canonical order; PostgreSQL's "C"
    collation, SQLite's default BINARY one). The database sorts faster than Python, and rows that arrive
    in order are cut into strata without a pass over them.
    """
    stmt = population_select(session, spec, table)
    connection = session.connection()
    if ordered:
        stratum, uscc = stratum_column(spec.strata_key), Enterprise.uscc
        if connection.dialect.name == "postgresql":
            stratum, uscc = stratum.collate("C"), uscc.collate("C")  # type: ignore[attr-defined]
        stmt = stmt.order_by(stratum, uscc)
    if connection.dialect.name != "postgresql":
        return [tuple(row) for row in connection.execute(stmt)]
    compiled = stmt.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    driver = connection.connection.driver_connection
    with driver.cursor(binary=True) as cursor:  # type: ignore[union-attr]
        cursor.execute(str(compiled), compiled.params)
        return cursor.fetchall()


def population_rows(session: Session, spec: PopulationSpec) -> algorithm.Population:
    """(uscc, stratum, weight) rows, validated and sorted by the algorithm: what the notice digests."""
    table = WeightTable(spec.weight_rule)
    raw = read_population(session, spec, table, ordered=True)
    weights: dict[int, str] = {}
    span = table.complaint_cap + 1
    for key in {row[2] for row in raw}:
        flags, complaints = divmod(key // 10, span)
        # Blacklisted (黑名单) entities weigh like 严重违法失信: the rule has no factor of its own.
        weights[key] = table.weight(bool(flags & 2), bool(flags & 1), complaints, key % 10)
    if spec.strata_key == "none":
        rows = [(uscc, ALL_STRATUM, weights[key]) for uscc, _stratum, key in raw]
    else:
        rows = [(uscc, stratum or UNKNOWN_STRATUM, weights[key]) for uscc, stratum, key in raw]
    del raw
    try:
        return algorithm.normalize_population(rows)
    except algorithm.DrawError as exc:
        raise Invalid(f"检查对象名录不能用于摇号：{exc}") from exc


#: The algorithm's identifier rule for the uscc column, less its length (PostgreSQL's regex engine takes
#: seconds per million rows on a bounded repetition like {0,63}, a fraction of that on * plus length()).
_IDENTIFIER_PATTERN = "^[0-9A-Za-z][0-9A-Za-z._-]*$"


def canonical_population_csv(session: Session, spec: PopulationSpec) -> tuple[bytes, dict[str, int]] | None:
    """The canonical population CSV written by PostgreSQL itself, with the size of each stratum.

    ``COPY (…) TO STDOUT`` in canonical order (stratum, then uscc; collation "C" = code-point order) with
    the weights joined from the few classes the rule can produce: no Python object per enterprise, which
    is most of the cost of a notice over a million enterprises. The table is share-locked for the rest of
    the transaction so the COPY and the per-stratum count see the same rows. Returns None where this path does not apply
    (not PostgreSQL) or when a row would not be canonical (a uscc outside the identifier rule, a stratum
    with a comma or quote…): the caller then takes the validating Python path, which names the row.
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return None
    table = WeightTable(spec.weight_rule)
    span = table.complaint_cap + 1
    classes = []
    for flags in range(4):
        for complaints in range(span):
            for risk in range(10):
                weight = table.weight(bool(flags & 2), bool(flags & 1), complaints, risk)
                classes.append((((flags * span) + complaints) * 10 + risk, weight))
    weights = values(column("weight_class", Integer), column("weight", String), name="weight_classes").data(classes)
    base = population_select(session, spec, table).subquery("eligible")
    if spec.strata_key == "none":
        stratum: Any = literal(ALL_STRATUM, String)
    else:
        stratum = func.coalesce(func.nullif(base.c.stratum, ""), UNKNOWN_STRATUM)
    rows = (
        select(base.c.uscc, stratum.label("stratum"), weights.c.weight)
        .join(weights, weights.c.weight_class == base.c.weight_class)
        .order_by(*([] if spec.strata_key == "none" else [stratum.collate("C")]), base.c.uscc.collate("C"))
    )
    sizes_stmt = select(
        stratum.label("stratum"), func.count(), func.count().filter(
            ~and_(base.c.uscc.regexp_match(_IDENTIFIER_PATTERN), func.length(base.c.uscc) <= 64)
        )
    ).group_by(stratum)
    driver = connection.connection.driver_connection
    connection.exec_driver_sql("LOCK TABLE enterprise, inspection_form IN SHARE MODE")
    # With the lock held nobody can change those tables, so a second connection counts the very rows the
    # COPY writes, on another backend at the same time (the database sorts while the other one counts).
    engine = connection.engine

    def count_strata() -> list[Any]:
        with engine.connect() as other:
            return list(other.execute(sizes_stmt))

    with ThreadPoolExecutor(max_workers=1) as pool:
        counted = pool.submit(count_strata)
        compiled = rows.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
        out = bytearray(algorithm.POPULATION_HEADER.encode() + b"\n")
        with driver.cursor() as cursor:  # type: ignore[union-attr]
            with cursor.copy(f"COPY ({compiled}) TO STDOUT (FORMAT csv)", compiled.params) as copy:
                for block in copy:
                    out += block
        data = bytes(out)
        del out
        counts = counted.result()
    sizes: dict[str, int] = {}
    for name, count, bad in counts:
        if bad:
            return None
        sizes[name] = count
    try:
        algorithm.check_population_csv(data, sizes)
    except algorithm.DrawError:
        return None
    if _NOT_CANONICAL.search(data):
        return None
    return data, sizes


#: Bytes a canonical population CSV never holds: control characters other than the line feed, the
#: separators the algorithm forbids in labels, and quotes (COPY would have quoted the field).
_NOT_CANONICAL = re.compile(rb'[\x00-\x09\x0b-\x1f\x7f;|"]')


def allocate_counts(total: int, sizes: Mapping[str, int]) -> dict[str, int]:
    """Share a total count among strata by largest remainders (the algorithm's rule for ratios, same ties)."""
    population = sum(sizes.values())
    if population <= 0:
        return {s: 0 for s in sizes}
    quotas: dict[str, int] = {}
    remainders = []
    for stratum, size in sizes.items():
        quotas[stratum], remainder = divmod(total * size, population)
        remainders.append((-remainder, -size, stratum))
    remainders.sort()
    for _, _, stratum in remainders[: total - sum(quotas.values())]:
        quotas[stratum] += 1
    return dict(sorted(quotas.items()))


def enterprise_ids_by_uscc(session: Session, usccs: Sequence[str], chunk: int = 5000) -> dict[str, Any]:
    """uscc -> (id, region_code) for the drawn enterprises, in chunks (SQLite's variable limit)."""
    out: dict[str, Any] = {}
    for start in range(0, len(usccs), chunk):
        part = list(usccs[start : start + chunk])
        for uscc, ent_id, region in session.execute(
            select(Enterprise.uscc, Enterprise.id, Enterprise.region_code).where(Enterprise.uscc.in_(part))  # type: ignore[attr-defined]
        ):
            out[uscc] = (ent_id, region)
    return out


def uuid_list(values: Iterable[Any]) -> list[uuid.UUID]:
    return [v if isinstance(v, uuid.UUID) else uuid.UUID(str(v)) for v in values]
