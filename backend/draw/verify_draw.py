#!/usr/bin/env python3
"""Verifiable 双随机 draw (shuangsui-draw-v3): the server's algorithm and the standalone verifier in one file.

This one file is both what the platform runs and what anyone downloads to check a published draw.
It needs nothing but Python 3.11+ and its standard library; it never touches a database or the network.

    python verify_draw.py record.json population.csv [inspectors.csv] [--notice notice.json]

exits 0 after printing "验证通过 / verification passed", 1 after listing every difference it found,
2 on a usage error.

Algorithm shuangsui-draw-v3 (anchors: RFC 3797 key strings, draft-thomson-elegy-vrs commit-then-HKDF,
ICANN OCTO-041 hash-and-sort)
--------------------------------------------------------------------------------------------------
Population. Rows (uscc, stratum, weight); weight is a decimal string with exactly six places
("1.500000"), 0 < w <= 1000000. Canonical CSV: UTF-8, "\\n" line ends, header ``uscc,stratum,weight``,
rows sorted by stratum, then by uscc (code-point order), no quoting (identifiers cannot contain , ; | "
or control characters). Each stratum is thus one block of consecutive lines.
population_digest = SHA-256 hex of those bytes.

Notice (published before the draw). algorithm, population_digest, population_size, per-stratum sizes
and quotas, normalised parameters, commitment = SHA-256("shuangsui-draw-commit-v1" || secret) for a
32-byte server secret, the entropy sources that will be entered, and optionally matching_digest
(SHA-256 of the canonical JSON of the inspector directory, conflicts and previous pairings), so the
inspector side cannot be edited after the entropy is known. notice_digest = SHA-256(canonical JSON).

Entropy (fixed after the notice). Witness numbers in RFC 3797 key-string form: per source, the
non-negative integers sorted ascending, each written in decimal followed by ".", the source closed by
"/"; sources concatenated in the notice's order. Optionally one named public beacon value (a string).
salt = SHA-256(UTF-8(key_string || beacon)); the number of sources is fixed by the notice and every
source ends with its only "/", so the concatenation is unambiguous.

Seed. HKDF-SHA256 (RFC 5869): ikm = secret, salt as above,
info = "shuangsui-draw-v3|" + population_digest + "|" + canonical JSON of the parameters, L = 32.

Random words. W(domain, label, n) = the first 8n bytes of SHAKE-256(domain || seed || "|" || UTF-8(label))
(FIPS 202; the 32-byte seed makes it a keyed PRF, as in KMAC), read as n big-endian unsigned 64-bit words.

Selection (Efraimidis-Spirakis A-Res, per stratum). The n members of a stratum, in uscc order, get the
words W("shuangsui-draw-v3|target|", stratum, n) in turn: member i gets word x_i; m = x_i >> 12 (its top
52 bits); u = (2m + 1) / 2^53, which lies in (0, 1) and is exact in binary64. key = ln(u) / w; larger is
better. The top ``quota`` keys of each stratum are drawn; equal keys are ordered by uscc ascending.
A stratum's draw depends only on the seed, its name and its own members: enterprises added to or
removed from another stratum change nothing in it. (v1 hashed every uscc with HMAC-SHA256. One SHAKE
stream per stratum keeps what the draw needs: every word is unpredictable until the entropy is in, and
who holds which word is fixed by the notice before the seed exists; it costs a tenth of the work.)

ln is computed by the portable routine ``portable_ln`` below using only IEEE-754 binary64 +, -, *, /
and frexp, all of which are exactly specified, so keys are bit-identical on every conforming platform
(math.log is not: libm implementations may differ in the last bit). For speed the server first ranks
all enterprises with math.log, keeps every enterprise whose fast key is within a relative 3e-9 of the
quota-th fast key (libm errors are below 1e-15), and decides membership and order with portable keys
only. Keys are written as ``format(key, ".16e")``, 17 significant digits, which round-trips exactly.

Quotas. mode "ratio": total = round_half_up(ratio * N), never above floor(max_ratio * N) (the 5 %
cap of the directory unless a 重点领域 plan states its own cap), shared among strata by largest
remainders (Hamilton): floor(total * n_s / N) each, then one more to the strata with the largest
remainders (ties: larger stratum, then stratum name). mode "counts": explicit per-stratum counts.

Weights. Computed by the service from credit flags with ``weight_for`` and the rule in the
parameters (recorded for transparency); the verifier reads them from the population CSV.

Inspector matching. Enterprises in order of their selection key (largest first, ties by uscc); for
each, its departments in sorted order. The candidate pool is the department's inspectors whose
jurisdiction (region codes: a code covers every code that starts with its significant prefix,
e.g. 510800 covers 510802) includes the enterprise's region. The pool, in id order, gets the words
W("shuangsui-draw-v3|inspector|", uscc + "|" + department, pool size) in turn; candidates are ranked by
their word ascending (ties, never seen in practice, by id order), and the first
``inspectors_per_target`` (>= 2) who pass every check form the team and the first of them leads it.
Checks: active; 执法证 valid on the inspection date; the department's required specialty; no 回避
conflict; no previous pairing with the enterprise; open assignments below the workload cap.
Every candidate ranked above the last chosen one and skipped is logged with its reason codes, in the
order listed above (``REASON_LABELS`` names them; ``expand_matching`` spells a record's rejections out in
Chinese). The enterprise's lead department is the parameters' lead_department if it is one of the
enterprise's departments, else its first; the lead of that team leads the inspection. If a pool cannot
fill a team the whole matching fails with InfeasibleMatch; nothing is half done.

Record. Canonical JSON (sorted keys, separators (",", ":"), ensure_ascii=False, UTF-8, no floats):
notice, notice_digest, entropy, secret, seed, selection, matching_input, matching, and
record_digest = SHA-256 of the canonical record without record_digest. Tables are arrays of rows:
  selection   {"total", "strata": [{"stratum", "size", "quota", "selected": [[uscc, weight, key], ...]}]},
              each stratum's rows by key, largest first (ties by uscc);
  matching_input {"inspectors": [inspector objects sorted by id], "conflicts", "previous_pairings",
              "targets": [[uscc, region_code, [department, ...]], ...] in matching order};
  matching    {"targets": [[uscc, [team, ...]], ...]} in the same order, one team per department of the
              target in its order; team = [[i, ...], [[i, rank, [reason code, ...]], ...]]: the chosen
              inspectors, lead first, then the rejected candidates, where i is the inspector's position
              in matching_input.inspectors (0-based) and rank its 1-based place in the pool's ranking.
(v2 wrote the same draw with one object per row and the reasons' text inline: 35.6 MB for a million
enterprises against 8.7 MB now, most of the time spent writing, storing and parsing it.)
The verifier recomputes every field from the record's inputs plus the population CSV and compares byte
for byte.
"""

from __future__ import annotations

import argparse
import array
import bisect
import contextlib
import datetime
import functools
import gc
import hashlib
import heapq
import hmac
import itertools
import json
import math
import operator
import os
import re
import secrets
import struct
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "ALGORITHM",
    "DEFAULT_WEIGHT_RULE",
    "DrawError",
    "InfeasibleMatch",
    "InvalidDrawInput",
    "Population",
    "PopulationRow",
    "build_record",
    "canonical_json",
    "canonical_population",
    "canonical_population_bytes",
    "check_population_csv",
    "commitment_for",
    "compute_quotas",
    "compute_seed",
    "draw_targets",
    "expand_matching",
    "explain_candidate",
    "format_weight",
    "hkdf_sha256",
    "inspectors_csv_bytes",
    "main",
    "make_notice",
    "match_inspectors",
    "matching_digest",
    "new_secret",
    "normalize_parameters",
    "normalize_population",
    "notice_digest",
    "parse_inspectors_csv",
    "parse_population_csv",
    "population_digest",
    "portable_ln",
    "record_bytes",
    "record_digest",
    "rfc3797_key_string",
    "selection_order",
    "team_assignments",
    "verify_record",
    "weight_for",
    "write_population_csv",
]

ALGORITHM = "shuangsui-draw-v3"
TARGET_DOMAIN = b"shuangsui-draw-v3|target|"
INSPECTOR_DOMAIN = b"shuangsui-draw-v3|inspector|"
COMMIT_PREFIX = b"shuangsui-draw-commit-v1"
POPULATION_HEADER = "uscc,stratum,weight"
INSPECTOR_HEADER = "id,department,certificate_valid_until,specialties,region_codes,active,current_load"
WEIGHT_QUANTUM = Decimal("0.000001")
WEIGHT_MAX = Decimal(1_000_000)
DEFAULT_MAX_RATIO = "0.05"
DEFAULT_INSPECTORS_PER_TARGET = 2
#: Relative slack between the fast (libm) keys and the portable keys; libm errors are ~1e-16.
PREFILTER_SLACK = 3e-9

#: Multipliers applied to base weight 1; flagged entities get drawn more often (加大随机抽查比例).
#: Risk classes follow the SAMR 企业信用风险分类 A (低) .. D (高).
DEFAULT_WEIGHT_RULE: dict[str, Any] = {
    "base": "1",
    "abnormal_list": "2",
    "serious_violation": "3",
    "complaint_step": "0.2",
    "complaint_cap": 5,
    "risk_levels": {"A": "1", "B": "1.2", "C": "1.5", "D": "2"},
}

REASON_LABELS = {
    "wrong_department": "部门不符",
    "outside_jurisdiction": "不在辖区",
    "inactive": "已停用",
    "no_certificate": "无执法证",
    "certificate_expired": "执法证过期",
    "lacks_specialty": "缺少专长",
    "conflict": "需回避",
    "previous_pairing": "近期已检查该企业",
    "workload_cap": "工作量已满",
}


# --------------------------------------------------------------------------------------- errors


class DrawError(ValueError):
    """Any refusal of the draw; the message is user-facing Chinese."""


class InvalidDrawInput(DrawError):
    """Malformed population, parameters, entropy, secret or matching input."""


class InfeasibleMatch(DrawError):
    """A team cannot be filled: too few inspectors pass the constraints for one enterprise+department."""

    def __init__(
        self,
        uscc: str,
        department: str,
        missing: str,
        *,
        needed: int = 0,
        eligible: int = 0,
        reasons: Mapping[str, int] | None = None,
    ) -> None:
        self.uscc = uscc
        self.department = department
        self.missing = missing
        self.needed = needed
        self.eligible = eligible
        self.reasons = dict(reasons or {})
        super().__init__(f"无法为企业 {uscc} 的“{department}”检查组匹配执法检查人员：{missing}")


# ------------------------------------------------------------------------------ canonical forms

_TOKEN_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,63}\Z")
_LABEL_RE = re.compile(r'(?!\s)[^\x00-\x1f\x7f,;|"]{1,128}(?<!\s)\Z')
_REGION_RE = re.compile(r"[0-9]{6}(?:[0-9]{3}){0,2}\Z")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_HEX64_RE = re.compile(r"[0-9a-f]{64}\Z")
_CANONICAL_WEIGHT_RE = re.compile(r"(?:0|[1-9][0-9]{0,5})\.[0-9]{6}\Z")
_TOKEN_FIRST = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
#: The bytes a token may hold (ASCII), for bytes.translate(None, delete=...): what is left is not allowed.
_TOKEN_BYTES = "".join(sorted(_TOKEN_FIRST | set("._-"))).encode("ascii")
_DECIMAL_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?\Z")


def canonical_json(obj: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no whitespace, UTF-8, no floats (they are refused)."""
    _refuse_floats(obj, "$")
    return _dumps(obj)


def _dumps(obj: Any) -> bytes:
    # canonical_json without the float walk, for records this module assembled itself or parsed with
    # floats refused: at tens of megabytes the walk costs more than the serialisation. No circular-reference
    # bookkeeping either (a third of the time on a record's nested lists): JSON cannot hold a cycle, these
    # values are built here or parsed from JSON, and a cycle would still fail, with a RecursionError.
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=False
    ).encode("utf-8")


def _refuse_floats(obj: Any, path: str) -> None:
    if isinstance(obj, float):
        raise InvalidDrawInput(f'{path} 是浮点数；请使用十进制字符串（如 "0.05"），以保证跨平台逐字节一致')
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            if not isinstance(key, str):
                raise InvalidDrawInput(f"{path} 的键必须是字符串")
            _refuse_floats(value, f"{path}.{key}")
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            _refuse_floats(value, f"{path}[{i}]")


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _token(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _TOKEN_RE.match(value):
        raise InvalidDrawInput(f"{what}“{value}”无效：只能使用字母、数字及 . _ -，长度 1–64")
    return value


def _label(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _LABEL_RE.match(value):
        raise InvalidDrawInput(f"{what}“{value}”无效：不能为空，不能含逗号、分号、竖线、引号或控制字符，首尾不能有空白")
    return value


def _region(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _REGION_RE.match(value):
        raise InvalidDrawInput(f"{what}“{value}”不是行政区划代码（6、9 或 12 位数字）")
    return value


def _iso_date(value: Any, what: str) -> str:
    if isinstance(value, datetime.datetime):
        value = value.date()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, str) and _DATE_RE.match(value):
        try:
            datetime.date.fromisoformat(value)
        except ValueError:
            pass
        else:
            return value
    raise InvalidDrawInput(f"{what}“{value}”不是有效日期（YYYY-MM-DD）")


def _int(value: Any, what: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidDrawInput(f"{what}必须是不小于 {minimum} 的整数，收到“{value}”")
    return value


def _decimal(value: Any, what: str) -> Decimal:
    if isinstance(value, bool):
        raise InvalidDrawInput(f"{what}“{value}”不是十进制数")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str) and _DECIMAL_RE.match(value):
        result = Decimal(value)
    else:
        raise InvalidDrawInput(f'{what}“{value}”不是十进制数（请用字符串，如 "0.05"）')
    if not result.is_finite():
        raise InvalidDrawInput(f"{what}“{value}”不是有限数")
    return result


def _decimal_text(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def format_weight(value: str | int | Decimal) -> str:
    """The canonical six-place weight string; refuses values needing more than six places."""
    try:
        number = _decimal(value, "权重")
    except InvalidOperation as exc:  # pragma: no cover - _DECIMAL_RE guards Decimal()
        raise InvalidDrawInput(f"权重“{value}”不是十进制数") from exc
    if number <= 0 or number > WEIGHT_MAX:
        raise InvalidDrawInput(f"权重“{value}”必须大于 0 且不超过 {WEIGHT_MAX}")
    quantized = number.quantize(WEIGHT_QUANTUM)
    if quantized != number:
        raise InvalidDrawInput(f"权重“{value}”最多保留 6 位小数")
    return format(quantized, "f")


# ----------------------------------------------------------------------------------- population


class PopulationRow(NamedTuple):
    """One input row; any 3-tuple or a dict with these keys is accepted too."""

    uscc: str
    stratum: str
    weight: str


Row = tuple[str, str, str]


class Population:
    """A validated population in canonical order: its strata by name (code-point order), each stratum's
    members by uscc. Held as columns: ``strata`` maps each stratum name, in order, to its (usccs, weights)
    lists. Iterating yields (uscc, stratum, weight) rows in canonical order; ``normalize_population`` and
    ``parse_population_csv`` make one. Keeps its canonical CSV bytes once known (the notice digests them and
    stores them as the snapshot; a canonical file that was parsed is its own canonical form).
    """

    __slots__ = ("_strata", "size", "_canonical", "_text", "_blocks")

    def __init__(self, strata: dict[str, tuple[list[str], list[str]]], canonical: bytes | None = None) -> None:
        self._strata: dict[str, tuple[list[str], list[str]]] | None = strata
        self.size = sum(len(usccs) for usccs, _ in strata.values())
        self._canonical = canonical
        self._text = ""
        self._blocks: list[tuple[str, int, int, int]] = []

    @classmethod
    def _of_blocks(cls, text: str, blocks: list[tuple[str, int, int, int]], canonical: bytes) -> Population:
        """A population still held as the text of its canonical CSV, cut into strata only when asked:
        ``blocks`` gives each stratum's (name, start, end, size) in ``text``."""
        population = cls({}, canonical)
        population._strata, population._text, population._blocks = None, text, blocks
        population.size = sum(block[3] for block in blocks)
        return population

    @property
    def strata(self) -> dict[str, tuple[list[str], list[str]]]:
        if self._strata is None:
            with _gc_paused():
                self._strata = {block[0]: self._columns(block) for block in self._blocks}
        return self._strata

    def _columns(self, block: tuple[str, int, int, int]) -> tuple[list[str], list[str]]:
        """(usccs, weights) of one stratum: its field cut out of every line, leaving the two alternating."""
        stratum, start, end, size = block
        if self._strata is not None:
            return self._strata[stratum]
        fields = self._text[start : end - 1].replace(f",{stratum},", "\n").split("\n")
        usccs = fields[0::2]
        if len(fields) != 2 * size or any(map(operator.ge, usccs, usccs[1:])):
            raise InvalidDrawInput(f"名录快照中分层“{stratum}”的行不是规范形式（应按统一社会信用代码升序、每行三列）")
        return usccs, fields[1::2]

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[Row]:
        for stratum, (usccs, weights) in self.strata.items():
            yield from zip(usccs, itertools.repeat(stratum), weights)

    def sizes(self) -> dict[str, int]:
        if self._strata is None:
            return {block[0]: block[3] for block in self._blocks}
        return {stratum: len(usccs) for stratum, (usccs, _) in self._strata.items()}


def _row_fields(row: Any) -> tuple[Any, Any, Any]:
    if isinstance(row, Mapping):
        return row.get("uscc"), row.get("stratum"), row.get("weight")
    if isinstance(row, (tuple, list)) and len(row) == 3:
        return row[0], row[1], row[2]
    raise InvalidDrawInput(f"名录行格式无效：{row!r}（应为 uscc, stratum, weight）")


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    # Building a million acyclic tuples triggers repeated full collections that find nothing;
    # pausing the cyclic collector halves the time of parsing and validation.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _validated_columns(rows: Iterable[Any]) -> tuple[list[str], list[str], list[str]]:
    rows = list(rows)
    if not set(map(type, rows)) <= {tuple, list, PopulationRow} or set(map(len, rows)) - {3}:
        rows = [_row_fields(row) for row in rows]
    return _checked_columns([row[0] for row in rows], [row[1] for row in rows], [row[2] for row in rows])


def _checked_columns(usccs: list[Any], strata: list[Any], weights: list[Any]) -> tuple[list[str], list[str], list[str]]:
    # Column-wise: bulk checks in C over a million rows, per-row Python only to name an offender.
    if set(map(type, usccs)) - {str}:
        for uscc in usccs:
            _token(uscc, "统一社会信用代码")
    # The token rule in bulk: allowed characters only, 1 to 64 of them, the first a letter or digit.
    joined = "".join(usccs).encode("utf-8")
    if (
        joined.translate(None, _TOKEN_BYTES)
        or (usccs and (min(map(len, usccs)) < 1 or max(map(len, usccs)) > 64))
        or not set(map(operator.itemgetter(0), filter(None, usccs))) <= _TOKEN_FIRST
    ):
        for uscc in usccs:
            _token(uscc, "统一社会信用代码")
    if len(frozenset(usccs)) != len(usccs):
        duplicates = sorted(u for u, n in Counter(usccs).items() if n > 1)
        raise InvalidDrawInput(f"名录中统一社会信用代码重复：{'、'.join(duplicates[:10])}")
    if set(map(type, strata)) - {str}:
        for stratum in strata:
            _label(stratum, "分层")
    for stratum in set(strata):
        _label(stratum, "分层")
    if not set(map(type, weights)) - {str}:
        canonical = {
            w: w if _CANONICAL_WEIGHT_RE.match(w) and w != "0.000000" else format_weight(w) for w in set(weights)
        }
        if any(k != v for k, v in canonical.items()):
            weights = [canonical[w] for w in weights]
    else:
        cache: dict[tuple[type, Any], str] = {}
        out = []
        for w in weights:
            key = (type(w), w)
            if key not in cache:
                cache[key] = format_weight(w)
            out.append(cache[key])
        weights = out
    return usccs, strata, weights


def normalize_population(rows: Iterable[Any]) -> Population:
    """Validate rows (tuples, PopulationRow or dicts) and put them in canonical order."""
    if isinstance(rows, Population):
        return rows
    with _gc_paused():
        return _population_of(*_validated_columns(rows))


def _runs(strata: list[str]) -> list[tuple[str, int]] | None:
    """(name, length) of each run of equal names if the column is grouped in name order, else None."""
    runs = [(name, len(list(group))) for name, group in itertools.groupby(strata)]
    names = [name for name, _ in runs]
    return runs if all(map(operator.lt, names, names[1:])) else None


def _population_of(
    usccs: list[str], strata: list[str], weights: list[str], canonical: bytes | None = None
) -> Population:
    """Validated columns into a Population (the caller pauses the collector). Rows already in canonical
    order (a canonical CSV, a database ORDER BY stratum, uscc) are cut into strata without a pass in Python.
    ``canonical``: the bytes the columns were split from, kept as the canonical form if no row moved."""
    groups: dict[str, tuple[list[str], list[str]]] = {}
    runs = _runs(strata)
    if runs is not None:
        start = 0
        for name, length in runs:
            groups[name] = (usccs[start : start + length], weights[start : start + length])
            start += length
    else:
        canonical = None
        for name in sorted(set(strata)):
            groups[name] = ([], [])
        for uscc, name, weight in zip(usccs, strata, weights, strict=True):
            group = groups[name]
            group[0].append(uscc)
            group[1].append(weight)
    for name, (members, member_weights) in groups.items():
        if any(map(operator.ge, members, members[1:])):
            canonical = None
            pairs = sorted(zip(members, member_weights, strict=True))
            groups[name] = ([u for u, _ in pairs], [w for _, w in pairs])
    return Population(groups, canonical)


def canonical_population_bytes(rows: Iterable[Any]) -> bytes:
    population = normalize_population(rows)
    if population._canonical is None:
        lines = [POPULATION_HEADER]
        for stratum, (usccs, weights) in population.strata.items():
            lines.append("\n".join(map(",".join, zip(usccs, itertools.repeat(stratum), weights))))
        population._canonical = ("\n".join(lines) + "\n").encode()
    return population._canonical


def population_digest(rows: Iterable[Any]) -> str:
    return _sha256_hex(canonical_population_bytes(rows))


_population_digest = population_digest  # for build_record, whose keyword argument shadows the name


def _decode_text(data: bytes | str, what: str) -> str:
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidDrawInput(f"{what}不是 UTF-8 编码：{exc}") from exc
    else:
        text = data
    return text.removeprefix("\ufeff")


def _csv_lines(text: str) -> list[str]:
    # Split on "\n" only: str.splitlines() would also split on U+2028 and friends.
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


#: Every byte but the comma and the line feed, for bytes.translate(None, delete=...).
_NOT_SEPARATORS = bytes(b for b in range(256) if b not in b",\n")


def canonical_population(data: bytes) -> Population:
    """A Population from canonical CSV bytes this code wrote and validated before (a stored snapshot whose
    digest the caller has just checked), cut into columns only when they are needed (draw_targets cuts
    each stratum in the process that draws it), not validated again. Bytes that are not laid out as a
    canonical file go through ``parse_population_csv``; a stratum whose members turn out not to be in
    order raises InvalidDrawInput when it is cut."""
    text = data.decode("utf-8")
    blocks = _canonical_blocks(data, text)
    if blocks is None:
        return parse_population_csv(data)
    return Population._of_blocks(text, blocks, data)


def _canonical_blocks(data: bytes, text: str) -> list[tuple[str, int, int, int]] | None:
    """Each stratum's block of lines (see _stratum_blocks) in a file laid out as a canonical CSV: the
    header, LF line ends, two commas on every line, lines grouped by stratum in name order; else None.
    ``data`` is the UTF-8 of ``text`` (commas and line feeds are single bytes in both)."""
    body = text.find("\n") + 1  # offsets into the text: no copy of tens of megabytes
    if text[: body - 1] != POPULATION_HEADER or not text.endswith("\n") or "\r" in text:
        return None
    blocks = _stratum_blocks(text, body)
    # Two commas on every line (the header's too): the separators alone, in order, read ",,\n" per line.
    # With that, a block whose lines give two fields each once its stratum's field is cut (_columns) has
    # that stratum on every line.
    lines = sum(block[3] for block in blocks or ())
    if blocks is None or data.translate(None, _NOT_SEPARATORS) != b",,\n" * (lines + 1):
        return None
    return blocks


def _validated_blocks(data: bytes, text: str) -> Population | None:
    """The population of a file that is its own canonical form (every file we publish), validated a
    stratum at a time in bulk; None if anything in it is not canonical, and parse_population_csv then
    takes the general path, which re-sorts what it may and names what is wrong."""
    blocks = _canonical_blocks(data, text)
    if blocks is None:
        return None
    cut = Population._of_blocks(text, blocks, data)
    strata: dict[str, tuple[list[str], list[str]]] = {}
    seen: set[str] = set()
    for block in blocks:
        if not _LABEL_RE.match(block[0]):
            return None
        try:
            usccs, weights = cut._columns(block)  # every line three fields, usccs strictly ascending
        except InvalidDrawInput:
            return None
        lengths = set(map(len, usccs))
        # A token's first character is a letter or a digit, not "-", "." or "_": in the ascending usccs,
        # "-" and "." would come first and "_" just after the capitals.
        underscore = bisect.bisect_left(usccs, "_")
        if (
            "".join(usccs).encode("utf-8").translate(None, _TOKEN_BYTES)  # the token characters only
            or min(lengths) < 1
            or max(lengths) > 64
            or usccs[0] < "0"
            or (underscore < len(usccs) and usccs[underscore].startswith("_"))
            or not all(_CANONICAL_WEIGHT_RE.match(w) and w != "0.000000" for w in set(weights))
        ):
            return None
        seen.update(usccs)
        strata[block[0]] = (usccs, weights)
    return Population(strata, data) if len(seen) == cut.size else None


def _stratum_blocks(text: str, start: int) -> list[tuple[str, int, int, int]] | None:
    """(stratum, start, end, lines) of each block of lines of one stratum in ``text`` from ``start``, found
    by bisection (lines grouped by stratum, the strata in name order); None if they are not."""
    blocks: list[tuple[str, int, int, int]] = []
    size = len(text)
    while start < size:
        fields = text[start : text.index("\n", start)].split(",")
        if len(fields) != 3 or (blocks and blocks[-1][0] >= fields[1]):
            return None
        stratum = fields[1]
        marker = f",{stratum},"  # on a line with two commas, only where the middle field is the stratum
        # Offsets before lo are on lines of this stratum, offsets from hi on lines after them.
        lo, hi = start, size
        while lo < hi:
            mid = (lo + hi) // 2
            line_start, line_end = text.rfind("\n", 0, mid) + 1, text.index("\n", mid)
            if text.find(marker, line_start, line_end) >= 0:
                lo = line_end + 1
            else:
                hi = line_start
        blocks.append((stratum, start, lo, text.count("\n", start, lo)))
        start = lo
    return blocks


def parse_population_csv(data: bytes | str) -> Population:
    """Parse a population CSV (canonical or not: order, CRLF, BOM and short weights are tolerated)."""
    text = _decode_text(data, "名录 CSV ")
    if not (isinstance(data, bytes) and data.startswith(b"\xef\xbb\xbf")):
        with _gc_paused():
            population = _validated_blocks(data if isinstance(data, bytes) else text.encode(), text)
        if population is not None:
            return population
    lines = _csv_lines(text)
    if not lines or lines[0] != POPULATION_HEADER:
        raise InvalidDrawInput(f"名录 CSV 表头应为“{POPULATION_HEADER}”")
    with _gc_paused():
        rows = [tuple(line.split(",")) for line in lines[1:]]
    if set(map(len, rows)) - {3}:
        number = next(i for i, parts in enumerate(rows, start=2) if len(parts) != 3)
        raise InvalidDrawInput(f"名录 CSV 第 {number} 行应有 3 列：{lines[number - 1]!r}")
    try:
        return normalize_population(rows)
    except InvalidDrawInput as exc:
        raise InvalidDrawInput(f"名录 CSV：{exc}") from exc


def write_population_csv(rows: Iterable[Any], path: str | Path) -> str:
    """Write the canonical CSV to ``path``; returns its digest."""
    data = canonical_population_bytes(rows)
    Path(path).write_bytes(data)
    return _sha256_hex(data)


# --------------------------------------------------------------------------------------- weights


def _normalize_weight_rule(rule: Any) -> dict[str, Any]:
    if rule is None:
        rule = DEFAULT_WEIGHT_RULE
    if not isinstance(rule, Mapping):
        raise InvalidDrawInput("weight_rule 必须是对象")
    unknown = set(rule) - set(DEFAULT_WEIGHT_RULE)
    if unknown:
        raise InvalidDrawInput(f"weight_rule 含未知字段：{', '.join(sorted(unknown))}")
    merged = {**DEFAULT_WEIGHT_RULE, **rule}
    out: dict[str, Any] = {}
    for key in ("base", "abnormal_list", "serious_violation", "complaint_step"):
        number = _decimal(merged[key], f"weight_rule.{key}")
        if number < 0 or (key != "complaint_step" and number == 0):
            raise InvalidDrawInput(f"weight_rule.{key} 必须为正数")
        out[key] = _decimal_text(number)
    out["complaint_cap"] = _int(merged["complaint_cap"], "weight_rule.complaint_cap")
    levels = merged["risk_levels"]
    if not isinstance(levels, Mapping) or not levels:
        raise InvalidDrawInput("weight_rule.risk_levels 必须是非空对象")
    out["risk_levels"] = {}
    for level, factor in levels.items():
        number = _decimal(factor, f"weight_rule.risk_levels.{level}")
        if number <= 0:
            raise InvalidDrawInput(f"weight_rule.risk_levels.{level} 必须为正数")
        out["risk_levels"][_label(level, "风险等级")] = _decimal_text(number)
    return out


def weight_for(
    *,
    abnormal_list: bool = False,
    serious_violation: bool = False,
    complaints: int = 0,
    risk_level: str | None = None,
    rule: Mapping[str, Any] | None = None,
) -> str:
    """Draw weight from credit flags: base x flags x risk factor x (1 + step x min(complaints, cap))."""
    norm = _normalize_weight_rule(rule)
    complaints = _int(complaints, "投诉举报数")
    with localcontext() as ctx:
        ctx.prec = 50
        weight = Decimal(norm["base"])
        if abnormal_list:
            weight *= Decimal(norm["abnormal_list"])
        if serious_violation:
            weight *= Decimal(norm["serious_violation"])
        if risk_level is not None:
            if risk_level not in norm["risk_levels"]:
                raise InvalidDrawInput(f"未知风险等级“{risk_level}”，可选：{'、'.join(norm['risk_levels'])}")
            weight *= Decimal(norm["risk_levels"][risk_level])
        weight *= 1 + Decimal(norm["complaint_step"]) * min(complaints, norm["complaint_cap"])
        weight = weight.quantize(WEIGHT_QUANTUM, rounding=ROUND_HALF_EVEN)
    weight = min(max(weight, WEIGHT_QUANTUM), WEIGHT_MAX)
    return format(weight.quantize(WEIGHT_QUANTUM), "f")


# ------------------------------------------------------------------------------------ parameters

_PARAMETER_KEYS = {
    "mode",
    "ratio",
    "counts",
    "max_ratio",
    "weight_rule",
    "inspectors_per_target",
    "workload_cap",
    "inspection_date",
    "required_specialties",
    "lead_department",
    "departments",
}


def normalize_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and fill defaults; the result is what the notice publishes and HKDF binds."""
    if not isinstance(parameters, Mapping):
        raise InvalidDrawInput("parameters 必须是对象")
    unknown = set(parameters) - _PARAMETER_KEYS
    if unknown:
        raise InvalidDrawInput(f"parameters 含未知字段：{', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    mode = parameters.get("mode", "ratio")
    if mode not in ("ratio", "counts"):
        raise InvalidDrawInput("parameters.mode 只能是 ratio（按比例）或 counts（按数量）")
    out["mode"] = mode
    max_ratio = _decimal(parameters.get("max_ratio", DEFAULT_MAX_RATIO), "抽查比例上限 max_ratio")
    if not 0 < max_ratio <= 1:
        raise InvalidDrawInput("抽查比例上限 max_ratio 必须在 (0, 1] 之间")
    out["max_ratio"] = _decimal_text(max_ratio)
    if mode == "ratio":
        if "counts" in parameters:
            raise InvalidDrawInput("按比例抽取时不能同时给出 counts")
        ratio = _decimal(parameters.get("ratio"), "抽查比例 ratio")
        if not 0 < ratio <= 1:
            raise InvalidDrawInput("抽查比例 ratio 必须在 (0, 1] 之间")
        if ratio > max_ratio:
            raise InvalidDrawInput(
                f"抽查比例 {_decimal_text(ratio)} 超过上限 {_decimal_text(max_ratio)}"
                "（不超过检查对象名录库总数的 5%，重点领域须在计划中明确上限）"
            )
        out["ratio"] = _decimal_text(ratio)
    else:
        if "ratio" in parameters:
            raise InvalidDrawInput("按数量抽取时不能同时给出 ratio")
        counts = parameters.get("counts")
        if not isinstance(counts, Mapping) or not counts:
            raise InvalidDrawInput("按数量抽取时 counts 必须是非空对象 {分层: 数量}")
        out["counts"] = {_label(s, "分层"): _int(n, f"分层“{s}”的抽取数量") for s, n in counts.items()}
    out["weight_rule"] = _normalize_weight_rule(parameters.get("weight_rule"))
    per_target = parameters.get("inspectors_per_target", DEFAULT_INSPECTORS_PER_TARGET)
    if isinstance(per_target, bool) or not isinstance(per_target, int) or per_target < 2:
        raise InvalidDrawInput("每户检查对象至少需要 2 名执法检查人员（inspectors_per_target ≥ 2）")
    out["inspectors_per_target"] = per_target
    cap = parameters.get("workload_cap")
    out["workload_cap"] = None if cap is None else _int(cap, "工作量上限 workload_cap", minimum=1)
    date = parameters.get("inspection_date")
    out["inspection_date"] = None if date is None else _iso_date(date, "检查日期 inspection_date")
    specialties = parameters.get("required_specialties") or {}
    if not isinstance(specialties, Mapping):
        raise InvalidDrawInput("required_specialties 必须是对象 {部门: 专长}")
    out["required_specialties"] = {
        _label(d, "部门"): _label(s, "专长") for d, s in specialties.items() if s is not None
    }
    lead = parameters.get("lead_department")
    out["lead_department"] = None if lead is None else _label(lead, "牵头部门")
    departments = parameters.get("departments") or []
    if not isinstance(departments, (list, tuple)):
        raise InvalidDrawInput("departments 必须是部门列表")
    out["departments"] = sorted({_label(d, "部门") for d in departments})
    _refuse_floats(out, "parameters")
    return out


def compute_quotas(*, strata_sizes: Mapping[str, int], parameters: Mapping[str, Any]) -> dict[str, int]:
    """Per-stratum quotas; ratio mode uses largest remainders so they add up to the capped total."""
    params = normalize_parameters(parameters)
    total_size = sum(strata_sizes.values())
    if total_size <= 0:
        raise InvalidDrawInput("检查对象名录为空，无法抽取")
    cap = int((Decimal(params["max_ratio"]) * total_size).to_integral_value(rounding=ROUND_FLOOR))
    quotas: dict[str, int] = {}
    if params["mode"] == "ratio":
        wanted = int((Decimal(params["ratio"]) * total_size).to_integral_value(rounding=ROUND_HALF_UP))
        total = min(wanted, cap)
        remainders = []
        for stratum, size in strata_sizes.items():
            quotas[stratum], remainder = divmod(total * size, total_size)
            remainders.append((-remainder, -size, stratum))
        remainders.sort()
        for _, _, stratum in remainders[: total - sum(quotas.values())]:
            quotas[stratum] += 1
    else:
        for stratum, count in params["counts"].items():
            if count and stratum not in strata_sizes:
                raise InvalidDrawInput(f"分层“{stratum}”在名录中没有检查对象")
            if stratum in strata_sizes and count > strata_sizes[stratum]:
                raise InvalidDrawInput(f"分层“{stratum}”只有 {strata_sizes[stratum]} 户，不能抽取 {count} 户")
        quotas = {s: params["counts"].get(s, 0) for s in strata_sizes}
        if sum(quotas.values()) > cap:
            raise InvalidDrawInput(
                f"抽取总数 {sum(quotas.values())} 超过上限 {cap}"
                f"（名录 {total_size} 户 × 上限比例 {params['max_ratio']}）"
            )
    return dict(sorted(quotas.items()))


# --------------------------------------------------------------------------- secret, entropy, seed


def new_secret() -> str:
    """32 random bytes, hex; kept by the server until the draw and then published in the record."""
    return secrets.token_hex(32)


def _secret_bytes(secret_hex: Any) -> bytes:
    if not isinstance(secret_hex, str) or not _HEX64_RE.match(secret_hex):
        raise InvalidDrawInput("秘密值 secret 必须是 64 位小写十六进制（32 字节）")
    return bytes.fromhex(secret_hex)


def commitment_for(secret_hex: str) -> str:
    return _sha256_hex(COMMIT_PREFIX + _secret_bytes(secret_hex))


def hkdf_sha256(*, ikm: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF-SHA256 (RFC 5869): extract then expand."""
    if not 0 < length <= 255 * 32:
        raise ValueError("HKDF length out of range")
    prk = hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


def rfc3797_key_string(sources: Sequence[Sequence[int]]) -> str:
    """RFC 3797 key string: per source sorted numbers each followed by ".", then "/"."""
    parts = []
    for index, numbers in enumerate(sources):
        if isinstance(numbers, (str, bytes)) or not numbers:
            raise InvalidDrawInput(f"第 {index + 1} 个见证号码来源没有号码")
        for n in numbers:
            _int(n, "见证号码")
        parts.append("".join(f"{n}." for n in sorted(numbers)) + "/")
    return "".join(parts)


def _seed_info(population_digest_hex: str, parameters: Mapping[str, Any]) -> bytes:
    return f"{ALGORITHM}|{population_digest_hex}|".encode() + canonical_json(normalize_parameters(parameters))


def compute_seed(
    *,
    secret_hex: str,
    witness_numbers: Sequence[Sequence[int]] = (),
    beacon: str = "",
    population_digest: str,
    parameters: Mapping[str, Any],
) -> bytes:
    """HKDF-SHA256(ikm=secret, salt=SHA-256(key_string || beacon), info=algorithm|digest|params)."""
    key_string = rfc3797_key_string(witness_numbers)
    if not isinstance(beacon, str):
        raise InvalidDrawInput("信标值 beacon 必须是字符串")
    if not key_string and not beacon:
        raise InvalidDrawInput("公告后必须录入见证号码或公共信标值，否则种子完全由服务器决定")
    if not isinstance(population_digest, str) or not _HEX64_RE.match(population_digest):
        raise InvalidDrawInput("population_digest 必须是 64 位十六进制")
    salt = hashlib.sha256((key_string + beacon).encode("utf-8")).digest()
    return hkdf_sha256(ikm=_secret_bytes(secret_hex), salt=salt, info=_seed_info(population_digest, parameters))


def _normalize_entropy_sources(sources: Any) -> list[dict[str, Any]]:
    if not isinstance(sources, (list, tuple)) or not sources:
        raise InvalidDrawInput("entropy_sources 必须至少声明一个熵来源（见证号码或公共信标）")
    out = []
    names: set[str] = set()
    beacons = 0
    for source in sources:
        if not isinstance(source, Mapping):
            raise InvalidDrawInput("entropy_sources 的每一项必须是对象")
        unknown = set(source) - {"name", "kind", "description", "count"}
        if unknown:
            raise InvalidDrawInput(f"熵来源含未知字段：{', '.join(sorted(unknown))}")
        name = _label(source.get("name"), "熵来源名称")
        if name in names:
            raise InvalidDrawInput(f"熵来源名称“{name}”重复")
        names.add(name)
        kind = source.get("kind")
        if kind not in ("numbers", "beacon"):
            raise InvalidDrawInput(f"熵来源“{name}”的 kind 只能是 numbers（见证号码）或 beacon（公共信标）")
        description = source.get("description", "")
        if not isinstance(description, str):
            raise InvalidDrawInput(f"熵来源“{name}”的说明必须是字符串")
        entry: dict[str, Any] = {"name": name, "kind": kind, "description": description}
        if kind == "numbers":
            count = source.get("count")
            entry["count"] = None if count is None else _int(count, f"熵来源“{name}”的号码个数", minimum=1)
        else:
            beacons += 1
            if "count" in source:
                raise InvalidDrawInput("公共信标来源没有号码个数")
        out.append(entry)
    if beacons > 1:
        raise InvalidDrawInput("最多声明一个公共信标来源")
    return out


def _entropy_record(
    sources: Sequence[Mapping[str, Any]],
    witness_numbers: Mapping[str, Sequence[int]] | None,
    beacon: str | None,
) -> dict[str, Any]:
    witness_numbers = dict(witness_numbers or {})
    declared = [s["name"] for s in sources if s["kind"] == "numbers"]
    extra = set(witness_numbers) - set(declared)
    if extra:
        raise InvalidDrawInput(f"录入了公告未声明的见证号码来源：{'、'.join(sorted(extra))}")
    entries: list[dict[str, Any]] = []
    number_lists: list[list[int]] = []
    beacon_value = ""
    for source in sources:
        if source["kind"] == "numbers":
            numbers = witness_numbers.get(source["name"])
            if numbers is None or isinstance(numbers, (str, bytes)) or not list(numbers):
                raise InvalidDrawInput(f"见证号码来源“{source['name']}”尚未录入号码")
            numbers = sorted(_int(n, f"“{source['name']}”的见证号码") for n in numbers)
            if source.get("count") is not None and len(numbers) != source["count"]:
                raise InvalidDrawInput(
                    f"见证号码来源“{source['name']}”应录入 {source['count']} 个号码，实际 {len(numbers)} 个"
                )
            number_lists.append(numbers)
            entries.append({"name": source["name"], "kind": "numbers", "numbers": numbers})
        else:
            if not isinstance(beacon, str) or not beacon:
                raise InvalidDrawInput(f"公共信标“{source['name']}”尚未录入取值")
            beacon_value = beacon
            entries.append({"name": source["name"], "kind": "beacon", "value": beacon})
    if beacon and not any(s["kind"] == "beacon" for s in sources):
        raise InvalidDrawInput("公告未声明公共信标来源，不能录入信标值")
    key_string = rfc3797_key_string(number_lists)
    salt = hashlib.sha256((key_string + beacon_value).encode("utf-8")).hexdigest()
    return {"sources": entries, "key_string": key_string, "beacon": beacon_value, "salt": salt}


# ------------------------------------------------------------------------------------- selection

_TWO_M53 = 2.0**-53
_SQRT_HALF = 0.7071067811865476
_LN2_HI = float.fromhex("0x1.62e42fee00000p-1")  # 32 significant bits: e * _LN2_HI is exact
_LN2_LO = float.fromhex("0x1.a39ef35793c76p-33")
_ATANH_COEFFS = tuple(1.0 / (2 * j + 1) for j in range(12))


def portable_ln(odd: int) -> float:
    """ln(odd / 2^53) for an odd integer 0 < odd < 2^53, bit-identical on every IEEE-754 platform.

    Uses only exactly-rounded binary64 operations: frexp, then ln(f) = 2 atanh((f-1)/(f+1)) on
    f in [sqrt(1/2), sqrt(2)) by a fixed Horner polynomial (coefficients 1/(2j+1), j = 0..11, highest
    first), plus e*ln2 split in two parts. |error| is a few ulp; what matters is that it is the same
    everywhere.
    """
    f, e = math.frexp(float(odd))
    if f < _SQRT_HALF:
        f *= 2.0
        e -= 1
    e -= 53
    s = (f - 1.0) / (f + 1.0)
    z = s * s
    c = _ATANH_COEFFS
    p = ((((c[11] * z + c[10]) * z + c[9]) * z + c[8]) * z + c[7]) * z + c[6]
    p = (((((p * z + c[5]) * z + c[4]) * z + c[3]) * z + c[2]) * z + c[1]) * z + c[0]
    return e * _LN2_HI + (e * _LN2_LO + 2.0 * s * p)


def _seed_bytes(seed: Any) -> bytes:
    if not isinstance(seed, bytes) or len(seed) != 32:
        raise InvalidDrawInput("种子 seed 必须是 32 字节")
    return seed


def _format_key(key: float) -> str:
    return format(key, ".16e")


def _stream(domain: bytes, seed: bytes, label: str, words: int) -> bytes:
    """``words`` 64-bit words of SHAKE-256(domain || seed || "|" || label): the keyed random stream."""
    return hashlib.shake_256(domain + seed + b"|" + label.encode("utf-8")).digest(8 * words)


def _words(data: bytes) -> Sequence[int]:
    """The big-endian unsigned 64-bit words of ``data``, converted in bulk (same values on every platform)."""
    words = array.array("Q")
    if words.itemsize != 8:  # pragma: no cover - no mainstream platform
        return [int.from_bytes(data[i : i + 8], "big") for i in range(0, len(data), 8)]
    words.frombytes(data)
    if sys.byteorder == "little":
        words.byteswap()
    return words


@functools.lru_cache(maxsize=256)
def _word_slices(count: int) -> tuple[slice, ...]:
    return tuple(slice(i, i + 8) for i in range(0, 8 * count, 8))


def stratum_odds(seed: bytes, stratum: str, size: int) -> list[int]:
    """2m + 1 for each of the ``size`` enterprises of a stratum in uscc order (m = top 52 bits of its word)."""
    return [(word >> 11) | 1 for word in _words(_stream(TARGET_DOMAIN, _seed_bytes(seed), stratum, size))]


def _fast_keys(words: Iterable[int], weights: Iterable[float]) -> list[float]:
    """The libm key log(2^-53 * ((word >> 11) | 1)) / weight of each (word, weight), computed in C."""
    odds = map(operator.or_, map(operator.rshift, words, itertools.repeat(11)), itertools.repeat(1))
    return list(map(operator.truediv, map(math.log, map(_TWO_M53.__mul__, odds)), weights))


def _full_shortlist(
    words: Sequence[int], weight_texts: Sequence[str], weight_floats: Mapping[str, float], quota: int
) -> list[int]:
    """Everyone whose libm key is within a relative PREFILTER_SLACK of the quota-th libm key (keys are
    negative, so scaling the bar by 1 + slack lowers it): the members the portable keys must decide."""
    fast = _fast_keys(words, map(weight_floats.__getitem__, weight_texts))
    bar = heapq.nlargest(quota, fast)[-1] * (1.0 + PREFILTER_SLACK)
    return list(itertools.compress(range(len(fast)), map(bar.__le__, fast)))


def _shortlist(
    stream: bytes, words: Sequence[int], weight_texts: Sequence[str], weight_floats: Mapping[str, float], quota: int
) -> list[int] | None:
    """What _full_shortlist returns, without a libm key per member, or None (then use _full_shortlist).

    A bar ``low`` is put where the expected number of keys at least it is quota + 4 sd + 3 (a key is at
    least x with probability 1 - exp(x * weight), so the bar follows from the weight classes alone). It
    becomes one threshold on the raw words per weight class (a key is increasing in its word); the
    members above them get libm keys, and the result is accepted only when it provably equals
    _full_shortlist's. Speed only: the bar decides nothing, a bad one only makes this decline.
    """
    size, texts = len(words), list(weight_floats)
    target = quota + 4.0 * math.sqrt(quota) + 3.0
    if target >= size or len(texts) > 256:
        return None
    # Each member's weight class as one byte, counted per class by bytes.count.
    codes = bytes(map({text: code for code, text in enumerate(texts)}.__getitem__, weight_texts))
    weights = [weight_floats[text] for text in texts]
    classes = [(w, codes.count(code)) for code, w in enumerate(weights)]
    # E(x) = sum n (1 - exp(x w)) is decreasing and concave; from x = -target / sum(n w), where the tangent at
    # 0 says E(x) <= target, Newton's steps approach the root from above without overshooting it.
    low = -target / sum(w * n for w, n in classes)
    for _ in range(4):
        expected = sum(-n * math.expm1(low * w) for w, n in classes)
        low += (expected - target) / sum(n * w * math.exp(low * w) for w, n in classes)
    if not -math.inf < low < 0.0:
        return None
    # key >= low  =>  u >= exp(low * w)  =>  word >= (exp(low * w) - 2^-53) * 2^64, since u is at most
    # word / 2^64 + 2^-53. The thresholds are lower still (1e-9 relative on the exponent, 2^-50 absolute,
    # against errors of a few 2^-53) so that no rounding of log, exp or the subtraction can exclude anyone.
    thresholds = [max(0, int((math.exp(low * w * (1 + 1e-9)) - 2.0**-50) * 2.0**64)) for w in weights]
    # A word can pass only if its first byte reaches its class threshold's. All members are compared at once
    # in 16-bit lanes of two big integers: lane 0x100 + first byte minus lane threshold byte never borrows,
    # and its high byte is 1 exactly when the first byte is at least the threshold's.
    lanes, needs = bytearray(b"\x01" * (2 * size)), bytearray(2 * size)
    lanes[1::2] = stream[0::8]
    needs[1::2] = codes.translate(bytes(t >> 56 for t in thresholds).ljust(256, b"\xff"))
    reached = (int.from_bytes(lanes, "big") - int.from_bytes(needs, "big")).to_bytes(2 * size, "big")[0::2]
    candidates = list(itertools.compress(range(size), reached))
    classes_of = list(map(codes.__getitem__, candidates))
    passed = list(
        itertools.compress(
            candidates, map(operator.le, map(thresholds.__getitem__, classes_of), map(words.__getitem__, candidates))
        )
    )
    fast = _fast_keys(map(words.__getitem__, passed), map(weights.__getitem__, map(codes.__getitem__, passed)))
    if sum(map(low.__le__, fast)) < quota:
        return None  # fewer than quota members reach the bar: the quota-th key may lie below it
    bar = sorted(fast, reverse=True)[quota - 1] * (1.0 + PREFILTER_SLACK)
    if bar < low:
        return None  # members between the bar and low were not looked at
    return list(itertools.compress(passed, map(bar.__le__, fast)))


def draw_targets(*, population_rows: Iterable[Any], seed: bytes, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Stratified weighted draw without replacement (A-Res): deterministic in the seed, free of row order.

    Returns {"total": T, "strata": [{"stratum", "size", "quota", "selected": [[uscc, weight, key], ...]}]}
    with strata sorted by name and each stratum's selection sorted by key (largest first), then uscc.
    A large population still held as its canonical CSV (``canonical_population``) is drawn by two
    processes where that is safe (see _draw_beside), each cutting and drawing its own strata.
    """
    return _draw_targets(population_rows, seed, parameters)[0]


def _draw_targets(
    population_rows: Iterable[Any], seed: bytes, parameters: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """draw_targets, and the drawn usccs in matching order (``selection_order``), from the keys as drawn."""
    seed = _seed_bytes(seed)
    params = normalize_parameters(parameters)
    population = normalize_population(population_rows)  # positions in uscc order index the random words
    sizes = population.sizes()
    quotas = compute_quotas(strata_sizes=sizes, parameters=params)
    jobs = [(stratum, quotas[stratum]) for stratum in sizes]  # strata in name order
    drawn = None
    if population._strata is None and population.size >= PARALLEL_MIN_MEMBERS:
        drawn = _draw_beside(population, jobs, seed)
    if drawn is None:
        drawn = _draw_strata(population, jobs, seed)
    strata, ranked = drawn
    return {"total": sum(quotas.values()), "strata": strata}, [uscc for _, uscc, _ in ranked]


#: Below this many members a second process costs more than it saves.
PARALLEL_MIN_MEMBERS = 200_000


#: The strata drawn (as in the selection) and every drawn member as (-key, uscc, weight), sorted: the
#: matching order (``selection_order``) from the keys as computed, not parsed back from their text.
_Drawn = tuple[list[dict[str, Any]], list[tuple[float, str, str]]]


def _draw_strata(population: Population, jobs: Sequence[tuple[str, int]], seed: bytes) -> _Drawn:
    blocks = {block[0]: block for block in population._blocks}
    strata = []
    ranked: list[tuple[float, str, str]] = []
    for stratum, quota in jobs:
        usccs, weight_texts = population._columns(blocks[stratum]) if blocks else population.strata[stratum]
        drawn, chosen = _draw_stratum(stratum, usccs, weight_texts, quota, seed)
        strata.append(drawn)
        ranked += chosen
    ranked.sort()
    return strata, ranked


def _draw_stratum(
    stratum: str, usccs: list[str], weight_texts: list[str], quota: int, seed: bytes
) -> tuple[dict[str, Any], list[tuple[float, str, str]]]:
    size = len(usccs)
    chosen: list[tuple[float, str, str]] = []
    if quota:
        stream = _stream(TARGET_DOMAIN, seed, stratum, size)
        words = _words(stream)
        weight_floats = {w: float(w) for w in dict.fromkeys(weight_texts)}
        shortlist = None if quota >= size else _shortlist(stream, words, weight_texts, weight_floats, quota)
        if shortlist is None:
            shortlist = range(size) if quota >= size else _full_shortlist(words, weight_texts, weight_floats, quota)
        exact = sorted(
            (-(portable_ln((words[i] >> 11) | 1) / weight_floats[weight_texts[i]]), usccs[i], weight_texts[i])
            for i in shortlist
        )
        chosen = exact[:quota]
    selected = [[u, w, _format_key(-neg)] for neg, u, w in chosen]
    return {"stratum": stratum, "size": size, "quota": quota, "selected": selected}, chosen


def _draw_beside(population: Population, jobs: Sequence[tuple[str, int]], seed: bytes) -> _Drawn | None:
    """The strata drawn by this process and a forked one (see _forked; None where that is not possible),
    each taking about half the members. The child sends back only its strata's selections; if it dies,
    its share is drawn here."""
    # The first strata, up to a little over half the members, are drawn here; the rest by the child, which
    # also pays for copying the pages it writes to and for sending its selections back.
    counted = itertools.accumulate(block[3] for block in population._blocks)
    split = next((n for n, done in enumerate(counted, start=1) if done >= 0.55 * population.size), len(jobs))
    mine, theirs = jobs[:split], jobs[split:]
    wait = _forked(_draw_strata, population, theirs, seed)
    if wait is None:
        return None
    try:
        strata, ranked = _draw_strata(population, mine, seed)
    finally:
        status, value = wait()
    if status == "error":
        raise value
    if status != "ok":
        value = _draw_strata(population, theirs, seed)
    ranked += value[1]
    ranked.sort()  # two sorted runs: merged in one pass
    return strata + value[0], ranked


def selection_order(selection: Mapping[str, Any]) -> list[str]:
    """All drawn usccs, largest key first across strata, ties by uscc: the matching order."""
    items = [(-float(key), uscc) for s in selection["strata"] for uscc, _, key in s["selected"]]
    return [uscc for _, uscc in sorted(items)]


# -------------------------------------------------------------------------------------- matching

_INSPECTOR_KEYS = {
    "id",
    "department",
    "certificate_valid_until",
    "specialties",
    "region_codes",
    "active",
    "current_load",
}


def _region_prefix(code: str) -> str:
    # GB/T 2260 levels: province 2, city 4, county 6 digits; township codes extend to 9 and 12.
    for length in (2, 4, 6, 9):
        if length < len(code) and set(code[length:]) == {"0"}:
            return code[:length]
    return code


def _covers(prefixes: Sequence[str], region_code: str) -> bool:
    return any(region_code.startswith(p) for p in prefixes)


def _string_list(value: Any, what: str, check: Callable[[Any, str], str]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidDrawInput(f"{what}必须是列表")
    return sorted({check(v, what) for v in value})


def _normalize_inspector(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise InvalidDrawInput("执法检查人员必须是对象")
    unknown = set(raw) - _INSPECTOR_KEYS
    if unknown:
        raise InvalidDrawInput(f"执法检查人员 {raw.get('id')} 含未知字段：{', '.join(sorted(unknown))}")
    ident = _token(raw.get("id"), "执法检查人员编号")
    valid_until = raw.get("certificate_valid_until")
    active = raw.get("active", True)
    if not isinstance(active, bool):
        raise InvalidDrawInput(f"执法检查人员 {ident} 的 active 必须是布尔值")
    return {
        "id": ident,
        "department": _label(raw.get("department"), f"执法检查人员 {ident} 的部门"),
        "certificate_valid_until": None
        if valid_until in (None, "")
        else _iso_date(valid_until, f"执法检查人员 {ident} 的执法证有效期"),
        "specialties": _string_list(raw.get("specialties"), f"执法检查人员 {ident} 的专长", _label),
        "region_codes": _string_list(raw.get("region_codes"), f"执法检查人员 {ident} 的管辖区域", _region),
        "active": active,
        "current_load": _int(raw.get("current_load", 0), f"执法检查人员 {ident} 的在办任务数"),
    }


def _pairs(items: Iterable[Any], with_reason: bool, what: str) -> list[dict[str, str]]:
    out: dict[tuple[str, str], dict[str, str]] = {}
    for item in items or ():
        if isinstance(item, Mapping):
            fields = [item.get("inspector_id"), item.get("uscc")]
            if with_reason:
                fields.append(item.get("reason", ""))
        elif isinstance(item, (tuple, list)):
            fields = list(item) + ([""] if with_reason and len(item) == 2 else [])
        else:
            raise InvalidDrawInput(f"{what}格式无效：{item!r}")
        if len(fields) != (3 if with_reason else 2):
            raise InvalidDrawInput(f"{what}格式无效：{item!r}")
        entry = {
            "inspector_id": _token(fields[0], f"{what}中的执法检查人员编号"),
            "uscc": _token(fields[1], f"{what}中的统一社会信用代码"),
        }
        if with_reason:
            reason = fields[2] if fields[2] is not None else ""
            if not isinstance(reason, str) or len(reason) > 200 or any(ord(c) < 32 for c in reason):
                raise InvalidDrawInput(f"{what}的原因必须是不超过 200 字的单行文字")
            entry["reason"] = reason
        out[(entry["inspector_id"], entry["uscc"])] = entry
    return [out[k] for k in sorted(out)]


def _inspector_side(
    inspectors: Iterable[Any], conflicts: Iterable[Any], previous_pairings: Iterable[Any]
) -> dict[str, Any]:
    normalized = sorted((_normalize_inspector(raw) for raw in inspectors), key=lambda i: i["id"])
    ids = [i["id"] for i in normalized]
    duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
    if duplicates:
        raise InvalidDrawInput(f"执法检查人员编号重复：{'、'.join(duplicates)}")
    return {
        "inspectors": normalized,
        "conflicts": _pairs(conflicts, True, "回避关系"),
        "previous_pairings": _pairs(previous_pairings, False, "既往匹配记录"),
    }


def matching_digest(
    *, inspectors: Iterable[Any], conflicts: Iterable[Any] = (), previous_pairings: Iterable[Any] = ()
) -> str:
    """Digest of the inspector side of matching; published in the notice before the entropy is known."""
    return _sha256_hex(canonical_json(_inspector_side(inspectors, conflicts, previous_pairings)))


def _attrs_key(attrs: Any) -> Any:
    """What a target's attributes are validated by: their value when it is plain (a record's targets are
    each their own dict but repeat a few regions), else the object itself (by_uscc keeps it alive)."""
    if type(attrs) is dict and attrs.keys() <= _TARGET_KEYS:
        departments = attrs.get("departments")
        if type(departments) is list:
            key = ("value", attrs.get("region_code"), *departments)
            try:
                hash(key)
            except TypeError:
                pass
            else:
                return key
    return ("object", id(attrs))


_TARGET_KEYS = frozenset({"uscc", "region_code", "departments"})


def _normalize_targets(order: Sequence[str], targets: Any, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    if isinstance(targets, Mapping):
        # Only the drawn enterprises are looked up; the attrs are read, never copied or mutated.
        by_uscc = {u: targets[u] for u in order if u in targets}
    else:
        by_uscc = {}
        for item in targets or ():
            if not isinstance(item, Mapping):
                raise InvalidDrawInput("检查对象属性必须是对象")
            by_uscc[item.get("uscc")] = dict(item)
    out = []
    # Callers often share one attrs object among many enterprises (one per region): each distinct object is
    # looked at once. by_uscc holds every object until the end, so no id is reused while these caches live.
    checked: dict[Any, tuple[str, list[str]]] = {}
    by_id: dict[int, tuple[str, list[str]]] = {}
    for uscc in order:
        attrs = by_uscc.get(uscc)
        if attrs is None:
            raise InvalidDrawInput(f"缺少抽中企业 {uscc} 的所在地区和检查部门")
        known = by_id.get(id(attrs))
        if known is None:
            cache_key = _attrs_key(attrs)
            known = checked.get(cache_key)
            if known is None:
                if not isinstance(attrs, Mapping):
                    raise InvalidDrawInput(f"企业 {uscc} 的属性必须是对象")
                unknown = set(attrs) - {"uscc", "region_code", "departments"}
                if unknown:
                    raise InvalidDrawInput(f"企业 {uscc} 的属性含未知字段：{', '.join(sorted(unknown))}")
                departments = _string_list(attrs.get("departments"), f"企业 {uscc} 的检查部门", _label)
                departments = departments or list(params["departments"])
                if not departments:
                    raise InvalidDrawInput(f"企业 {uscc} 未指定检查部门")
                region = _region(attrs.get("region_code"), f"企业 {uscc} 的所在地区")
                known = checked[cache_key] = (region, departments)
            by_id[id(attrs)] = known
        out.append([uscc, known[0], list(known[1])])
    return out


def normalize_matching_input(
    *,
    selection: Mapping[str, Any],
    targets: Any,
    inspectors: Iterable[Any],
    conflicts: Iterable[Any] = (),
    previous_pairings: Iterable[Any] = (),
    parameters: Mapping[str, Any],
) -> dict[str, Any]:
    order = selection_order(selection)
    return _matching_input(selection, order, targets, inspectors, conflicts, previous_pairings, parameters)


def _matching_input(
    selection: Mapping[str, Any],
    order: list[str],
    targets: Any,
    inspectors: Iterable[Any],
    conflicts: Iterable[Any],
    previous_pairings: Iterable[Any],
    parameters: Mapping[str, Any],
) -> dict[str, Any]:
    """normalize_matching_input, given the selection's matching order (``selection_order``)."""
    params = normalize_parameters(parameters)
    side = _inspector_side(inspectors, conflicts, previous_pairings)
    if callable(targets):
        # R1: resolved once, given only the drawn enterprises in matching order, and the stratum each was
        # drawn from (for a caller whose strata are the regions, that is all it needs to know).
        targets = targets(order, {row[0]: s["stratum"] for s in selection["strata"] for row in s["selected"]})
    return {"targets": _normalize_targets(order, targets, params), **side}


def _reason(code: str, text: str) -> dict[str, str]:
    return {"code": code, "text": text}


def explain_candidate(
    *,
    inspector: Mapping[str, Any],
    uscc: str,
    region_code: str,
    department: str,
    parameters: Mapping[str, Any],
    conflicts: Iterable[Any] = (),
    previous_pairings: Iterable[Any] = (),
    load: int | None = None,
) -> list[dict[str, str]]:
    """Every reason why ``inspector`` cannot join the team for (uscc, department); [] means eligible."""
    params = normalize_parameters(parameters)
    insp = _normalize_inspector(inspector)
    reasons = []
    if insp["department"] != department:
        reasons.append(_reason("wrong_department", f"所属部门“{insp['department']}”与检查部门“{department}”不符"))
    prefixes = [_region_prefix(c) for c in insp["region_codes"]]
    if not _covers(prefixes, region_code):
        reasons.append(_reason("outside_jurisdiction", f"管辖区域不含企业所在地 {region_code}"))
    conflict_map = {(c["inspector_id"], c["uscc"]): c["reason"] for c in _pairs(conflicts, True, "回避关系")}
    pairing_set = {(p["inspector_id"], p["uscc"]) for p in _pairs(previous_pairings, False, "既往匹配记录")}
    reasons.extend(
        _personal_reasons(
            insp,
            uscc,
            department,
            params,
            conflict_map,
            pairing_set,
            insp["current_load"] if load is None else load,
        )
    )
    return reasons


def _personal_reasons(
    insp: Mapping[str, Any],
    uscc: str,
    department: str,
    params: Mapping[str, Any],
    conflict_map: Mapping[tuple[str, str], str],
    pairing_set: set[tuple[str, str]],
    load: int,
) -> list[dict[str, str]]:
    reasons = []
    date = params["inspection_date"]
    if not insp["active"]:
        reasons.append(_reason("inactive", "该执法检查人员已停用（不在岗）"))
    valid_until = insp["certificate_valid_until"]
    if valid_until is None:
        reasons.append(_reason("no_certificate", "无有效执法证记录"))
    elif date is not None and valid_until < date:
        reasons.append(_reason("certificate_expired", f"执法证已于 {valid_until} 到期，检查日期为 {date}"))
    needed = params["required_specialties"].get(department)
    if needed is not None and needed not in insp["specialties"]:
        reasons.append(_reason("lacks_specialty", f"不具备“{department}”检查要求的专长“{needed}”"))
    key = (insp["id"], uscc)
    if key in conflict_map:
        why = conflict_map[key]
        reasons.append(_reason("conflict", f"需回避：{why}" if why else "需回避"))
    if key in pairing_set:
        reasons.append(_reason("previous_pairing", "近期已检查过该企业，避免重复匹配"))
    cap = params["workload_cap"]
    if cap is not None and load >= cap:
        reasons.append(_reason("workload_cap", f"在办检查任务已达上限（{load}/{cap} 户）"))
    return reasons


def _missing_summary(
    needed: int, chosen: int, pool_size: int, counts: Counter[str], department: str, region_code: str
) -> str:
    if pool_size == 0:
        return f"企业所在地区（{region_code}）没有“{department}”的执法检查人员，需要 {needed} 名"
    detail = "，".join(f"{REASON_LABELS[code]} {n} 名" for code, n in sorted(counts.items()))
    return f"需要 {needed} 名，符合条件的仅 {chosen} 名（候选 {pool_size} 名，其中{detail}）"


def _static_reasons(insp: Mapping[str, Any], department: str, params: Mapping[str, Any]) -> list[dict[str, str]]:
    """The reasons of _personal_reasons that depend on the inspector alone (not on the enterprise)."""
    return _personal_reasons(insp, "", department, params, {}, set(), -1 if params["workload_cap"] is None else 0)


def _static_codes(insp: Mapping[str, Any], department: str, params: Mapping[str, Any]) -> tuple[str, ...]:
    """The reason codes that depend on the inspector alone (not on the enterprise or the load)."""
    return tuple(r["code"] for r in _static_reasons(insp, department, params))


@functools.lru_cache(maxsize=256)
def _big_endian_words(count: int) -> Any:
    """A struct reading ``count`` big-endian unsigned 64-bit words (the same on every platform)."""
    return struct.Struct(f">{count}Q")


def _run_matching(
    seed: bytes,
    params: Mapping[str, Any],
    minput: Mapping[str, Any],
    *,
    parallel: bool = False,
    meanwhile: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """The matching in the record's compact form (see the module docstring, "Record").

    Each inspector belongs to one department and only that department's teams add to their load, so the
    departments are independent: with ``parallel``, a forked process (see _forked) matches the teams of
    about half the departments while this one matches the rest, each in matching order, then runs
    ``meanwhile`` (if given) before waiting for the child. The team reported when one cannot be filled is
    the first in matching order, exactly as in a single pass."""
    if params["inspection_date"] is None:
        raise InvalidDrawInput("匹配执法检查人员需要检查日期 inspection_date（用于核对执法证有效期）")
    targets = minput["targets"]
    teams_of = Counter(department for _, _, departments in targets for department in departments)
    groups = [set(teams_of)]
    if parallel and len(teams_of) > 1 and sum(teams_of.values()) >= PARALLEL_MIN_TEAMS:
        groups = [set(), set()]
        for department in sorted(teams_of, key=lambda d: (-teams_of[d], d)):  # most teams first, to the lighter
            min(groups, key=lambda group: sum(teams_of[d] for d in group)).add(department)
    matcher = _Matcher(seed, params, minput)
    wait = _forked(matcher.match, groups[1]) if len(groups) == 2 else None
    try:
        teams, failure = matcher.match(groups[0] if wait is not None else set(teams_of))
        if wait is not None and meanwhile is not None and failure is None:
            meanwhile()
    finally:
        outcome = wait() if wait is not None else ("ok", ({}, None))
    if outcome[0] == "error":
        raise outcome[1]
    if outcome[0] != "ok":  # the child was lost: its departments are matched here
        outcome = ("ok", matcher.match(groups[1]))
    other_teams, other_failure = outcome[1]
    failures = [f for f in (failure, other_failure) if f is not None]
    if failures:
        _, _, uscc, department, missing, needed, eligible, reasons = min(failures)
        raise InfeasibleMatch(uscc, department, missing, needed=needed, eligible=eligible, reasons=reasons)
    teams.update(other_teams)
    queues = {department: iter(found) for department, found in teams.items()}
    return {
        "targets": [
            [uscc, [next(queues[department]) for department in departments]] for uscc, _, departments in targets
        ]
    }


#: Below this many teams a second process costs more than it saves.
PARALLEL_MIN_TEAMS = 20_000


class _Matcher:
    """What the team loop reads, built once (and inherited by a forked child)."""

    def __init__(self, seed: bytes, params: Mapping[str, Any], minput: Mapping[str, Any]) -> None:
        self.params = params
        self.targets = minput["targets"]
        self.team_prefix = hashlib.shake_256(INSPECTOR_DOMAIN + seed + b"|").copy  # = _stream(INSPECTOR_DOMAIN, ...)
        inspectors = minput["inspectors"]
        index_of = {insp["id"]: n for n, insp in enumerate(inspectors)}
        # Per department, the positions (in the id-sorted inspector list, which is id order) of its inspectors,
        # and an index from each jurisdiction prefix to them: a region's pool is the union of the entries of
        # its own prefixes, in id order, without scanning the department.
        self.prefix_index: dict[tuple[str, str], set[int]] = {}
        self.static: list[tuple[str, ...]] = []
        for n, insp in enumerate(inspectors):
            for code in insp["region_codes"]:
                self.prefix_index.setdefault((insp["department"], _region_prefix(code)), set()).add(n)
            self.static.append(_static_codes(insp, insp["department"], params))
        self.conflicts = {
            (index_of[c["inspector_id"]], c["uscc"]) for c in minput["conflicts"] if c["inspector_id"] in index_of
        }
        self.pairings = {
            (index_of[p["inspector_id"]], p["uscc"])
            for p in minput["previous_pairings"]
            if p["inspector_id"] in index_of
        }
        self.load = [insp["current_load"] for insp in inspectors]
        # Enterprises named by some 回避 or previous pairing: only their candidates need the pair lookups.
        self.named = {u for _, u in self.conflicts} | {u for _, u in self.pairings}

    def match(self, group: set[str]) -> tuple[dict[str, list[list[Any]]], tuple[Any, ...] | None]:
        """The teams of the departments in ``group``, per department in matching order, and the first
        team that cannot be filled as (target index, department position, InfeasibleMatch arguments…)."""
        params, static, conflicts, pairings = self.params, self.static, self.conflicts, self.pairings
        needed = params["inspectors_per_target"]
        cap = params["workload_cap"]
        load = list(self.load)
        # Without a cap the load never disqualifies anyone; an unreachable bound keeps the fast test uniform.
        bound = cap if cap is not None else math.inf
        team_prefix, named = self.team_prefix, self.named
        pools: dict[tuple[str, str], tuple[list[int], Any, bytes, int]] = {}
        teams: dict[str, list[list[Any]]] = {department: [] for department in group}
        for index, (uscc, region_code, departments) in enumerate(self.targets):
            prefix = uscc.encode()
            check_pairs = uscc in named
            for position, department in enumerate(departments):
                if department not in group:
                    continue
                entry = pools.get((department, region_code))
                if entry is None:
                    positions: set[int] = set()
                    for length in range(1, len(region_code) + 1):
                        positions.update(self.prefix_index.get((department, region_code[:length]), ()))
                    pool = sorted(positions)
                    unpack = _big_endian_words(len(pool)).unpack
                    label = ("|" + department).encode()
                    entry = pools[(department, region_code)] = (pool, unpack, label, 8 * len(pool))
                pool, unpack, label, length = entry
                # One SHAKE-256 stream per team, a 64-bit big-endian word per pool member in id order; members
                # are ranked by their word, ties (never seen in practice) by pool position, which is id order.
                team = team_prefix()
                team.update(prefix + label)
                chosen: list[int] = []
                rejected: list[list[Any]] = []
                for rank, (_, n) in enumerate(sorted(zip(unpack(team.digest(length)), pool, strict=True)), start=1):
                    codes = static[n]
                    if codes or load[n] >= bound or (check_pairs and ((n, uscc) in conflicts or (n, uscc) in pairings)):
                        codes = list(codes)
                        if (n, uscc) in conflicts:
                            codes.append("conflict")
                        if (n, uscc) in pairings:
                            codes.append("previous_pairing")
                        if load[n] >= bound:
                            codes.append("workload_cap")
                        rejected.append([n, rank, codes])
                        continue
                    chosen.append(n)
                    if len(chosen) == needed:
                        break
                if len(chosen) < needed:
                    counts = Counter(code for _, _, codes in rejected for code in codes)
                    missing = _missing_summary(needed, len(chosen), len(pool), counts, department, region_code)
                    return teams, (index, position, uscc, department, missing, needed, len(chosen), dict(counts))
                for n in chosen:
                    load[n] += 1
                teams[department].append([chosen, rejected])
        return teams, None


def _forked(function: Callable[..., Any], *args: Any) -> Callable[[], tuple[str, Any]] | None:
    """Start ``function(*args)`` in a forked child; returns what waits for its outcome: ("ok", value),
    ("error", DrawError) or ("lost", None) if the child died. None where fork is unavailable or unsafe: one
    CPU, or other threads, whose locks a forked child could inherit held."""
    context = _fork_context()
    if context is None:
        return None
    receiver, sender = context.Pipe(duplex=False)
    try:
        child = context.Process(target=_child_main, args=(sender, function, args), daemon=True)
        child.start()
    except (OSError, ValueError):
        receiver.close()
        sender.close()
        return None
    sender.close()

    def wait() -> tuple[str, Any]:
        try:
            return receiver.recv()
        except (EOFError, OSError):
            return "lost", None
        finally:
            receiver.close()
            child.join()

    return wait


def _fork_context() -> Any:
    """multiprocessing's fork context where forking helps and is safe, else None: two CPUs, fork available,
    and no other thread (a forked child could inherit a lock another thread held, and deadlock on it)."""
    if (os.cpu_count() or 1) < 2 or not hasattr(os, "fork") or threading.active_count() > 1:
        return None
    import multiprocessing

    return multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None


def _child_main(sender: Any, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        with _gc_paused():
            try:
                sender.send(("ok", function(*args)))
            except DrawError as exc:
                sender.send(("error", exc))
    finally:
        sender.close()


def _lead_department(departments: Sequence[str], params: Mapping[str, Any]) -> str:
    lead = params["lead_department"]
    return lead if lead in departments else departments[0]


def expand_matching(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record's compact matching spelled out: inspector ids, each team's lead, the enterprise's lead
    department and inspector, and every rejection with its reasons in Chinese.

    Returns {"targets": [{"uscc", "lead_department", "lead_inspector", "teams": [{"department",
    "inspectors", "lead", "rejected": [{"inspector_id", "rank", "reasons": [{"code", "text"}]}]}]}]}.
    The record must already be verified (or built here); nothing is re-checked.
    """
    params = record["notice"]["parameters"]
    minput = record["matching_input"]
    inspectors = minput["inspectors"]
    conflict_map = {(c["inspector_id"], c["uscc"]): c["reason"] for c in minput["conflicts"]}
    pairing_set = {(p["inspector_id"], p["uscc"]) for p in minput["previous_pairings"]}
    cap = params["workload_cap"]
    out = []
    for (uscc, _region, departments), (uscc_again, teams) in zip(
        minput["targets"], record["matching"]["targets"], strict=True
    ):
        assert uscc == uscc_again
        lead_department = _lead_department(departments, params)
        spelled = []
        for department, (chosen, rejected) in zip(departments, teams, strict=True):
            ids = [inspectors[n]["id"] for n in chosen]
            log = []
            for n, rank, codes in rejected:
                insp = inspectors[n]
                # Loads only grow by one per assignment and stop at the cap, so a candidate turned away
                # for the workload stood at the cap (or above it, if it started there).
                load = insp["current_load"] if cap is None else max(cap, insp["current_load"])
                reasons = _personal_reasons(insp, uscc, department, params, conflict_map, pairing_set, load)
                log.append(
                    {"inspector_id": insp["id"], "rank": rank, "reasons": [r for r in reasons if r["code"] in codes]}
                )
            spelled.append({"department": department, "inspectors": ids, "lead": ids[0], "rejected": log})
        out.append(
            {
                "uscc": uscc,
                "lead_department": lead_department,
                "lead_inspector": next(t["lead"] for t in spelled if t["department"] == lead_department),
                "teams": spelled,
            }
        )
    return {"targets": out}


def team_assignments(record: Mapping[str, Any]) -> Iterator[tuple[str, str, list[tuple[str, list[str]]]]]:
    """(uscc, lead department, [(department, inspector ids with the team's lead first)]) per drawn
    enterprise, in matching order: what dispatch needs from a record, without the rejection texts."""
    params = record["notice"]["parameters"]
    minput = record["matching_input"]
    ids = [insp["id"] for insp in minput["inspectors"]]
    for (uscc, _region, departments), (_, teams) in zip(minput["targets"], record["matching"]["targets"], strict=True):
        yield (
            uscc,
            _lead_department(departments, params),
            [
                (department, [ids[n] for n in chosen])
                for department, (chosen, _) in zip(departments, teams, strict=True)
            ],
        )


def match_inspectors(
    *,
    seed: bytes,
    selection: Mapping[str, Any],
    targets: Any,
    inspectors: Iterable[Any],
    conflicts: Iterable[Any] = (),
    previous_pairings: Iterable[Any] = (),
    parameters: Mapping[str, Any],
) -> dict[str, Any]:
    """Deterministic teams for every drawn enterprise; raises InfeasibleMatch rather than a partial result.

    ``targets``: {uscc: {"region_code", "departments"}} or a list of such dicts with "uscc".
    ``inspectors``: dicts with id, department, certificate_valid_until, specialties, region_codes,
    active, current_load. ``conflicts``: (inspector_id, uscc, reason); ``previous_pairings``:
    (inspector_id, uscc).
    """
    params = normalize_parameters(parameters)
    minput = normalize_matching_input(
        selection=selection,
        targets=targets,
        inspectors=inspectors,
        conflicts=conflicts,
        previous_pairings=previous_pairings,
        parameters=params,
    )
    compact = _run_matching(_seed_bytes(seed), params, minput)
    return expand_matching({"notice": {"parameters": params}, "matching_input": minput, "matching": compact})


# ------------------------------------------------------------------------------- notice & record


def _strata_summary(population: Population, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    return _strata_of(population.sizes(), params)


def _strata_of(sizes: Mapping[str, int], params: Mapping[str, Any]) -> list[dict[str, Any]]:
    quotas = compute_quotas(strata_sizes=sizes, parameters=params)
    return [{"stratum": s, "size": sizes[s], "quota": quotas[s]} for s in sorted(sizes)]


def check_population_csv(data: Any, strata_sizes: Any) -> tuple[str, int, dict[str, int]]:
    """Digest, size and strata of canonical population CSV bytes produced elsewhere (a database COPY).

    The producer vouches for the row format; what is cheap to check in bulk is checked here, and the
    verifier re-derives everything from these same bytes, so a wrong summary cannot pass verification.
    """
    if not isinstance(data, bytes) or not data.startswith(POPULATION_HEADER.encode() + b"\n"):
        raise InvalidDrawInput(f"名录 CSV 表头应为“{POPULATION_HEADER}”")
    if not data.endswith(b"\n") or b'"' in data or b"\r" in data:
        raise InvalidDrawInput("名录 CSV 不是规范形式（换行、引号）")
    if not isinstance(strata_sizes, Mapping):
        raise InvalidDrawInput("使用名录 CSV 时必须给出各分层规模 strata_sizes")
    sizes = {_label(k, "分层"): _int(v, f"分层 {k} 的规模", minimum=1) for k, v in strata_sizes.items()}
    size = data.count(b"\n") - 1
    if sum(sizes.values()) != size or data.count(b",") != 2 * (size + 1):
        raise InvalidDrawInput("名录 CSV 的行数或列数与各分层规模不符")
    return _sha256_hex(data), size, sizes


def make_notice(
    *,
    population_rows: Iterable[Any] | None = None,
    population_csv: bytes | None = None,
    strata_sizes: Mapping[str, int] | None = None,
    parameters: Mapping[str, Any],
    commitment: str,
    entropy_sources: Sequence[Mapping[str, Any]],
    inspectors: Iterable[Any] | None = None,
    conflicts: Iterable[Any] = (),
    previous_pairings: Iterable[Any] = (),
    context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The task notice published before the draw (the secret stays on the server until the draw).

    The population is given either as rows, or as its canonical CSV bytes with the size of each stratum
    (``population_csv`` + ``strata_sizes``, for a producer that writes the canonical form itself).
    """
    params = normalize_parameters(parameters)
    if not isinstance(commitment, str) or not _HEX64_RE.match(commitment):
        raise InvalidDrawInput("承诺值 commitment 必须是 64 位小写十六进制")
    if population_csv is not None:
        digest, size, sizes = check_population_csv(population_csv, strata_sizes)
        strata = _strata_of(sizes, params)
    else:
        population = normalize_population(population_rows if population_rows is not None else ())
        digest, size = population_digest(population), len(population)
        strata = _strata_summary(population, params)
    if context is not None and not isinstance(context, Mapping):
        raise InvalidDrawInput("context 必须是对象")
    notice = {
        "algorithm": ALGORITHM,
        "population_digest": digest,
        "population_size": size,
        "strata": strata,
        "total": sum(s["quota"] for s in strata),
        "parameters": params,
        "commitment": commitment,
        "entropy_sources": _normalize_entropy_sources(entropy_sources),
        "matching_digest": None
        if inspectors is None
        else matching_digest(inspectors=inspectors, conflicts=conflicts, previous_pairings=previous_pairings),
        "context": dict(context or {}),
    }
    canonical_json(notice)  # refuses floats in context early
    return notice


def notice_digest(notice: Mapping[str, Any]) -> str:
    return _sha256_hex(canonical_json(notice))


def record_bytes(record: Mapping[str, Any]) -> bytes:
    return _dumps(record)


def record_digest(record: Mapping[str, Any]) -> str:
    return _sha256_hex(_dumps({k: v for k, v in record.items() if k != "record_digest"}))


def build_record(
    *,
    notice: Mapping[str, Any],
    secret_hex: str,
    witness_numbers: Mapping[str, Sequence[int]] | None = None,
    beacon: str | None = None,
    population_rows: Iterable[Any],
    targets: Any = None,
    inspectors: Iterable[Any] | None = None,
    conflicts: Iterable[Any] = (),
    previous_pairings: Iterable[Any] = (),
    population_digest: str | None = None,
    out: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the draw against a published notice and return the public record (with record_digest).

    ``targets``: a mapping {uscc: {"region_code", "departments"}}, a list of such dicts with "uscc", or a
    callable given the drawn usccs in matching order that returns either (called once, after selection).
    ``population_digest``: optional SHA-256 hex of ``canonical_population_bytes(population_rows)`` that the
    caller already holds (e.g. it split the rows from stored bytes with that digest); it must still match
    the notice, and saves re-serialising and re-digesting the population.
    ``out``: if given, ``out["record_bytes"]`` receives the canonical record bytes (``record_bytes(record)``),
    serialised once together with the digest.
    """
    if notice.get("algorithm") != ALGORITHM:
        raise InvalidDrawInput(f"公告的算法版本不是 {ALGORITHM}")
    with _gc_paused():  # hundreds of thousands of acyclic dicts and tuples: collections would find nothing
        return _build_record(
            notice=notice,
            secret_hex=secret_hex,
            witness_numbers=witness_numbers,
            beacon=beacon,
            population_rows=population_rows,
            targets=targets,
            inspectors=inspectors,
            conflicts=conflicts,
            previous_pairings=previous_pairings,
            population_digest=population_digest,
            out=out,
        )


def _build_record(
    *,
    notice: Mapping[str, Any],
    secret_hex: str,
    witness_numbers: Mapping[str, Sequence[int]] | None,
    beacon: str | None,
    population_rows: Iterable[Any],
    targets: Any,
    inspectors: Iterable[Any] | None,
    conflicts: Iterable[Any],
    previous_pairings: Iterable[Any],
    population_digest: str | None,
    out: dict[str, Any] | None,
) -> dict[str, Any]:
    population = normalize_population(population_rows)
    params = normalize_parameters(notice["parameters"])
    if params != notice["parameters"]:
        raise InvalidDrawInput("公告中的参数不是规范形式，请用 make_notice 生成公告")
    if population_digest is not None:
        if not isinstance(population_digest, str) or not _HEX64_RE.match(population_digest):
            raise InvalidDrawInput("population_digest 必须是 64 位小写十六进制")
        digest = population_digest
    else:
        digest = _population_digest(population)
    if digest != notice["population_digest"] or len(population) != notice["population_size"]:
        raise DrawError("检查对象名录与公告时不一致（名录摘要不符），不能抽取")
    if commitment_for(secret_hex) != notice["commitment"]:
        raise DrawError("秘密值与公告中的承诺值不符")
    sources = _normalize_entropy_sources(notice["entropy_sources"])
    entropy = _entropy_record(sources, witness_numbers, beacon)
    seed = compute_seed(
        secret_hex=secret_hex,
        witness_numbers=[e["numbers"] for e in entropy["sources"] if e["kind"] == "numbers"],
        beacon=entropy["beacon"],
        population_digest=digest,
        parameters=params,
    )
    selection, order = _draw_targets(population, seed, params)
    record: dict[str, Any] = {
        "algorithm": ALGORITHM,
        "notice": dict(notice),
        "notice_digest": notice_digest(notice),
        "entropy": entropy,
        "secret": secret_hex,
        "seed": seed.hex(),
        "selection": selection,
        "matching_input": None,
    }
    parts: dict[str, bytes] = {}  # each top-level field serialised once, for the digest and the bytes

    def serialise_inputs() -> None:
        parts.update((key, _dumps(value)) for key, value in record.items())

    matching = None
    if inspectors is not None:
        record["matching_input"] = matching_input = _matching_input(
            selection, order, targets, inspectors, conflicts, previous_pairings, params
        )
        side = {k: matching_input[k] for k in ("inspectors", "conflicts", "previous_pairings")}
        committed = notice.get("matching_digest")
        # The side was normalised just now (strings, integers, booleans, lists: no float can be in it).
        if committed is not None and _sha256_hex(_dumps(side)) != committed:
            raise DrawError("执法检查人员名录、回避关系或既往匹配记录与公告时不一致（matching_digest 不符）")
        # Whatever the matching does not change is serialised while a forked process matches its share.
        matching = _run_matching(seed, params, matching_input, parallel=True, meanwhile=serialise_inputs)
    elif notice.get("matching_digest") is not None:
        raise InvalidDrawInput("公告承诺了执法检查人员名录，抽取时必须同时匹配执法检查人员")
    if not parts:
        serialise_inputs()
    record["matching"] = matching
    parts["matching"] = _dumps(matching)
    record["record_digest"] = _sha256_hex(_join_parts(parts))
    if out is not None:
        parts["record_digest"] = _dumps(record["record_digest"])
        out["record_bytes"] = _join_parts(parts)
    return record


# -------------------------------------------------------------------------------- inspectors CSV


def inspectors_csv_bytes(inspectors: Iterable[Any]) -> bytes:
    """Canonical inspector directory CSV (the optional third argument of the verifier)."""
    rows = sorted((_normalize_inspector(raw) for raw in inspectors), key=lambda i: i["id"])
    lines = [INSPECTOR_HEADER]
    for i in rows:
        lines.append(
            ",".join(
                [
                    i["id"],
                    i["department"],
                    i["certificate_valid_until"] or "",
                    ";".join(i["specialties"]),
                    ";".join(i["region_codes"]),
                    "1" if i["active"] else "0",
                    str(i["current_load"]),
                ]
            )
        )
    lines.append("")
    return "\n".join(lines).encode("utf-8")


def parse_inspectors_csv(data: bytes | str) -> list[dict[str, Any]]:
    lines = _csv_lines(_decode_text(data, "执法检查人员 CSV "))
    if not lines or lines[0] != INSPECTOR_HEADER:
        raise InvalidDrawInput(f"执法检查人员 CSV 表头应为“{INSPECTOR_HEADER}”")
    out = []
    for number, line in enumerate(lines[1:], start=2):
        parts = line.split(",")
        if len(parts) != 7 or parts[5] not in ("0", "1") or not parts[6].isdigit():
            raise InvalidDrawInput(f"执法检查人员 CSV 第 {number} 行格式无效：{line!r}")
        out.append(
            _normalize_inspector(
                {
                    "id": parts[0],
                    "department": parts[1],
                    "certificate_valid_until": parts[2] or None,
                    "specialties": [s for s in parts[3].split(";") if s],
                    "region_codes": [r for r in parts[4].split(";") if r],
                    "active": parts[5] == "1",
                    "current_load": int(parts[6]),
                }
            )
        )
    return sorted(out, key=lambda i: i["id"])


# -------------------------------------------------------------------------------------- verifier

_MAX_LISTED = 10


class _Malformed(Exception):
    pass


def _field(obj: Any, key: str, kind: type | tuple[type, ...], path: str) -> Any:
    if not isinstance(obj, Mapping) or key not in obj:
        raise _Malformed(f"记录缺少字段 {path}")
    value = obj[key]
    if not isinstance(value, kind):
        raise _Malformed(f"记录字段 {path} 类型无效")
    return value


def _short(items: Sequence[str]) -> str:
    shown = "、".join(items[:_MAX_LISTED])
    return shown + (f" 等共 {len(items)} 个" if len(items) > _MAX_LISTED else "")


def _diff_paths(expected: Any, actual: Any, path: str, out: list[str]) -> None:
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        for key in sorted(set(expected) | set(actual)):
            sub = f"{path}.{key}" if path else key
            if key not in expected:
                out.append(f"{sub}（多余）")
            elif key not in actual:
                out.append(f"{sub}（缺少）")
            else:
                _diff_paths(expected[key], actual[key], sub, out)
    elif isinstance(expected, list) and isinstance(actual, list):
        for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
            _diff_paths(e, a, f"{path}[{i}]", out)
        if len(expected) != len(actual):
            out.append(f"{path}（长度应为 {len(expected)}，实为 {len(actual)}）")
    elif type(expected) is not type(actual) or expected != actual:
        out.append(path)


def _compare_selection(expected: Mapping[str, Any], actual: Any, problems: list[str]) -> None:
    if actual == expected:  # see _compare_matching
        return
    if not isinstance(actual, Mapping) or not isinstance(actual.get("strata"), list):
        problems.append("抽取结果（selection）结构无效")
        return
    by_stratum = {s.get("stratum"): s for s in actual["strata"] if isinstance(s, Mapping)}
    for exp in expected["strata"]:
        name = exp["stratum"]
        act = by_stratum.pop(name, None)
        if act is None:
            problems.append(f"抽取结果缺少分层“{name}”（selection.strata）")
            continue
        for key in ("size", "quota"):
            if act.get(key) != exp[key]:
                problems.append(f"分层“{name}”的 {key} 不符：记录为 {act.get(key)}，重算为 {exp[key]}")
        selected = act.get("selected")
        act_sel: list[Any] = selected if isinstance(selected, list) else []
        act_map = {str(e[0]): e for e in act_sel if isinstance(e, list) and len(e) == 3}
        exp_map = {e[0]: e for e in exp["selected"]}
        extra = sorted(u for u in act_map if u not in exp_map)
        missing = sorted(u for u in exp_map if u not in act_map)
        if extra:
            problems.append(f"分层“{name}”：记录中多出未被抽中的企业 {_short(extra)}")
        if missing:
            problems.append(f"分层“{name}”：记录中缺少应被抽中的企业 {_short(missing)}")
        changed = []
        for uscc, e in exp_map.items():
            a = act_map.get(uscc)
            if a is not None and (a[2] != e[2] or a[1] != e[1]):
                changed.append(f"{uscc}（key 记录 {a[2]} / 重算 {e[2]}，weight 记录 {a[1]} / 名录 {e[1]}）")
        if changed:
            problems.append(f"分层“{name}”：企业的 key 或权重不符：{_short(changed)}")
        if (
            not extra
            and not missing
            and not changed
            and [e[0] for e in act_sel if isinstance(e, list)] != list(exp_map)
        ):
            problems.append(f"分层“{name}”：抽中企业的顺序与按 key 排序的结果不符")
    for name in by_stratum:
        problems.append(f"抽取结果多出名录中不存在的分层“{name}”")


def _compare_matching(expected: Mapping[str, Any], actual: Any, minput: Mapping[str, Any], problems: list[str]) -> None:
    # Equal values need no field-by-field diagnosis (the byte comparison of the whole record still
    # catches what == cannot see, such as 1 for true).
    if actual == expected:
        return
    if not isinstance(actual, Mapping) or not isinstance(actual.get("targets"), list):
        problems.append("匹配结果（matching）结构无效")
        return
    ids = [insp["id"] for insp in minput["inspectors"]]

    def named(indexes: Any) -> Any:
        if isinstance(indexes, list) and all(type(n) is int and 0 <= n < len(ids) for n in indexes):
            return [ids[n] for n in indexes]
        return indexes

    act_targets = {t[0]: t for t in actual["targets"] if isinstance(t, list) and len(t) == 2}
    departments_of = {t[0]: t[2] for t in minput["targets"]}
    found = []
    for uscc, exp_teams in expected["targets"]:
        act = act_targets.get(uscc)
        if act is None:
            found.append(f"企业 {uscc} 缺少检查组")
            continue
        act_teams = act[1] if isinstance(act[1], list) else []
        if len(act_teams) != len(exp_teams):
            found.append(f"企业 {uscc} 的检查组数记录为 {len(act_teams)}，应为 {len(exp_teams)}")
        for dept, exp_team, got in zip(departments_of[uscc], exp_teams, act_teams, strict=False):
            if not isinstance(got, list) or len(got) != 2:
                found.append(f"企业 {uscc} 的“{dept}”检查组格式无效")
                continue
            if got[0] != exp_team[0]:
                found.append(f"企业 {uscc} 的“{dept}”检查组：记录为 {named(got[0])}，重算为 {named(exp_team[0])}")
            if got[1] != exp_team[1]:
                found.append(f"企业 {uscc} 的“{dept}”检查组的排除记录与重算不符")
    expected_usccs = {t[0] for t in expected["targets"]}
    extra = sorted(str(u) for u in act_targets if u not in expected_usccs)
    if extra:
        found.append(f"记录中多出未被抽中的企业检查组 {_short(extra)}")
    if found:
        problems.append(f"执法检查人员匹配不符（matching）：{_short(found)}")


def _top_level_parts(record: Mapping[str, Any]) -> dict[str, bytes] | None:
    """Canonical bytes of each top-level value of a dict with string keys (else None: use _dumps)."""
    if type(record) is not dict or not all(isinstance(k, str) for k in record):
        return None
    return {key: _dumps(value) for key, value in record.items()}


def _join_parts(parts: Mapping[str, bytes], skip: str | None = None) -> bytes:
    # Exactly what _dumps gives for the whole dict: sorted keys, "key":value joined by ",".
    return b"{" + b",".join(_dumps(k) + b":" + parts[k] for k in sorted(parts) if k != skip) + b"}"


def verify_record(
    record: Mapping[str, Any],
    population_rows: Iterable[Any],
    *,
    inspectors_rows: Iterable[Any] | None = None,
    notice: Mapping[str, Any] | None = None,
) -> list[str]:
    """Recompute everything from the record's inputs and the population; [] means verified."""
    return _verify_record(record, population_rows, inspectors_rows=inspectors_rows, notice=notice)


def _verify_record(
    record: Mapping[str, Any],
    population_rows: Iterable[Any],
    *,
    inspectors_rows: Iterable[Any] | None = None,
    notice: Mapping[str, Any] | None = None,
    out: dict[str, Any] | None = None,
) -> list[str]:
    problems: list[str] = []
    try:
        with _gc_paused():
            _verify(record, population_rows, inspectors_rows, notice, problems, out)
    except _Malformed as exc:
        problems.append(str(exc))
    except DrawError as exc:
        problems.append(f"无法重算：{exc}")
    return problems


def _seed_from(seed_args: tuple[Any, ...], params: Mapping[str, Any], digest: str) -> bytes:
    """compute_seed from the record's secret and entropy; the published digest unless it was unusable."""
    secret, witness_numbers, beacon, published_digest = seed_args
    return compute_seed(
        secret_hex=secret,
        witness_numbers=witness_numbers,
        beacon=beacon,
        population_digest=published_digest or digest,
        parameters=params,
    )


def _facts_of(population: Population, params: Mapping[str, Any], seed_args: tuple[Any, ...]) -> dict[str, Any]:
    """What the verifier derives from the population: size, digest, strata, and the selection."""
    digest = population_digest(population)
    selection = draw_targets(population_rows=population, seed=_seed_from(seed_args, params, digest), parameters=params)
    return {
        "size": len(population),
        "digest": digest,
        "strata": _strata_summary(population, params),
        "selection": selection,
        "selection_bytes": _dumps(selection),
    }


class PopulationCsv:
    """A population CSV the verifier works on beside the record: with fork available and a large file, a
    second process parses it as soon as it is read (while the first parses the record), then draws once
    the record's parameters and seed inputs are submitted, while the first re-runs the matching. Without
    fork the same work runs here, in order. facts() returns the same either way, or raises DrawError."""

    #: Below this size a second process costs more than it saves.
    PARALLEL_MIN_BYTES = 1 << 20

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._job: tuple[Any, ...] | None = None
        self._conn: Any = None
        self._child: Any = None
        context = _fork_context() if len(data) >= self.PARALLEL_MIN_BYTES else None
        if context is None:
            return
        try:
            self._conn, child_conn = context.Pipe()
            self._child = context.Process(target=self._serve, args=(child_conn,), daemon=True)
            self._child.start()
            child_conn.close()
        except (OSError, ValueError):
            self._child = self._conn = None

    def _serve(self, conn: Any) -> None:  # in the child
        try:
            with _gc_paused():
                try:
                    population: Population | None = parse_population_csv(self.data)
                    failure = None
                except DrawError as exc:
                    population, failure = None, exc
                job = conn.recv()
                if job is None:
                    return
                if population is None:
                    conn.send(("error", failure))
                    return
                try:
                    facts = _facts_of(population, *job)
                    # Its canonical bytes are all the first process needs when the selection is the record's
                    # (one string to send, not fifty thousand lists); it parses them only if it is not.
                    del facts["selection"]
                    conn.send(("ok", facts))
                except DrawError as exc:
                    conn.send(("error", exc))
        except (EOFError, OSError):
            return
        finally:
            conn.close()

    def submit(self, params: Mapping[str, Any], seed_args: tuple[Any, ...]) -> None:
        self._job = (params, seed_args)
        if self._child is not None:
            try:
                self._conn.send(self._job)
            except (OSError, ValueError):
                self.close()

    def facts(self) -> dict[str, Any]:
        assert self._job is not None, "submit() first"
        if self._child is not None:
            try:
                status, value = self._conn.recv()
            except (EOFError, OSError):
                status, value = "lost", None
            self.close()
            if status == "ok":
                return value  # type: ignore[no-any-return]
            if status == "error":
                raise value
        return _facts_of(parse_population_csv(self.data), *self._job)  # no child, or it died

    def close(self) -> None:
        if self._child is not None:
            with contextlib.suppress(OSError, ValueError):
                self._conn.send(None)
            self._conn.close()
            self._child.join()
            self._child = self._conn = None


def _verify(
    record: Mapping[str, Any],
    population_rows: Iterable[Any],
    inspectors_rows: Iterable[Any] | None,
    published_notice: Mapping[str, Any] | None,
    problems: list[str],
    out: dict[str, Any] | None = None,
) -> None:
    if not isinstance(record, Mapping):
        raise _Malformed("记录必须是 JSON 对象")
    if record.get("algorithm") != ALGORITHM:
        raise _Malformed(f"记录的算法版本（algorithm）为 {record.get('algorithm')!r}，本验证程序只支持 {ALGORITHM}")
    notice = _field(record, "notice", Mapping, "notice")
    if notice.get("algorithm") != ALGORITHM:
        problems.append(f"公告的算法版本（notice.algorithm）不是 {ALGORITHM}")
    try:
        params = normalize_parameters(_field(notice, "parameters", Mapping, "notice.parameters"))
    except InvalidDrawInput as exc:
        raise _Malformed(f"公告参数无效（notice.parameters）：{exc}") from exc
    if params != notice["parameters"]:
        problems.append("公告参数（notice.parameters）不是规范形式")

    if published_notice is not None and notice_digest(published_notice) != notice_digest(notice):
        paths: list[str] = []
        _diff_paths(published_notice, notice, "notice", paths)
        problems.append(f"记录中的公告与事先发布的公告不一致：{_short(paths)}")

    secret = _field(record, "secret", str, "secret")
    try:
        commitment = commitment_for(secret)
    except InvalidDrawInput as exc:
        raise _Malformed(f"秘密值（secret）无效：{exc}") from exc
    if notice.get("commitment") != commitment:
        problems.append(
            f"承诺不符（commitment mismatch）：SHA-256(前缀‖secret) = {commitment}，"
            f"公告承诺为 {notice.get('commitment')}"
        )

    try:
        sources = _normalize_entropy_sources(notice.get("entropy_sources"))
    except InvalidDrawInput as exc:
        raise _Malformed(f"公告的熵来源无效（notice.entropy_sources）：{exc}") from exc
    entropy = _field(record, "entropy", Mapping, "entropy")
    entered = [e for e in entropy.get("sources") or [] if isinstance(e, Mapping)]
    numbers = {str(e.get("name")): e.get("numbers") or [] for e in entered if e.get("kind") == "numbers"}
    beacon_values = [e.get("value") for e in entered if e.get("kind") == "beacon"]
    try:
        expected_entropy = _entropy_record(sources, numbers, beacon_values[0] if beacon_values else None)
    except InvalidDrawInput as exc:
        raise _Malformed(f"录入的熵与公告声明的来源不符（entropy）：{exc}") from exc
    for key in ("sources", "key_string", "beacon", "salt"):
        if entropy.get(key) != expected_entropy[key]:
            problems.append(
                f"熵记录不符（entropy.{key}）：记录为 {entropy.get(key)!r}，重算为 {expected_entropy[key]!r}"
            )

    # The seed binds the digest that was published; recomputing with it isolates what a changed
    # population alone does to the selection instead of reporting every enterprise as different.
    published_digest = notice.get("population_digest")
    digest_published = isinstance(published_digest, str) and bool(_HEX64_RE.match(published_digest))

    seed_args = (
        secret,
        [e["numbers"] for e in expected_entropy["sources"] if e["kind"] == "numbers"],
        expected_entropy["beacon"],
        published_digest if digest_published else None,
    )

    # The population side (parse, digest, strata, selection) runs beside the matching check when the
    # seed does not wait for it, and matching follows the record's own selection order; both are then
    # compared with what was recomputed, so a wrong selection or order is reported either way.
    minput_raw = record.get("matching_input")
    stated_order = _stated_order(record.get("selection")) if digest_published and minput_raw is not None else None
    if isinstance(population_rows, PopulationCsv):
        population_rows.submit(params, seed_args)
        get_facts = population_rows.facts
    else:
        rows = population_rows
        get_facts = lambda: _facts_of(normalize_population(rows), params, seed_args)  # noqa: E731
    expected_record: dict[str, Any] = {"matching_input": None, "matching": None}
    serialised: dict[str, tuple[Any, bytes]] = {}
    if stated_order is not None:
        seed = _seed_from(seed_args, params, published_digest)
        _verify_matching(
            record, notice, params, seed, stated_order, minput_raw, inspectors_rows, expected_record, problems
        )
        # The largest recomputed fields serialised now, while the population side is still being worked on.
        serialised = {
            key: (expected_record[key], _dumps(expected_record[key]))
            for key in ("matching_input", "matching")
            if expected_record[key] is not None
        }
        serialised["selection"] = (record["selection"], _dumps(record["selection"]))
    facts = get_facts()
    digest = facts["digest"]
    if not digest_published:
        published_digest = digest
    seed = _seed_from(seed_args, params, digest)
    published_size = notice.get("population_size")
    if isinstance(published_size, bool) or not isinstance(published_size, int):
        published_size = facts["size"]
    if notice.get("population_digest") != digest:
        problems.append(
            f"名录摘要不符（population digest mismatch）：公告为 {notice.get('population_digest')}，所给名录为 {digest}"
        )
    if notice.get("population_size") != facts["size"]:
        problems.append(
            f"名录规模不符（notice.population_size）：公告为 {notice.get('population_size')} 户，"
            f"所给名录为 {facts['size']} 户"
        )
    strata = facts["strata"]
    if notice.get("strata") != strata:
        stated = {s.get("stratum"): s for s in notice.get("strata") or [] if isinstance(s, Mapping)}
        diffs = [
            f"“{s['stratum']}” 公告 {stated.get(s['stratum'], {}).get('size')} 户/抽 "
            f"{stated.get(s['stratum'], {}).get('quota')} 户，重算 {s['size']} 户/抽 {s['quota']} 户"
            for s in strata
            if stated.get(s["stratum"]) != s
        ]
        present = {s["stratum"] for s in strata}
        diffs += [f"“{name}” 名录中不存在" for name in stated if name not in present]
        problems.append(f"分层规模或配额不符（notice.strata）：{_short(diffs)}")
    total = sum(s["quota"] for s in strata)
    if notice.get("total") != total:
        problems.append(f"抽取总数不符（notice.total）：公告为 {notice.get('total')}，重算为 {total}")
    if record.get("seed") != seed.hex():
        problems.append(f"种子不符（seed mismatch）：记录为 {record.get('seed')}，重算为 {seed.hex()}")

    same_selection = "selection" in serialised and serialised["selection"][1] == facts["selection_bytes"]
    if same_selection:  # byte for byte the recomputed one: nothing to compare, the same matching order
        selection = serialised["selection"][0]
    else:
        selection = facts.get("selection") or json.loads(facts["selection_bytes"])
        serialised.pop("selection", None)
        selection_problems: list[str] = []
        _compare_selection(selection, record.get("selection"), selection_problems)
        problems.extend(selection_problems[:_MAX_LISTED])
        if len(selection_problems) > _MAX_LISTED:
            problems.append(f"抽取结果另有 {len(selection_problems) - _MAX_LISTED} 处分层不符（selection）")

    if minput_raw is None:
        if notice.get("matching_digest") is not None:
            problems.append("公告承诺了执法检查人员名录（matching_digest），但记录中没有匹配输入")
        if record.get("matching") is not None:
            problems.append("记录有匹配结果（matching），却没有匹配输入（matching_input）")
    elif stated_order is None:
        _verify_matching(
            record,
            notice,
            params,
            seed,
            selection_order(selection),
            minput_raw,
            inspectors_rows,
            expected_record,
            problems,
        )
    elif not same_selection and stated_order != selection_order(selection):
        problems.append("记录中的抽中企业顺序（selection）与重算结果不符，匹配按记录顺序复核")
    expected_record.update(
        {
            "algorithm": ALGORITHM,
            "notice": {
                "algorithm": ALGORITHM,
                "context": notice.get("context"),
                "matching_digest": notice.get("matching_digest"),
                "population_digest": published_digest,
                "population_size": published_size,
                "strata": strata,
                "total": total,
                "parameters": params,
                "commitment": commitment,
                "entropy_sources": sources,
            },
            "entropy": expected_entropy,
            "secret": secret,
            "seed": seed.hex(),
            "selection": selection,
        }
    )
    expected_record["notice_digest"] = notice_digest(expected_record["notice"])
    if record.get("notice_digest") != expected_record["notice_digest"]:
        problems.append(
            f"公告摘要不符（notice_digest）：记录为 {record.get('notice_digest')}，"
            f"重算为 {expected_record['notice_digest']}"
        )
    expected_parts = {
        key: serialised[key][1] if key in serialised and serialised[key][0] is value else _dumps(value)
        for key, value in expected_record.items()
    }
    expected_record["record_digest"] = _sha256_hex(_join_parts(expected_parts))
    expected_parts["record_digest"] = _dumps(expected_record["record_digest"])
    expected_bytes = _join_parts(expected_parts)
    raw = out.get("raw") if out is not None else None
    if raw is not None and raw.removesuffix(b"\n") == expected_bytes:
        # The file is byte for byte the recomputed record (hence canonical, with the right digest): the
        # record itself need not be serialised again.
        out["record_bytes"] = expected_bytes  # type: ignore[index]
        return
    try:
        # Each top-level field serialised once; the record's bytes and its digest are joined from them.
        parts = _top_level_parts(record)
    except (TypeError, ValueError) as exc:
        raise _Malformed(f"记录不能规范化为 JSON：{exc}") from exc
    if parts is not None:
        actual_bytes = _join_parts(parts)
        actual_digest = _sha256_hex(_join_parts(parts, skip="record_digest"))
    else:
        actual_bytes = _dumps(record)
        actual_digest = record_digest(record)
    if out is not None:
        out["record_bytes"] = actual_bytes
    stated_digest = record.get("record_digest")
    if stated_digest != actual_digest:
        problems.insert(0, f"记录摘要不符（record_digest）：记录声明 {stated_digest}，按内容计算为 {actual_digest}")
    if expected_bytes != actual_bytes:
        paths = []
        _diff_paths(expected_record, dict(record), "", paths)
        problems.append(f"与重算记录逐字节比对不一致的字段：{_short(paths)}")


def _stated_order(selection: Any) -> list[str] | None:
    """The matching order of the record's own selection, or None if it is malformed."""
    try:
        order = selection_order(selection)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return order if all(isinstance(u, str) for u in order) else None


def _verify_matching(
    record: Mapping[str, Any],
    notice: Mapping[str, Any],
    params: Mapping[str, Any],
    seed: bytes,
    order: list[str],
    minput_raw: Any,
    inspectors_rows: Iterable[Any] | None,
    expected_record: dict[str, Any],
    problems: list[str],
) -> None:
    if not isinstance(minput_raw, Mapping):
        raise _Malformed("匹配输入（matching_input）必须是对象")
    targets_raw = minput_raw.get("targets") or []
    if not isinstance(targets_raw, list):
        raise _Malformed("matching_input.targets 必须是列表")
    rows = [t for t in targets_raw if isinstance(t, list) and len(t) == 3]
    if len(rows) != len(targets_raw):
        problems.append("匹配输入中的企业（matching_input.targets）应为 [统一社会信用代码, 所在地区, [检查部门]] 列表")
    listed = [t[0] for t in rows]
    if listed != order:
        problems.append("匹配输入中的企业（matching_input.targets）与重算的抽中企业或其顺序不符")
    # One attrs dict per distinct (region, departments), as a caller would pass them: _normalize_targets
    # validates each once and then recognises it by identity, not by its value per enterprise.
    shared: dict[Any, dict[str, Any]] = {}
    available = {}
    for uscc, region, departments in rows:
        attrs = {"region_code": region, "departments": departments}
        key = _attrs_key(attrs)
        available[uscc] = shared.setdefault(key, attrs) if key[0] == "value" else attrs
    try:
        minput = {
            "targets": _normalize_targets(order, available, params),
            **_inspector_side(
                minput_raw.get("inspectors") or [],
                minput_raw.get("conflicts") or [],
                minput_raw.get("previous_pairings") or [],
            ),
        }
    except InvalidDrawInput as exc:
        problems.append(f"匹配输入无效（matching_input）：{exc}")
        return
    expected_record["matching_input"] = minput
    side = {k: minput[k] for k in ("inspectors", "conflicts", "previous_pairings")}
    committed = notice.get("matching_digest")
    # Normalised just now (strings, integers, booleans, lists): no float walk needed before digesting it.
    if committed is not None and _sha256_hex(_dumps(side)) != committed:
        problems.append("执法检查人员名录、回避关系或既往匹配记录与公告承诺不符（notice.matching_digest）")
    if inspectors_rows is not None:
        given = {i["id"]: i for i in (_normalize_inspector(raw) for raw in inspectors_rows)}
        embedded = {i["id"]: i for i in minput["inspectors"]}
        differing = sorted(ident for ident in set(given) | set(embedded) if given.get(ident) != embedded.get(ident))
        if differing:
            problems.append(f"所给执法检查人员名录与记录中的不一致，涉及人员 {_short(differing)}")
    try:
        matching = _run_matching(seed, params, minput)
    except InfeasibleMatch as exc:
        problems.append(f"按记录的输入无法完成匹配，记录中的匹配结果不可能产生：{exc}")
        return
    expected_record["matching"] = matching
    _compare_matching(matching, record.get("matching"), minput, problems)


# ------------------------------------------------------------------------------------------- CLI


def _no_float(text: str) -> Any:
    raise ValueError(f"出现浮点数 {text}，规范记录中不应有浮点数")


def _load_json(path: str, what: str, *, fast: bool = False) -> tuple[Any, bytes]:
    raw = Path(path).read_bytes()
    if fast:
        # Parsed without the duplicate-key hook (most of the parse time on a large record). A file with
        # a duplicate key cannot be canonical, so the caller re-reads any non-canonical file with
        # _load_json(fast=False), which names the duplicate.
        try:
            return json.loads(raw.decode("utf-8"), parse_float=_no_float), raw
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidDrawInput(f"{what}不是有效的 JSON：{exc}") from exc

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise ValueError(f"重复的键：{sorted({k for k in keys if keys.count(k) > 1})}")
        return dict(pairs)

    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates, parse_float=_no_float), raw
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidDrawInput(f"{what}不是有效的 JSON：{exc}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="verify_draw.py",
        description=f"独立验证“双随机”摇号记录（{ALGORITHM}） / verify a shuangsui draw record",
    )
    parser.add_argument("record", help="摇号记录 record.json")
    parser.add_argument("population", help="检查对象名录 population.csv（uscc,stratum,weight）")
    parser.add_argument("inspectors", nargs="?", help="可选：执法检查人员名录 inspectors.csv，与记录内嵌名录比对")
    parser.add_argument("--notice", help="可选：事先发布的公告 notice.json，与记录中的公告比对")
    args = parser.parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")
    # A short run over a million small lists and strings, none of them in a reference cycle: the cyclic
    # collector would walk them again and again (a quarter of a second per pass) and free nothing.
    with _gc_paused():
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    problems: list[str] = []
    population: PopulationCsv | None = None
    try:
        population = PopulationCsv(Path(args.population).read_bytes())  # parsing starts beside the record's
        record, raw = _load_json(args.record, "摇号记录", fast=True)
        inspectors = parse_inspectors_csv(Path(args.inspectors).read_bytes()) if args.inspectors else None
        published = _load_json(args.notice, "公告")[0] if args.notice else None
    except (OSError, DrawError) as exc:
        if population is not None:
            population.close()
        print(f"验证失败 / verification FAILED：{exc}")
        return 1
    out: dict[str, Any] = {"raw": raw}
    try:
        problems += _verify_record(record, population, inspectors_rows=inspectors, notice=published, out=out)
    finally:
        population.close()
    canonical = out.get("record_bytes")
    if raw.removesuffix(b"\n") != (canonical if canonical is not None else _dumps(record)):
        try:
            _load_json(args.record, "摇号记录")  # names a duplicate key, if that is what broke canonical form
        except DrawError as exc:
            print(f"验证失败 / verification FAILED：{exc}")
            return 1
        problems.insert(0, "摇号记录文件不是规范化 JSON（键未排序、含多余空白或被重新格式化），逐字节比对失败")
    if problems:
        print(f"验证失败 / verification FAILED（{len(problems)} 处问题 / problems）：")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    notice = record["notice"]
    teams = sum(len(t[1]) for t in (record.get("matching") or {}).get("targets", []))
    print("验证通过 / verification passed")
    print(f"  算法 algorithm:               {ALGORITHM}")
    print(f"  名录 population:              {notice['population_size']} 户，摘要 {notice['population_digest']}")
    print(f"  公告摘要 notice digest:       {record['notice_digest']}")
    print(f"  承诺 commitment:              {notice['commitment']}（与公开的秘密值相符）")
    print(f"  见证号码 key string:          {record['entropy']['key_string'] or '（无）'}")
    print(f"  公共信标 beacon:              {record['entropy']['beacon'] or '（无）'}")
    print(f"  种子 seed:                    {record['seed']}")
    selection = record["selection"]
    print(f"  抽中 selected:                {selection['total']} 户，{len(selection['strata'])} 个分层")
    print(f"  检查组 teams:                 {teams}")
    print(f"  记录摘要 record digest:       {record['record_digest']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
