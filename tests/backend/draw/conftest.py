"""Builders for draw tests: synthetic directories, inspectors and a complete published draw."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pytest

from backend.draw import verify_draw as vd

SECRET = "5a" * 32
DEPARTMENTS = ("市场监管局", "特种设备科")
ENTROPY_SOURCES = [
    {"name": "见证人甲", "kind": "numbers", "count": 3, "description": "现场见证人掷三枚骰子"},
    {"name": "见证人乙", "kind": "numbers", "description": "公证员报出的号码"},
    {"name": "福彩双色球", "kind": "beacon", "description": "抽取日之后首期双色球开奖号码"},
]
WITNESS_NUMBERS = {"见证人甲": [6, 2, 5], "见证人乙": [17, 3]}
BEACON = "03 07 12 19 25 31+09"


def uscc(i: int) -> str:
    return f"91510800MA{i:08d}"


def seed_for(label: str) -> bytes:
    """Fixed, documented seeds for statistical tests: nothing random, nothing that can flake."""
    return hashlib.sha256(f"shuangsui-test|{label}".encode()).digest()


def population(
    n: int, *, strata: tuple[str, ...] = ("食品经营", "特种设备", "一般企业")
) -> list[tuple[str, str, str]]:
    weights = ("1.000000", "1.000000", "1.000000", "2.000000", "1.500000", "3.000000")
    return [(uscc(i), strata[i % len(strata)], weights[(i * 7) % len(weights)]) for i in range(n)]


def inspectors(n: int = 40) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        out.append(
            {
                "id": f"INS{i:03d}",
                "department": DEPARTMENTS[i % 2],
                "certificate_valid_until": "2024-12-31" if i % 11 == 0 else "2027-12-31",
                "specialties": ["特种设备"] if i % 3 else [],
                "region_codes": ["510800"] if i % 5 else ["510802"],
                "active": i % 13 != 0,
                "current_load": i % 3,
            }
        )
    return out


def targets_for(rows: list[tuple[str, str, str]]) -> dict[str, dict[str, Any]]:
    return {
        u: {"region_code": "510802" if int(u[-1]) % 2 else "510811", "departments": list(DEPARTMENTS)}
        for u, _, _ in rows
    }


PARAMETERS = {
    "mode": "ratio",
    "ratio": "0.05",
    "inspectors_per_target": 2,
    "workload_cap": 12,
    "inspection_date": "2025-06-10",
    "required_specialties": {"特种设备科": "特种设备"},
    "lead_department": "市场监管局",
}


@dataclass
class Draw:
    rows: list[tuple[str, str, str]]
    inspectors: list[dict[str, Any]]
    conflicts: list[tuple[str, str, str]]
    previous_pairings: list[tuple[str, str]]
    notice: dict[str, Any]
    record: dict[str, Any]


def make_draw(n: int = 600, *, parameters: dict[str, Any] | None = None) -> Draw:
    rows = population(n)
    staff = inspectors()
    conflicts = [(ins, uscc(i), "亲属在该企业任职") for ins in ("INS004", "INS006") for i in range(0, n, 2)]
    previous = [("INS008", uscc(i)) for i in range(1, n, 4)]
    params = parameters or PARAMETERS
    notice = vd.make_notice(
        population_rows=rows,
        parameters=params,
        commitment=vd.commitment_for(SECRET),
        entropy_sources=ENTROPY_SOURCES,
        inspectors=staff,
        conflicts=conflicts,
        previous_pairings=previous,
        context={"task": "2025-食品-01", "title": "2025年第一批食品经营者联合抽查"},
    )
    record = vd.build_record(
        notice=notice,
        secret_hex=SECRET,
        witness_numbers=WITNESS_NUMBERS,
        beacon=BEACON,
        population_rows=rows,
        targets=targets_for(rows),
        inspectors=staff,
        conflicts=conflicts,
        previous_pairings=previous,
    )
    return Draw(rows, staff, conflicts, previous, notice, record)


@pytest.fixture(scope="session")
def draw() -> Draw:
    return make_draw()
