"""Bulk import of enterprises, inspectors and check items from CSV/XLSX: validated, idempotent, all-or-nothing.

One entry point, `import_file`, serves the CLI, the API and the benchmark. Rules:

- Each kind has one column mapping (Chinese headers; the English field names are accepted too).
  An unknown header rejects the whole file, naming it. Columns left out of the file are not touched.
- Every row is checked; each problem is reported as (row as Excel shows it, column, reason in Chinese).
  With errors, nothing is written unless `valid_only` asks for the valid rows alone.
- Rows are matched on their natural key (USCC, 工号, 事项编码) and upserted; a row equal to what is stored
  changes nothing and leaves no audit trace, so running the same file twice reports 0 created, 0 updated.
- `dry_run` performs the whole import inside the transaction and rolls it back: the report is the same.
- One audit entry per import that changed something: counts, the file's SHA-256 and the changed keys.

Enterprises can number in the millions, so they go through a set-based path: the existing USCCs are read
once (under a table lock on PostgreSQL so the set stays true), new rows are streamed straight into the
table (PostgreSQL COPY, SQLite executemany), rows for existing USCCs into a temporary staging table
that is applied with one UPDATE … FROM … WHERE <something differs>.
"""

from __future__ import annotations

import gc
import json
import re
import secrets
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, date
from operator import mul
from typing import Any

from sqlalchemy import Uuid, bindparam, select, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from ..errors import Conflict, Invalid
from ..models.accounts import User
from ..models.base import UTCDateTime, utcnow
from ..models.directory import (
    ENTERPRISE_STATUS_LABELS,
    ITEM_METHODS,
    CheckItem,
    CheckItemVersion,
    Checkpoint,
    Department,
    Enterprise,
    Inspector,
)
from . import access, audit
from .tables import Chunk, Source, open_table
from .uscc import ORG_WEIGHTS, USCC_CHARSET, USCC_WEIGHTS, uscc_problem

KINDS = ("enterprises", "inspectors", "items")
MAX_REPORTED = 1000  # errors and changes listed in a report; the totals are always exact
Converted = tuple[list[Any], dict[int, str]]
Converter = Callable[[list[str]], Converted]


# ---- the report ---------------------------------------------------------------------------------


@dataclass
class RowError:
    row: int
    column: str
    message: str


@dataclass
class ImportReport:
    kind: str
    format: str = ""
    encoding: str | None = None
    filename: str | None = None
    sha256: str = ""
    dry_run: bool = False
    valid_only: bool = False
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    invalid: int = 0
    applied: bool = False
    seconds: float = 0.0
    errors: list[RowError] = field(default_factory=list)
    errors_total: int = 0
    changes: list[dict[str, Any]] = field(default_factory=list)
    changes_total: int = 0

    def error(self, row: int, column: str, message: str) -> None:
        self.errors_total += 1
        if len(self.errors) < MAX_REPORTED:
            self.errors.append(RowError(row, column, message))

    def change(self, row: int, key: str, action: str) -> None:
        self.changes_total += 1
        if len(self.changes) < MAX_REPORTED:
            self.changes.append({"row": row, "key": key, "action": action})

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["errors"] = sorted(out["errors"], key=lambda e: e["row"])
        out["changes"] = sorted(out["changes"], key=lambda c: c["row"])
        return out

    def summary(self) -> str:
        verb = "试运行" if self.dry_run else "导入"
        return (
            f"{verb}完成：共 {self.rows} 行，新增 {self.created}，更新 {self.updated}，未变 {self.unchanged}，"
            f"有误 {self.invalid} 行"
        )


# ---- converters: a whole column of text cells at a time ------------------------------------------
#
# A converter takes the cells of one column (one chunk of rows) and returns (values, {row index: reason}).
# Each has a fast path made of C-level operations (map, dict lookups, one join) for the common case and
# falls back to a per-cell loop only to build messages: a million-row file spends its time in PostgreSQL.

_MISSING = object()
_NULL = object()  # stands for a None value inside lookup tables (None there means "not found")
_TRUE = ("是", "y", "yes", "true", "1", "t", "√", "✓", "有")
_FALSE = ("否", "n", "no", "false", "0", "f", "×", "无")
_LIST_SPLIT = re.compile(r"[;；,，、|/\n]+")
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "'")


class Cells(list):  # type: ignore[type-arg]
    """Converted values that may also carry their PostgreSQL COPY text, so COPY can send them without
    formatting them again: `text`, the cells in COPY text form (as written, when that is the canonical form
    PostgreSQL reads back to the same values), or `plain`, the values are strings that are their own COPY
    text (no backslash, tab or line break)."""

    text: list[str] | None = None
    plain: bool = False


def _by_table(
    values: list[str],
    table: dict[str, Any],
    slow: Callable[[str], tuple[Any, str | None]],
    *,
    canonical_keys: bool = False,
) -> Converted:
    """Look every cell up in `table` (which holds no None); cells not found go through `slow`.

    With `canonical_keys` (every non-empty key is how PostgreSQL prints its value) a column found entirely
    in the table keeps its text for COPY.
    """
    out = Cells(map(table.get, values))
    found = set(out)  # `x in list` would compare every cell with ==; a set of a few values is instant
    errors: dict[int, str] = {}
    if None in found:
        for i, value in enumerate(out):
            if value is None:
                out[i], problem = slow(values[i])
                if problem:
                    errors[i] = problem
    elif canonical_keys and "" not in values:
        out.text = list(values)
    if _NULL in found:
        out = Cells(None if v is _NULL else v for v in out)
    return out, errors


def text_cells(max_len: int, *, required: bool = False) -> Converter:
    def convert(values: list[str]) -> Converted:
        out = Cells(map(str.strip, values))
        errors: dict[int, str] = {}
        if required and not all(out):
            errors.update((i, "不能为空") for i, v in enumerate(out) if not v)
        if max(map(len, out), default=0) > max_len:
            errors.update(
                (i, f"长度不能超过 {max_len} 个字符（当前 {len(v)} 个）") for i, v in enumerate(out) if len(v) > max_len
            )
        return out, errors  # NUL characters are refused by convert_chunk for every text column

    convert.is_text = True  # type: ignore[attr-defined]
    return convert


def is_text_column(column: Column) -> bool:
    return bool(getattr(column.convert, "is_text", False))


def pattern_cells(regex: str, message: str, *, upper: bool = False, required: bool = False) -> Converter:
    compiled = re.compile(regex)

    def convert(values: list[str]) -> Converted:
        out = list(map(str.strip, values))
        if upper:
            joined = "".join(out)
            if joined != joined.upper():
                out = list(map(str.upper, out))
        verdict = {v: (bool(compiled.fullmatch(v)) if v else not required) for v in set(out)}  # few distinct codes
        if all(verdict.values()):
            out = Cells(out)
            out.plain = True  # codes matching the pattern, or empty
            return out, {}
        return out, {i: ("不能为空" if not v else message) for i, v in enumerate(out) if not verdict[v]}

    return convert


def choice_cells(labels: dict[str, str], default: str | None, name: str) -> Converter:
    """Accept the Chinese label or the code; an empty cell gives `default` (None = keep as is)."""
    table: dict[str, Any] = {
        "": _NULL if default is None else default,
        **{code: code for code in labels},
        **{label: code for code, label in labels.items()},
    }
    allowed = "、".join(labels.values())

    def slow(raw: str) -> tuple[Any, str | None]:
        v = raw.strip()
        code = table.get(v, table.get(v.lower(), _MISSING))
        if code is _MISSING:
            return None, f"{name}“{v[:20]}”不正确，可选：{allowed}"
        return (None if code is _NULL else code), None

    return lambda values: _by_table(values, table, slow)


def bool_cells(default: bool | None) -> Converter:
    """是/否 (and true/false, 1/0, Y/N); an empty cell gives `default`."""
    table: dict[str, Any] = {"": _NULL if default is None else default}
    for words, flag in ((_TRUE, True), (_FALSE, False)):
        for w in words:
            table.update({w: flag, w.upper(): flag, w.capitalize(): flag})

    def slow(raw: str) -> tuple[Any, str | None]:
        v = raw.strip().lower()
        value = table.get(v, _MISSING)
        if value is _MISSING:
            return None, f"“{v[:20]}”不是有效的是/否值（可填 是、否）"
        return (None if value is _NULL else value), None

    return lambda values: _by_table(values, table, slow)


def int_cells(lo: int, hi: int, default: int) -> Converter:
    table: dict[str, Any] = {"": default, **{str(n): n for n in range(lo, min(hi, lo + 10_000) + 1)}}

    def slow(raw: str) -> tuple[Any, str | None]:
        v = raw.strip()
        if not v:
            return default, None
        try:
            n = int(v)
        except ValueError:
            return None, f"“{v[:20]}”不是整数"
        return n, (None if lo <= n <= hi else f"应在 {lo}–{hi} 之间")

    return lambda values: _by_table(values, table, slow, canonical_keys=True)


_DECIMAL_CHARS = str.maketrans("", "", "0123456789.-eE")
_DATE_CHARS = str.maketrans("", "", "0123456789-")


def float_cells(lo: float, hi: float) -> Converter:
    def slow(raw: str) -> tuple[Any, str | None]:
        v = raw.strip()
        if not v:
            return None, None
        try:
            x = float(v)
        except ValueError:
            return None, f"“{v[:20]}”不是数字"
        return x, (None if lo <= x <= hi else f"应在 {lo}–{hi} 之间")  # NaN fails the range too

    def convert(values: list[str]) -> Converted:
        try:
            out = Cells(map(float, values))
        except ValueError:  # empty cells or text: take the careful path
            pairs = [slow(v) for v in values]
            return [x for x, _ in pairs], {i: p for i, (_, p) in enumerate(pairs) if p}
        if not "".join(values).translate(_DECIMAL_CHARS):
            # plain decimals (no nan/inf, no underscores): PostgreSQL reads the same doubles from this text
            if not out or (min(out) >= lo and max(out) <= hi):
                out.text = list(values)
                return out, {}
        return out, {i: f"应在 {lo}–{hi} 之间" for i, x in enumerate(out) if not lo <= x <= hi}

    return convert


_DATE_LOOSE = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T].*)?")


def _date_slow(raw: str) -> tuple[Any, str | None]:
    v = raw.strip()
    if not v:
        return None, None
    try:
        return date.fromisoformat(v), None
    except ValueError:
        pass
    m = _DATE_LOOSE.fullmatch(v)
    try:
        if not m:
            raise ValueError(v)
        return date(int(m[1]), int(m[2]), int(m[3])), None
    except ValueError:
        return None, f"“{v[:20]}”不是有效日期（格式 YYYY-MM-DD）"


def date_cells(values: list[str]) -> Converted:
    try:
        out = Cells(map(date.fromisoformat, values))
    except ValueError:
        pass
    else:
        # only YYYY-MM-DD has ten characters made of digits and dashes (week dates carry a W)
        if min(map(len, values), default=0) == 10 == max(map(len, values), default=0) and not "".join(values).translate(
            _DATE_CHARS
        ):
            out.text = list(values)
        return out, {}
    pairs = [_date_slow(v) for v in values]
    return [d for d, _ in pairs], {i: p for i, (_, p) in enumerate(pairs) if p}


def list_cells(item_max: int, max_items: int, *, allowed: Iterable[str] | None = None) -> Converter:
    """Lists separated by ；、,| etc. Equal cells share one list object: treat the values as read-only."""
    allowed_set = set(allowed) if allowed is not None else None

    def parse(v: str) -> tuple[list[str], str | None]:
        v = v.strip()
        items = list(dict.fromkeys(p.strip() for p in _LIST_SPLIT.split(v) if p.strip())) if v else []
        if len(items) > max_items:
            return items, f"最多 {max_items} 项"
        if any(len(p) > item_max for p in items):
            return items, f"每项不能超过 {item_max} 个字符"
        if allowed_set is not None and any(p not in allowed_set for p in items):
            bad = [p for p in items if p not in allowed_set]
            return items, f"“{'、'.join(bad)[:40]}”不在可选范围内：{'、'.join(allowed_set)}"
        return items, None

    def convert(values: list[str]) -> Converted:
        parsed = {v: parse(v) for v in set(values)}  # a column has few distinct cells
        out = Cells(map({v: items for v, (items, _) in parsed.items()}.__getitem__, values))
        if all(p is None for _, p in parsed.values()):
            # The JSON text for COPY, once per distinct cell (json.dumps escapes control characters, so only
            # backslashes need doubling); non-ASCII written as is, as the json type keeps it.
            copy_text = {
                v: json.dumps(items, ensure_ascii=False).replace("\\", "\\\\") for v, (items, _) in parsed.items()
            }
            out.text = list(map(copy_text.__getitem__, values))
            return out, {}
        return out, {i: parsed[v][1] for i, v in enumerate(values) if parsed[v][1]}  # type: ignore[misc]

    return convert


# USCC_WEIGHTS are 3**i mod 31 and 34 ≡ 3 (mod 31): reading the first 17 characters as a base-34 number,
# least significant first, gives the weighted sum modulo 31 in one C call. Likewise ORG_WEIGHTS are
# 2**(8-i) mod 11 and 13 ≡ 2 (mod 11) for an all-digit organisation code body.
_BASE34 = str.maketrans(USCC_CHARSET, "0123456789abcdefghijklmnopqrstu")
_ORG_VALUES = bytes(b - 48 if 48 <= b <= 57 else (b - 55 if 65 <= b <= 90 else 255) for b in range(256))
_ORG_CHECK = "0123456789X0"  # indexed by 11 - sum % 11 (1..11)


def _uscc_ok(code: str) -> bool:
    """Fast path of `uscc_problem(code) is None` (the same rules, without building a message)."""
    if len(code) != 18 or code.strip(USCC_CHARSET) or not code[2:8].isdigit():
        return False  # wrong length, a character outside the 31 symbols, or a non-numeric region
    if USCC_CHARSET[-int(code[16::-1].translate(_BASE34), 34) % 31] != code[17]:
        return False
    body = code[8:16]
    if body.isdigit():
        total = 2 * int(body, 13)
    else:
        total = sum(map(mul, body.encode().translate(_ORG_VALUES), ORG_WEIGHTS))
    return _ORG_CHECK[11 - total % 11] == code[16]


def _terms(weight: int, values: bytes, modulus: int) -> bytes:
    """A translate table: an ASCII character's value times `weight`, modulo `modulus`."""
    return bytes(weight * v % modulus for v in values)


_USCC_VALUES = bytes(max(USCC_CHARSET.find(chr(b)), 0) for b in range(256))
_ORG_VALUES_0 = bytes(v if v != 255 else 0 for v in _ORG_VALUES)
# Terms of the check equations, per position: Σ w·v (17 positions) + v(check) ≡ 0 (mod 31) for the code,
# Σ w·v (8 positions of the organisation code) + v(its check, X = 10) ≡ 0 (mod 11).
_USCC_TERMS = [_terms(w, _USCC_VALUES, 31) for w in USCC_WEIGHTS] + [_USCC_VALUES]
_ORG_CHECK_VALUES = bytes(10 if b == ord("X") else (b - 48 if 48 <= b <= 57 else 0) for b in range(256))
_ORG_TERMS = [_terms(w, _ORG_VALUES_0, 11) for w in ORG_WEIGHTS] + [_ORG_CHECK_VALUES]
_MOD31 = bytes(x % 31 for x in range(256))
_MOD11 = bytes(x % 11 for x in range(256))
_USCC_BYTES = USCC_CHARSET.encode()


def _lane_sum(columns: list[bytes], tables: list[bytes], n: int) -> bytes:
    """Per code, the sum of its terms, one byte each: the bytes of a big integer whose 8-bit lanes are the
    codes, added in one go (the caller keeps every lane below 256, so no lane carries into the next)."""
    lanes = (int.from_bytes(column.translate(table), "little") for column, table in zip(columns, tables, strict=True))
    total = sum(lanes)
    return total.to_bytes(n, "little")


def _all_uscc_ok(codes: list[str]) -> bool:
    """True when every code is valid, checked for a whole column at once.

    Column p of the joined codes is data[p::18], one byte per code; translate tables turn each into the
    code's term of a check equation, and big-integer additions sum the terms of all codes at once, six at
    a time (6 × 30 < 256) before reducing modulo 31.
    """
    n = len(codes)
    if not n:
        return True
    joined = "".join(codes)
    if len(joined) != 18 * n or max(map(len, codes)) != 18 or not joined.isascii():
        return False
    data = joined.encode("ascii")
    columns = [data[p::18] for p in range(18)]
    if data.translate(None, _USCC_BYTES) or b"".join(columns[2:8]).translate(None, b"0123456789"):
        return False  # a character outside the 31 symbols, or a non-numeric region
    if columns[16].translate(None, b"0123456789X"):
        return False  # the organisation code's check character
    residues = bytes(n)
    for start in (0, 6, 12):
        part = _lane_sum(columns[start : start + 6], _USCC_TERMS[start : start + 6], n).translate(_MOD31)
        residues = (int.from_bytes(residues, "little") + int.from_bytes(part, "little")).to_bytes(n, "little")
    if residues.translate(_MOD31) != bytes(n):
        return False
    return _lane_sum(columns[8:17], _ORG_TERMS, n).translate(_MOD11) == bytes(n)


def uscc_cells(values: list[str]) -> Converted:
    out = Cells(map(str.upper, map(str.strip, values)))
    if _all_uscc_ok(out):
        out.plain = True  # 18 characters of the USCC alphabet
        return out, {}
    errors: dict[int, str] = {}
    for i, code in enumerate(out):
        if not _uscc_ok(code):
            problem = "不能为空" if not code else uscc_problem(code)
            if problem:
                errors[i] = problem
    return out, errors


# ---- column mappings ----------------------------------------------------------------------------


def _render(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "、".join(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class Column:
    field: str
    header: str  # the Chinese header written on export
    convert: Converter
    aliases: tuple[str, ...] = ()
    required: bool = False  # the column must be present in the file
    render: Callable[[Any], str] = _render


def _len(model: Any, name: str) -> int:
    return int(model.__table__.c[name].type.length)


ENTERPRISE_COLUMNS = (
    Column("uscc", "统一社会信用代码", uscc_cells, ("信用代码", "社会信用代码"), required=True),
    # Not a required column: a file may update other fields of known USCCs; new USCCs need a name (see feed).
    Column("name", "名称", text_cells(_len(Enterprise, "name"), required=True), ("企业名称", "主体名称")),
    Column("entity_type", "市场主体类型", text_cells(_len(Enterprise, "entity_type")), ("企业类型", "类型")),
    Column(
        "legal_representative",
        "法定代表人",
        text_cells(_len(Enterprise, "legal_representative")),
        ("法定代表人（负责人）", "负责人", "经营者"),
    ),
    Column("phone", "联系电话", text_cells(_len(Enterprise, "phone")), ("电话",)),
    Column("registered_address", "住所", text_cells(_len(Enterprise, "registered_address")), ("注册地址",)),
    Column("business_address", "经营场所", text_cells(_len(Enterprise, "business_address")), ("经营地址",)),
    Column("region_code", "行政区划代码", pattern_cells(r"\d{6}", "行政区划代码应为 6 位数字"), ("区划代码",)),
    Column(
        "industry_code",
        "行业代码",
        pattern_cells(r"[A-T](\d{2}(\d{1,2})?)?", "行业代码应符合 GB/T 4754（如 C1391、F5211）", upper=True),
        ("国民经济行业代码",),
    ),
    # An empty status cell keeps the stored status: a blank must never silently re-open a 注销 entity.
    Column(
        "status",
        "登记状态",
        choice_cells(ENTERPRISE_STATUS_LABELS, None, "登记状态"),
        ("状态",),
        render=lambda v: ENTERPRISE_STATUS_LABELS.get(v, v),
    ),
    Column("special_libraries", "专项库", list_cells(32, 20)),
    Column("abnormal_list", "经营异常名录", bool_cells(False), ("列入经营异常名录",)),
    Column("serious_violation", "严重违法失信名单", bool_cells(False), ("列入严重违法失信名单",)),
    Column("blacklist", "黑名单", bool_cells(False)),
    Column("risk_level", "风险等级", int_cells(1, 4, 1)),
    Column("complaints_count", "投诉举报数", int_cells(0, 1_000_000, 0), ("投诉数量",)),
    Column("established_on", "成立日期", date_cells),
    Column("lat", "纬度", float_cells(-90, 90)),
    Column("lng", "经度", float_cells(-180, 180)),
    Column("active", "是否在库", bool_cells(True), ("在库",)),
)

INSPECTOR_COLUMNS = (
    Column("staff_no", "工号", text_cells(_len(Inspector, "staff_no"), required=True), ("人员编号",), required=True),
    Column("name", "姓名", text_cells(_len(Inspector, "name"), required=True), required=True),
    Column("department_code", "部门编码", text_cells(32, required=True), ("部门代码",), required=True),
    Column(
        "certificate_no",
        "执法证号",
        text_cells(_len(Inspector, "certificate_no"), required=True),
        ("执法证编号",),
        required=True,
    ),
    Column("certificate_type", "执法证类型", text_cells(_len(Inspector, "certificate_type"))),
    Column("certificate_valid_until", "执法证有效期至", date_cells, ("有效期至",)),
    Column("specialties", "专业领域", list_cells(32, 20), ("专业",)),
    Column("region_codes", "负责区域", list_cells(6, 50), ("区域代码",)),
    Column("years_of_service", "从业年限", int_cells(0, 60, 0)),
    Column("phone", "联系电话", text_cells(_len(Inspector, "phone")), ("电话",)),
    Column("active", "是否在岗", bool_cells(True), ("在岗",)),
)

ITEM_STATUS_LABELS = {"draft": "草稿", "published": "已发布"}
ANSWER_KIND_LABELS = {"pass_fail": "合格判定", "number": "数值", "text": "文字", "choice": "选择"}
CATEGORY_LABELS = {"key": "重点", "general": "一般"}

ITEM_COLUMNS = (
    Column("code", "事项编码", text_cells(_len(CheckItem, "code"), required=True), required=True),
    Column("department_code", "部门编码", text_cells(32), ("部门代码",)),
    # Required on an item's first row only: continuation rows may leave item cells empty (merged cells).
    Column("name", "事项名称", text_cells(_len(CheckItemVersion, "name")), required=True),
    Column("basis", "抽查依据", text_cells(2000)),
    Column("methods", "抽查方式", list_cells(16, len(ITEM_METHODS), allowed=ITEM_METHODS)),
    Column("content", "抽查内容", text_cells(5000)),
    Column(
        "category",
        "事项类别",
        choice_cells(CATEGORY_LABELS, None, "事项类别"),
        render=lambda v: CATEGORY_LABELS.get(v, v),
    ),
    Column("target_scope", "检查对象范围", text_cells(2000)),
    Column("specialty", "所需专业", text_cells(_len(CheckItemVersion, "specialty"))),
    Column("change_note", "变更说明", text_cells(1000)),
    Column(
        "status",
        "状态",
        choice_cells({**ITEM_STATUS_LABELS, "retired": "已停用"}, None, "状态"),
        render=lambda v: {**ITEM_STATUS_LABELS, "retired": "已停用"}.get(v, v),
    ),
    Column("active", "是否有效", bool_cells(None)),
    Column("checkpoint_key", "要点编号", text_cells(_len(Checkpoint, "key"))),
    Column("question", "检查要点", text_cells(_len(Checkpoint, "question"))),
    Column("legal_clause", "法律条款", text_cells(1000)),
    Column(
        "answer_kind",
        "答案类型",
        choice_cells(ANSWER_KIND_LABELS, None, "答案类型"),
        render=lambda v: ANSWER_KIND_LABELS.get(v, v),
    ),
    Column("options", "选项", list_cells(100, 20)),
    Column("photo_required", "需拍照", bool_cells(False)),
)
ITEM_LEVEL = (
    "department_code",
    "name",
    "basis",
    "methods",
    "content",
    "category",
    "target_scope",
    "specialty",
    "change_note",
    "status",
    "active",
)
CHECKPOINT_LEVEL = ("checkpoint_key", "question", "legal_clause", "answer_kind", "options", "photo_required")

COLUMNS = {"enterprises": ENTERPRISE_COLUMNS, "inspectors": INSPECTOR_COLUMNS, "items": ITEM_COLUMNS}
POLICY_KIND = {"enterprises": "enterprise", "inspectors": "inspector", "items": "check_item"}
KEY_FIELD = {"enterprises": "uscc", "inspectors": "staff_no", "items": "code"}


def _header_key(name: str) -> str:
    name = name.strip().lstrip("\ufeff").strip()
    name = re.sub(r"[（(]\s*(必填|选填)\s*[)）]$", "", name).rstrip("*＊ ").strip()
    return name.lower()


@dataclass
class Binding:
    """The file's header bound to a kind's columns."""

    columns: list[tuple[int, Column, str]]  # (position in the file, column, header as written)
    unnamed: list[int]  # positions whose header cell is empty
    width: int

    @property
    def fields(self) -> set[str]:
        return {c.field for _, c, _ in self.columns}


def bind_header(kind: str, header: list[str]) -> Binding:
    lookup: dict[str, Column] = {}
    for col in COLUMNS[kind]:
        for name in (col.header, col.field, *col.aliases):
            lookup[_header_key(name)] = col
    bound: list[tuple[int, Column, str]] = []
    unnamed: list[int] = []
    unknown: list[str] = []
    seen: dict[str, str] = {}
    for pos, raw in enumerate(header):
        key = _header_key(raw)
        if not key:
            unnamed.append(pos)
            continue
        col = lookup.get(key)
        if col is None:
            unknown.append(raw.strip())
            continue
        if col.field in seen:
            raise Invalid(
                f"列“{raw.strip()}”与“{seen[col.field]}”重复", errors={"columns": [f"重复的列：{raw.strip()}"]}
            )
        seen[col.field] = raw.strip()
        bound.append((pos, col, raw.strip()))
    problems = []
    if unknown:
        problems.append(f"未知的列：{'、'.join(unknown)}")
    missing = [c.header for c in COLUMNS[kind] if c.required and c.field not in seen]
    if missing:
        problems.append(f"缺少必需的列：{'、'.join(missing)}")
    if problems:
        expected = "、".join(c.header for c in COLUMNS[kind])
        raise Invalid("；".join(problems) + f"。可用的列：{expected}", errors={"columns": problems})
    return Binding(bound, unnamed, len(header))


def csv_unescape(values: list[str]) -> list[str]:
    """Undo the apostrophe a CSV export puts before formula-like text (see exports.formula_safe)."""
    if "'" not in "".join(values):
        return values
    return [v[1:] if v[:1] == "'" and v[1:].startswith(FORMULA_TRIGGERS) else v for v in values]


def convert_chunk(
    binding: Binding, chunk: Chunk, report: ImportReport, *, from_csv: bool = False
) -> tuple[dict[str, list[Any]], list[int]]:
    """Convert a chunk column by column; returns the columns and the indexes of the rows without errors."""
    numbers = chunk.numbers
    bad: set[int] = set()
    for i in chunk.overflow:
        report.error(numbers[i], f"第 {binding.width + 1} 列起", "该行的数据多于表头的列数")
        bad.add(i)
    for pos in binding.unnamed:
        cells = chunk.columns[pos]
        if "".join(cells).strip():
            for i, v in enumerate(cells):
                if v.strip():
                    report.error(numbers[i], f"第 {pos + 1} 列", "该列没有列名，无法确定数据含义")
                    bad.add(i)
    columns: dict[str, list[Any]] = {}
    for pos, col, header in binding.columns:
        cells = chunk.columns[pos]
        plain = False
        if is_text_column(col):
            joined = "".join(cells)
            if from_csv and "'" in joined:
                cells = csv_unescape(cells)
            if "\x00" in joined:
                for i, v in enumerate(cells):
                    if "\x00" in v:
                        report.error(numbers[i], header, "含有不可见的控制字符（NUL）")
                        bad.add(i)
            plain = not ("\\" in joined or "\t" in joined or "\n" in joined or "\r" in joined)
        values, errors = col.convert(cells)
        if plain and isinstance(values, Cells):
            values.plain = True
        columns[col.field] = values
        for i, message in errors.items():
            report.error(numbers[i], header, message)
            bad.add(i)
    report.rows += len(numbers)
    report.invalid += len(bad)
    valid = [i for i in range(len(numbers)) if i not in bad] if bad else list(range(len(numbers)))
    return columns, valid


# ---- the entry point ----------------------------------------------------------------------------

Progress = Callable[[int, int], None]  # (rows read so far, bytes read so far)


def import_file(
    *,
    session: Session,
    actor: User | None,
    kind: str,
    source: Source,
    filename: str | None = None,
    fmt: str | None = None,
    dry_run: bool = False,
    valid_only: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a file; returns the report or raises Invalid (with the report) when rows are wrong.

    `actor=None` is the operator at the command line (the audit log says "system"), with full reach.
    """
    if kind not in KINDS:
        raise Invalid("不支持的导入类型", errors={"kind": [f"可选：{', '.join(KINDS)}"]})
    if actor is not None:
        access.scope(actor, POLICY_KIND[kind], access.WRITE)
    started = time.perf_counter()
    gc_was_enabled = gc.isenabled()
    table = open_table(source, filename=filename, fmt=fmt)
    report = ImportReport(kind, table.format, table.encoding, filename, dry_run=dry_run, valid_only=valid_only)
    importer = IMPORTERS[kind](session=session, actor=actor, report=report)
    try:
        binding = bind_header(kind, table.header)
        importer.begin(binding)
        # Millions of short-lived lists make the cyclic collector rescan young objects over and over;
        # nothing built here forms cycles, so pause it while streaming.
        gc.disable()
        for chunk in table.chunks:
            columns, valid = convert_chunk(binding, chunk, report, from_csv=table.format == "csv")
            importer.feed(chunk.numbers, columns, valid)
            if progress:
                progress(report.rows, table.bytes_read)
        if gc_was_enabled:
            gc.enable()
        report.sha256 = table.sha256()
        importer.check()
        if report.errors_total and not valid_only:
            report.seconds = round(time.perf_counter() - started, 3)
            raise Invalid(
                f"文件中有 {report.invalid} 行存在 {report.errors_total} 处错误，未导入任何数据"
                "（修正后重新导入，或选择只导入正确的行）",
                errors={"rows": [asdict(e) for e in sorted(report.errors, key=lambda e: e.row)]},
                report=report.as_dict(),
            )
        importer.apply()
        if report.created or report.updated:
            audit.record(
                session=session,
                actor=actor,
                action=f"import.{kind}",
                entity=POLICY_KIND[kind],
                entity_id=report.sha256[:16],
                data={
                    "file": filename,
                    "sha256": report.sha256,
                    "rows": report.rows,
                    "created": report.created,
                    "updated": report.updated,
                    "unchanged": report.unchanged,
                    "invalid": report.invalid,
                    "changes": sorted(report.changes, key=lambda c: c["row"]),
                    "changes_total": report.changes_total,
                },
            )
        if dry_run:
            session.rollback()
        else:
            session.commit()
            report.applied = True
    except BaseException:
        importer.close()  # an open COPY must end before the transaction can roll back
        session.rollback()
        raise
    finally:
        if gc_was_enabled:
            gc.enable()
        importer.close()
        table.close()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


class _Importer:
    def __init__(self, *, session: Session, actor: User | None, report: ImportReport) -> None:
        self.session = session
        self.actor = actor
        self.report = report
        self.dialect = session.get_bind().dialect.name
        self.streams: _CopyStreams | None = None
        self.stage_ready = False

    def begin(self, binding: Binding) -> None:
        self.binding = binding
        self.fields = binding.fields

    def feed(self, numbers: list[int], columns: dict[str, list[Any]], valid: list[int]) -> None:
        raise NotImplementedError

    def check(self) -> None:
        """Checks that need the whole file or the database, before anything is applied."""

    def apply(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release temporary resources."""

    @property
    def accepting(self) -> bool:
        """Whether rows should still be written: not once an error dooms an all-or-nothing import."""
        return self.report.valid_only or not self.report.errors_total


# ---- enterprises: the set-based path -----------------------------------------------------------

ENTERPRISE_DATA = tuple(c.field for c in ENTERPRISE_COLUMNS)
_ENTERPRISE_DEFAULTS: dict[str, Any] = {
    "entity_type": "",
    "legal_representative": "",
    "phone": "",
    "registered_address": "",
    "business_address": "",
    "region_code": "",
    "industry_code": "",
    "status": "active",
    "special_libraries": [],
    "abnormal_list": False,
    "serious_violation": False,
    "blacklist": False,
    "risk_level": 1,
    "complaints_count": 0,
    "established_on": None,
    "lat": None,
    "lng": None,
    "active": True,
}
_PG_TYPES = {
    "uscc": "varchar(18)",
    "status": "varchar(16)",
    "special_libraries": "json",
    "abnormal_list": "boolean",
    "serious_violation": "boolean",
    "blacklist": "boolean",
    "risk_level": "integer",
    "complaints_count": "integer",
    "established_on": "date",
    "lat": "double precision",
    "lng": "double precision",
    "active": "boolean",
}
STAGE = "import_enterprise_stage"


class TimeOrderedIds:
    """UUIDv7-shaped ids for one import: a millisecond timestamp, random bits, then a row counter.

    Rows of one import get increasing ids, so their primary-key index grows at its right edge instead
    of at a random leaf per row — a large part of the cost of loading a million rows.
    """

    def __init__(self) -> None:
        ms = int(time.time() * 1000)
        rand = secrets.randbits(26)
        variant = 0x8 | (rand >> 24)  # 10xx: the RFC 9562 variant
        self.prefix = f"{ms:012x}7{(rand >> 12) & 0xFFF:03x}{variant:x}{rand & 0xFFF:03x}"
        self.next = 0

    def take(self, n: int) -> list[str]:
        """The next `n` ids (32 hex digits, a form uuid input accepts): the counter's last three digits come
        from a table, so an id costs one string concatenation."""
        start, end = self.next, self.next + n
        self.next = end
        out: list[str] = []
        while start < end:
            high, low = divmod(start, 4096)
            stop = min(end, start + 4096 - low)
            out += map(f"{self.prefix}{high:09x}".__add__, _HEX3[low : low + stop - start])
            start = stop
        return out


_HEX3 = [f"{i:03x}" for i in range(4096)]


_PG_BOOL = {True: "t", False: "f"}


def _pg_text(values: list[Any], kind: str) -> list[str]:
    """Cells in PostgreSQL COPY text format."""
    text = getattr(values, "text", None)
    if text is not None:
        return text
    if getattr(values, "plain", False):
        return values
    if kind == "text":
        joined = "\x01".join(values)
        if "\\" in joined or "\t" in joined or "\n" in joined or "\r" in joined:
            return [
                v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r") for v in values
            ]
        return values
    if kind == "bool":
        return list(map(_PG_BOOL.__getitem__, values))
    if kind == "json":  # equal lists are shared objects (see list_cells): encode each once
        memo: dict[int, str] = {}
        out = []
        for v in values:
            text = memo.get(id(v))
            if text is None:
                text = memo[id(v)] = json.dumps(v).replace("\\", "\\\\")
            out.append(text)
        return out
    if None in values:
        return ["\\N" if v is None else (v if kind == "code" else _pg_scalar(v)) for v in values]
    if kind == "code" or not values:
        return values
    if isinstance(values[0], date):
        return list(map(date.isoformat, values))
    return list(map(repr, values))


def _copy_rows(cells: list[list[str]]) -> str:
    """Rows in COPY text format: the columns interleaved with their separators in one list and joined once
    (no tuple and no string per row)."""
    n = len(cells[0])
    width = 2 * len(cells)
    flat = ["\n"] * (width * n)
    tabs = ["\t"] * n
    for c, column in enumerate(cells):
        flat[2 * c :: width] = column
        if c < len(cells) - 1:
            flat[2 * c + 1 :: width] = tabs
    return "".join(flat)


def _pg_scalar(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else repr(value)


def _sqlite_values(values: list[Any], kind: str) -> list[Any]:
    if kind == "json":
        return [json.dumps(v) for v in values]
    if kind == "bool":
        return [1 if v else 0 for v in values]
    if kind == "other":
        return [v.isoformat() if isinstance(v, date) else v for v in values]
    return values


_CELL_KINDS = {
    "special_libraries": "json",
    "abnormal_list": "bool",
    "serious_violation": "bool",
    "blacklist": "bool",
    "active": "bool",
    "status": "code",
    "risk_level": "other",
    "complaints_count": "other",
    "established_on": "other",
    "lat": "other",
    "lng": "other",
}


class _CopyStreams:
    """COPY into several tables over one connection, where only one COPY can be open at a time.

    The first table written to keeps its COPY open for the whole file, so PostgreSQL ingests one chunk
    while Python parses the next; rows for any other table are spooled to a temporary file and copied
    when the stream closes.
    """

    def __init__(self, raw_connection: Any) -> None:
        self.raw = raw_connection
        self.target: str | None = None
        self.stack = ExitStack()
        self.copy: Any = None
        self.spools: dict[str, Any] = {}

    def _open(self, target: str) -> Any:
        from psycopg.copy import QueuedLibpqWriter

        cur = self.stack.enter_context(self.raw.cursor())
        return self.stack.enter_context(cur.copy(f"COPY {target} FROM STDIN", writer=QueuedLibpqWriter(cur)))

    def write(self, target: str, payload: bytes) -> None:
        if self.target is None:
            self.target = target
            self.copy = self._open(target)
        if target == self.target:
            self.copy.write(payload)
        else:
            if target not in self.spools:
                self.spools[target] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in finish/abort
            self.spools[target].write(payload)

    def finish(self) -> None:
        self.stack.close()
        self.target = None
        for target, spool in self.spools.items():
            spool.seek(0)
            with self.raw.cursor() as cur, cur.copy(f"COPY {target} FROM STDIN") as copy:
                while block := spool.read(1 << 20):
                    copy.write(block)
            spool.close()
        self.spools.clear()

    def abort(self) -> None:
        try:
            self.stack.__exit__(RuntimeError, RuntimeError("导入中止"), None)
        except Exception:  # noqa: BLE001,S110 - the transaction is being rolled back anyway
            pass
        for spool in self.spools.values():
            spool.close()
        self.spools.clear()


class EnterpriseImporter(_Importer):
    NEW_COLUMNS = ("id", *ENTERPRISE_DATA, "created_at", "updated_at")
    # PostgreSQL fills both stamps from their default, now() (migration 0006), which is `self.now` there.
    COPY_COLUMNS = ("id", *ENTERPRISE_DATA)

    def begin(self, binding: Binding) -> None:
        super().begin(binding)
        self.present = [f for f in ENTERPRISE_DATA if f in self.fields]
        # Duplicate USCCs: while none has turned up, a set of the keys fed so far (one C call per chunk) and
        # the chunks themselves; the first duplicate turns them into `first_row` (key -> first row number).
        self.seen: set[str] = set()
        self.fed: list[tuple[int | list[int], list[str]]] = []
        self.first_row: dict[str, int] | None = None
        self.staged_rows = 0
        self.ids = TimeOrderedIds()
        self.now = utcnow()
        self.streams: _CopyStreams | None = None
        conn = self.session.connection()
        if self.dialect == "postgresql":
            # New keys are decided from the set read below: keep other writers out until commit.
            conn.exec_driver_sql("LOCK TABLE enterprise IN SHARE ROW EXCLUSIVE MODE")
            conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
            self.now = conn.exec_driver_sql("SELECT now()").scalar_one().astimezone(UTC)  # the stamps' default
            raw = conn.connection.driver_connection
            with raw.cursor() as cur:
                cur.execute("SELECT uscc FROM enterprise")
                self.existing = {row[0] for row in cur}
            self.streams = _CopyStreams(raw)
        else:
            self.existing = set(self.session.execute(select(Enterprise.uscc)).scalars())
        self.stage_ready = False
        if self.existing:
            self._create_stage()  # before any COPY starts: no DDL while a COPY is open

    # -- streaming --

    def feed(self, numbers: list[int], columns: dict[str, list[Any]], valid: list[int]) -> None:
        usccs = columns["uscc"]
        if not usccs:
            return
        duplicates = set()
        first_row = self.first_row
        if first_row is None and len(valid) == len(usccs):
            before = len(self.seen)
            self.seen.update(usccs)
            if len(self.seen) - before == len(usccs):  # the usual case: every key new, without a Python loop
                contiguous = numbers[-1] - numbers[0] == len(numbers) - 1
                self.fed.append((numbers[0] if contiguous else numbers, usccs))
            else:
                first_row = self._first_rows()
        elif first_row is None:
            first_row = self._first_rows()
        if first_row is not None:
            for i in valid:
                first = first_row.setdefault(usccs[i], numbers[i])
                if first != numbers[i]:
                    self.report.error(numbers[i], "统一社会信用代码", f"与第 {first} 行的统一社会信用代码重复")
                    duplicates.add(i)
        if duplicates:
            self.report.invalid += len(duplicates)
            valid = [i for i in valid if i not in duplicates]
        if not self.accepting or not valid:
            return
        existing = self.existing
        if not existing or existing.isdisjoint(usccs):
            new, old = valid, []
        elif existing.issuperset(usccs):  # a file imported again: every key known, without a Python loop
            new, old = [], valid
        else:
            new = [i for i in valid if usccs[i] not in existing]
            old = [i for i in valid if usccs[i] in existing]
        if new and "name" not in columns:
            for i in new:
                self.report.error(
                    numbers[i], "统一社会信用代码", "名录中没有该统一社会信用代码；新增检查对象须提供“名称”列"
                )
            self.report.invalid += len(new)
            new = []
            if not self.accepting:
                return
        if new:
            self._insert_new(numbers, columns, new)
        if old:
            self._stage(numbers, columns, old)

    def _first_rows(self) -> dict[str, int]:
        """Switch duplicate detection to a key -> first row number map, built from the chunks fed so far."""
        first: dict[str, int] = {}
        for start, usccs in self.fed:
            numbers = range(start, start + len(usccs)) if isinstance(start, int) else start
            first.update(zip(usccs, numbers, strict=True))  # keys of the fast path are all distinct
        self.fed = []
        self.seen = set()
        self.first_row = first
        return first

    def _insert_new(self, numbers: list[int], columns: dict[str, list[Any]], rows: list[int]) -> None:
        n = len(rows)
        whole = n == len(columns["uscc"])  # rows is then 0..n-1
        out: dict[str, list[Any]] = {"id": self.ids.take(n)}
        for name in ENTERPRISE_DATA:
            if name in columns:
                values = columns[name]
                picked = values if whole else [values[i] for i in rows]
                if name == "status":
                    picked = [v or "active" for v in picked]
                out[name] = picked
            else:
                out[name] = [_ENTERPRISE_DEFAULTS[name]] * n
        if self.streams is not None:
            cells = [out["id"], *(_pg_text(out[f], _CELL_KINDS.get(f, "text")) for f in ENTERPRISE_DATA)]
            self._copy("enterprise", self.COPY_COLUMNS, cells)
        else:
            stamp = self.now.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
            cells = [out["id"], *(_sqlite_values(out[f], _CELL_KINDS.get(f, "text")) for f in ENTERPRISE_DATA)]
            cells += [[stamp] * n, [stamp] * n]
            self._executemany("enterprise", self.NEW_COLUMNS, cells)
        report = self.report
        report.created += n
        room = MAX_REPORTED - len(report.changes)
        report.changes.extend({"row": numbers[i], "key": columns["uscc"][i], "action": "created"} for i in rows[:room])
        report.changes_total += n

    def _stage(self, numbers: list[int], columns: dict[str, list[Any]], rows: list[int]) -> None:
        names = ("row_no", *self.present)
        whole = len(rows) == len(numbers)

        def pick(name: str) -> list[Any]:
            return columns[name] if whole else [columns[name][i] for i in rows]

        if self.streams is not None:
            cells = [[str(numbers[i]) for i in rows]]
            cells += [_pg_text(pick(f), _CELL_KINDS.get(f, "text")) for f in self.present]
            self._copy(STAGE, names, cells)
        else:
            cells = [[numbers[i] for i in rows]]
            cells += [_sqlite_values(pick(f), _CELL_KINDS.get(f, "text")) for f in self.present]
            self._executemany(STAGE, names, cells)
        self.staged_rows += len(rows)

    def _create_stage(self) -> None:
        conn = self.session.connection()
        cols = ", ".join(f"{name} {_PG_TYPES.get(name, 'text')}" for name in self.present)
        if self.dialect == "postgresql":
            # A large staging table spills to disk with the default 8 MB of temp buffers. The setting can
            # only change before a session's first temporary table, hence the savepoint.
            conn.exec_driver_sql("SAVEPOINT stage_buffers")
            try:
                conn.exec_driver_sql("SET LOCAL temp_buffers = '512MB'")
                conn.exec_driver_sql("RELEASE SAVEPOINT stage_buffers")
            except DBAPIError:
                conn.exec_driver_sql("ROLLBACK TO SAVEPOINT stage_buffers")
            conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {STAGE} (row_no integer, {cols}) ON COMMIT DROP")
        else:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{STAGE}")
            conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {STAGE} (row_no INTEGER, {cols})")
        self.stage_ready = True

    def _copy(self, table: str, names: tuple[str, ...], cells: list[list[str]]) -> None:
        assert self.streams is not None
        self.streams.write(f"{table} ({', '.join(names)})", _copy_rows(cells).encode())

    def _executemany(self, table: str, names: tuple[str, ...], cells: list[list[Any]]) -> None:
        placeholders = ", ".join("?" for _ in names)
        self.session.connection().exec_driver_sql(  # names come from the column mapping, never from a file
            f"INSERT INTO {table} ({', '.join(names)}) VALUES ({placeholders})",  # noqa: S608
            list(zip(*cells, strict=True)),
        )

    # -- applying the staged rows --

    def _differs(self, name: str) -> str:
        if name == "status":  # an empty status cell (NULL here) keeps the stored status
            return "(s.status IS NOT NULL AND s.status <> enterprise.status)"
        if self.dialect == "postgresql":
            if name == "special_libraries":  # parse JSON only when the stored text differs
                return (
                    "(s.special_libraries::text <> enterprise.special_libraries::text"
                    " AND s.special_libraries::jsonb <> enterprise.special_libraries::jsonb)"
                )
            return f"s.{name} IS DISTINCT FROM enterprise.{name}"
        return f"s.{name} IS NOT enterprise.{name}"

    def apply(self) -> None:
        # The statements below are assembled from the fixed column mapping (never from file content);
        # every value travels as a bound parameter or through the staging table.
        if self.streams is not None:
            try:
                self.streams.finish()
            except Exception as exc:
                _raise_database_refusal(exc)
        report = self.report
        if not self.staged_rows:
            return
        params = {"now": self.now, "actor": self.actor.id if self.actor else None}
        typed = [bindparam("now", type_=UTCDateTime()), bindparam("actor", type_=Uuid())]
        if "status" in self.present:
            new_id = "gen_random_uuid()" if self.dialect == "postgresql" else "lower(hex(randomblob(16)))"
            self.session.execute(
                text(
                    "INSERT INTO enterprise_status_change "  # noqa: S608
                    "(id, enterprise_id, from_status, to_status, reason, changed_at, actor_id) "
                    f"SELECT {new_id}, enterprise.id, enterprise.status, s.status, :reason, :now, :actor "
                    f"FROM {STAGE} AS s JOIN enterprise ON enterprise.uscc = s.uscc "
                    "WHERE s.status IS NOT NULL AND s.status <> enterprise.status"
                ).bindparams(*typed),
                {**params, "reason": f"批量导入：{report.filename or '文件'}"[:200]},
            )
        sets = [
            "status = COALESCE(s.status, enterprise.status)" if n == "status" else f"{n} = s.{n}"
            for n in self.present
            if n != "uscc"
        ]
        changed: list[tuple[str, int]] = []  # (uscc, row number)
        if sets:
            differs = " OR ".join(self._differs(n) for n in self.present if n != "uscc")
            # SQLite's RETURNING cannot name the FROM table: its row numbers are read from the stage after.
            returning = "enterprise.uscc, s.row_no" if self.dialect == "postgresql" else "enterprise.uscc"
            result = self.session.execute(
                text(
                    f"UPDATE enterprise SET {', '.join(sets)}, updated_at = :now FROM {STAGE} AS s "  # noqa: S608
                    f"WHERE enterprise.uscc = s.uscc AND ({differs}) RETURNING {returning}"
                ).bindparams(typed[0]),
                {"now": self.now},
            )
            if self.dialect == "postgresql":
                changed = [(u, r) for u, r in result]
            else:
                keys = list(result.scalars())
                if keys:
                    stage = self.session.connection().exec_driver_sql(f"SELECT uscc, row_no FROM {STAGE}")  # noqa: S608
                    row_of: dict[str, int] = dict(stage.all())  # type: ignore[arg-type]
                    changed = [(u, row_of[u]) for u in keys]
        report.updated += len(changed)
        report.unchanged += self.staged_rows - len(changed)
        changed.sort(key=lambda pair: pair[1])
        room = MAX_REPORTED - len(report.changes)
        report.changes.extend({"row": r, "key": u, "action": "updated"} for u, r in changed[:room])
        report.changes_total += len(changed)

    def close(self) -> None:
        if self.streams is not None:
            self.streams.abort()
        if self.dialect == "sqlite" and self.stage_ready:
            try:
                self.session.connection().exec_driver_sql(f"DROP TABLE IF EXISTS temp.{STAGE}")
            except Exception:  # noqa: BLE001,S110 - best effort; the connection may already be gone
                pass


def _raise_database_refusal(exc: Exception) -> None:
    import psycopg

    if isinstance(exc, psycopg.errors.UniqueViolation):
        raise Conflict("导入期间名录被其他操作修改，请重试", errors={"file": [str(exc)[:200]]}) from exc
    raise exc


# ---- inspectors ---------------------------------------------------------------------------------


class _RowImporter(_Importer):
    """Kinds counted in hundreds or thousands: collect rows, check against the database, apply per row."""

    def begin(self, binding: Binding) -> None:
        super().begin(binding)
        self.records: list[tuple[int, dict[str, Any]]] = []
        self.bad_rows: set[int] = set()
        self.departments = {d.code: d for d in self.session.execute(select(Department)).scalars()}

    def feed(self, numbers: list[int], columns: dict[str, list[Any]], valid: list[int]) -> None:
        names = list(columns)
        for i in valid:
            self.records.append((numbers[i], {n: columns[n][i] for n in names}))

    def reject(self, row: int, column: str, message: str) -> None:
        self.report.error(row, column, message)
        if row not in self.bad_rows:
            self.bad_rows.add(row)
            self.report.invalid += 1

    def header_of(self, name: str) -> str:
        for _, col, header in self.binding.columns:
            if col.field == name:
                return header
        return next(c.header for c in COLUMNS[self.report.kind] if c.field == name)

    def may_write(self, department_id: uuid.UUID) -> bool:
        return self.actor is None or access.can(
            self.actor, POLICY_KIND[self.report.kind], access.WRITE, department_id=department_id
        )


class InspectorImporter(_RowImporter):
    def check(self) -> None:
        by_staff: dict[str, int] = {}
        by_cert: dict[str, int] = {}
        keep = []
        for row, rec in self.records:
            ok = True
            for name, index, label in (("staff_no", by_staff, "工号"), ("certificate_no", by_cert, "执法证号")):
                first = index.setdefault(rec[name], row)
                if first != row:
                    self.reject(row, self.header_of(name), f"与第 {first} 行的{label}重复")
                    ok = False
            dept = self.departments.get(rec["department_code"])
            if dept is None:
                self.reject(row, self.header_of("department_code"), f"部门编码“{rec['department_code']}”不存在")
                ok = False
            elif not self.may_write(dept.id):
                self.reject(row, self.header_of("department_code"), "无权导入其他部门的人员")
                ok = False
            if ok:
                keep.append((row, rec))
        staff = [rec["staff_no"] for _, rec in keep]
        self.current = {
            i.staff_no: i
            for chunk in _chunks(staff, 500)
            for i in self.session.execute(select(Inspector).where(Inspector.staff_no.in_(chunk))).scalars()  # type: ignore[attr-defined]
        }
        certs = [rec["certificate_no"] for _, rec in keep]
        cert_owner = {
            c: s
            for chunk in _chunks(certs, 500)
            for c, s in self.session.execute(
                select(Inspector.certificate_no, Inspector.staff_no).where(Inspector.certificate_no.in_(chunk))  # type: ignore[attr-defined]
            )
        }
        self.records = []
        for row, rec in keep:
            existing = self.current.get(rec["staff_no"])
            if existing is not None and not self.may_write(existing.department_id):
                self.reject(row, self.header_of("staff_no"), "该工号属于其他部门，无权修改")
                continue
            owner = cert_owner.get(rec["certificate_no"])
            if owner is not None and owner != rec["staff_no"]:
                self.reject(row, self.header_of("certificate_no"), f"执法证号已被工号 {owner} 使用")
                continue
            self.records.append((row, rec))

    def apply(self) -> None:
        report = self.report
        for row, rec in self.records:
            values = {k: v for k, v in rec.items() if k != "department_code"}
            values["department_id"] = self.departments[rec["department_code"]].id
            existing = self.current.get(rec["staff_no"])
            if existing is None:
                self.session.add(Inspector(**values))
                report.created += 1
                report.change(row, rec["staff_no"], "created")
                continue
            diff = {k: v for k, v in values.items() if getattr(existing, k) != v}
            if not diff:
                report.unchanged += 1
                continue
            for k, v in diff.items():
                setattr(existing, k, v)
            existing.updated_at = utcnow()
            report.updated += 1
            report.change(row, rec["staff_no"], "updated")
        try:
            self.session.flush()
        except Exception as exc:
            raise Conflict("导入与现有数据冲突（工号或执法证号重复），请检查后重试") from exc


# ---- check items: one row per checkpoint, grouped by 事项编码 ---------------------------------------


@dataclass
class _ItemDraft:
    row: int
    code: str
    fields: dict[str, Any]
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)


class ItemImporter(_RowImporter):
    def begin(self, binding: Binding) -> None:
        super().begin(binding)
        self.items: dict[str, _ItemDraft] = {}
        self.codes_with_bad_rows: dict[str, int] = {}

    def feed(self, numbers: list[int], columns: dict[str, list[Any]], valid: list[int]) -> None:
        if len(valid) != len(numbers):
            ok = set(valid)
            for i, code in enumerate(columns["code"]):
                if i not in ok and code:
                    self.codes_with_bad_rows.setdefault(code, numbers[i])
        super().feed(numbers, columns, valid)

    def check(self) -> None:
        for row, rec in self.records:
            code = rec["code"]
            item = self.items.get(code)
            if item is None:
                item = self.items[code] = _ItemDraft(row, code, {k: rec[k] for k in ITEM_LEVEL if k in rec})
            else:
                # Continuation rows (one per further checkpoint) may leave item cells empty, as merged cells do.
                for k in ITEM_LEVEL:
                    if k in rec and rec[k] not in ("", None, []) and rec[k] != item.fields.get(k):
                        self.reject(row, self.header_of(k), f"与第 {item.row} 行同一事项的内容不一致")
            item.rows.append(row)
            self._add_checkpoint(item, row, rec)
        for item in self.items.values():
            f = item.fields
            if f.get("category", "") is None:
                f["category"] = "general"
            if f.get("status", "") is None:
                f["status"] = "draft"
            if "active" in f and f["active"] is None:
                del f["active"]
        codes = list(self.items)
        self.current = {
            i.code: i
            for chunk in _chunks(codes, 500)
            for i in self.session.execute(select(CheckItem).where(CheckItem.code.in_(chunk))).scalars()  # type: ignore[attr-defined]
        }
        for code, item in list(self.items.items()):
            if not item.fields.get("name"):
                self.reject(item.row, self.header_of("name"), "不能为空（每个事项的第一行须填写事项名称）")
            if code in self.codes_with_bad_rows:
                self._drop(
                    code, item, ("code", f"同一事项的第 {self.codes_with_bad_rows[code]} 行有错误，整个事项未导入")
                )
                continue
            if any(r in self.bad_rows for r in item.rows):
                self._drop(code, item, None)
                continue
            dept_code = item.fields.get("department_code") or ""
            dept = self.departments.get(dept_code) if dept_code else None
            existing = self.current.get(code)
            if dept_code and dept is None:
                self._drop(code, item, ("department_code", f"部门编码“{dept_code}”不存在"))
            elif existing is None and dept is None:
                self._drop(code, item, ("department_code", "新事项须填写部门编码"))
            elif existing is not None and dept is not None and existing.department_id != dept.id:
                self._drop(code, item, ("department_code", "事项已属于其他部门，不能通过导入变更"))
            elif not self.may_write(existing.department_id if existing else dept.id):  # type: ignore[union-attr]
                self._drop(code, item, ("department_code", "无权导入其他部门的抽查事项"))
            elif (
                item.fields.get("status") in ("published", "retired")
                and not item.checkpoints
                and (existing is None or "question" in self.fields)
            ):
                self._drop(code, item, ("question", "发布的事项至少需要一个检查要点"))
            else:
                item.fields["department_id"] = existing.department_id if existing else dept.id  # type: ignore[union-attr]

    def _add_checkpoint(self, item: _ItemDraft, row: int, rec: dict[str, Any]) -> None:
        cp = {k: rec[k] for k in CHECKPOINT_LEVEL if k in rec}
        if not any(cp.get(k) for k in ("checkpoint_key", "question", "legal_clause", "options")):
            return  # a row carrying only item fields
        if not cp.get("question"):
            self.reject(
                row, self.header_of("question") if "question" in self.fields else "检查要点", "检查要点不能为空"
            )
            return
        key = cp.get("checkpoint_key") or f"cp{len(item.checkpoints) + 1}"
        if any(c["key"] == key for c in item.checkpoints):
            self.reject(row, self.header_of("checkpoint_key"), f"要点编号“{key}”在该事项中重复")
            return
        answer_kind = cp.get("answer_kind") or "pass_fail"
        if answer_kind == "choice" and not cp.get("options"):
            self.reject(row, self.header_of("options") if "options" in self.fields else "选项", "选择题须填写选项")
            return
        item.checkpoints.append(
            {
                "key": key,
                "question": cp["question"],
                "legal_clause": cp.get("legal_clause", ""),
                "answer_kind": answer_kind,
                "options": cp.get("options", []),
                "photo_required": bool(cp.get("photo_required")),
            }
        )

    def _drop(self, code: str, item: _ItemDraft, problem: tuple[str, str] | None) -> None:
        """An item is all its rows: one bad row leaves the whole item out."""
        if problem:
            name, message = problem
            column = (
                self.header_of(name) if name in self.fields else next(c.header for c in ITEM_COLUMNS if c.field == name)
            )
            self.reject(item.row, column, message)
        for r in item.rows:
            if r not in self.bad_rows:
                self.bad_rows.add(r)
                self.report.invalid += 1
        del self.items[code]

    def apply(self) -> None:
        from .items import CHECKPOINT_FIELDS, VERSION_FIELDS

        report = self.report
        now = utcnow()
        actor_id = self.actor.id if self.actor else None
        for code, item in self.items.items():
            wanted = {k: item.fields[k] for k in VERSION_FIELDS if k in item.fields}
            if "specialty" in wanted and not wanted["specialty"]:
                wanted["specialty"] = None
            publish = item.fields.get("status") in ("published", "retired")
            existing = self.current.get(code)
            if existing is None:
                obj = CheckItem(code=code, department_id=item.fields["department_id"])
                if "active" in item.fields:
                    obj.active = item.fields["active"]
                self.session.add(obj)
                self.session.flush()
                version = CheckItemVersion(item_id=obj.id, version=1, status="draft", **wanted)
                self.session.add(version)
                self.session.flush()
                self._write_checkpoints(version, item.checkpoints)
                if publish:
                    self._publish(obj, version, now, actor_id)
                report.created += 1
                report.change(item.row, code, "created")
                continue
            changed = False
            if "active" in item.fields and existing.active != item.fields["active"]:
                existing.active = item.fields["active"]
                changed = True
            latest = self.session.execute(
                select(CheckItemVersion)
                .where(CheckItemVersion.item_id == existing.id)
                .order_by(CheckItemVersion.version.desc())  # type: ignore[attr-defined]
                .limit(1)
            ).scalar_one()
            current_cps = [
                {f: getattr(c, f) for f in CHECKPOINT_FIELDS}
                for c in self.session.execute(
                    select(Checkpoint).where(Checkpoint.item_version_id == latest.id).order_by(Checkpoint.position)
                ).scalars()
            ]
            # The question columns may be left out of a file that only edits item fields.
            cps_given = "question" in self.fields
            content_same = all(getattr(latest, k) == v for k, v in wanted.items() if k != "change_note") and (
                not cps_given or current_cps == item.checkpoints
            )
            if not content_same:
                if latest.status == "draft":
                    target = latest
                    for k, v in wanted.items():
                        setattr(target, k, v)
                else:
                    base = {f: getattr(latest, f) for f in VERSION_FIELDS}
                    base.update(wanted)
                    base.setdefault("change_note", "批量导入")
                    if base["change_note"] == latest.change_note:
                        base["change_note"] = "批量导入"
                    target = CheckItemVersion(item_id=existing.id, version=latest.version + 1, status="draft", **base)
                    self.session.add(target)
                    self.session.flush()
                    if not cps_given:
                        item.checkpoints = current_cps
                if cps_given or target is not latest:
                    self._write_checkpoints(target, item.checkpoints)
                if publish:
                    self._publish(existing, target, now, actor_id)
                changed = True
            elif publish and latest.status == "draft":
                self._publish(existing, latest, now, actor_id)
                changed = True
            if changed:
                report.updated += 1
                report.change(item.row, code, "updated")
            else:
                report.unchanged += 1

    def _write_checkpoints(self, version: CheckItemVersion, checkpoints: list[dict[str, Any]]) -> None:
        for old in self.session.execute(select(Checkpoint).where(Checkpoint.item_version_id == version.id)).scalars():
            self.session.delete(old)
        self.session.flush()
        for pos, cp in enumerate(checkpoints):
            self.session.add(Checkpoint(item_version_id=version.id, position=pos, **cp))
        self.session.flush()

    def _publish(self, item: CheckItem, version: CheckItemVersion, now: Any, actor_id: uuid.UUID | None) -> None:
        for old in self.session.execute(
            select(CheckItemVersion).where(
                CheckItemVersion.item_id == item.id,
                CheckItemVersion.status == "published",
                CheckItemVersion.id != version.id,
            )
        ).scalars():
            old.status = "retired"
        version.status = "published"
        version.published_at = now
        version.published_by = actor_id
        self.session.flush()


def _chunks(values: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


IMPORTERS: dict[str, type[_Importer]] = {
    "enterprises": EnterpriseImporter,
    "inspectors": InspectorImporter,
    "items": ItemImporter,
}
