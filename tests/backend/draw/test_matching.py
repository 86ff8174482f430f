"""Inspector matching: every constraint holds, every skip is explained, infeasibility is refused whole."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.draw import verify_draw as vd

from .conftest import uscc

DATE = "2025-06-10"
REGIONS = ("510802", "510811", "510903")
JURISDICTIONS = ("510000", "510800", "510802", "510900", "520000")
DEPTS = ("D1", "D2", "D3")
SPECIALTIES = ("食品", "特设")
CERT_DATES = (None, "2025-06-09", "2025-06-10", "2026-01-01")


def covers(jurisdiction: str, region: str) -> bool:
    """Test oracle for GB/T 2260 prefixes, written out by hand for the codes used here."""
    prefix = {"510000": "51", "520000": "52", "510800": "5108", "510900": "5109", "510802": "510802"}[
        jurisdiction
    ]
    return region.startswith(prefix)


def failing_codes(
    insp: dict[str, Any],
    target: dict[str, Any],
    dept: str,
    params: dict[str, Any],
    conflicts,
    pairs,
    load: int,
) -> set[str]:
    codes = set()
    if not insp["active"]:
        codes.add("inactive")
    if insp["certificate_valid_until"] is None:
        codes.add("no_certificate")
    elif insp["certificate_valid_until"] < DATE:
        codes.add("certificate_expired")
    needed = params["required_specialties"].get(dept)
    if needed and needed not in insp["specialties"]:
        codes.add("lacks_specialty")
    if (insp["id"], target["uscc"]) in conflicts:
        codes.add("conflict")
    if (insp["id"], target["uscc"]) in pairs:
        codes.add("previous_pairing")
    if params["workload_cap"] is not None and load >= params["workload_cap"]:
        codes.add("workload_cap")
    return codes


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    # Biased towards mostly-qualified staff so that both outcomes, full teams and InfeasibleMatch, are
    # common; every attribute still takes every kind of failing value.
    n_targets = draw(st.integers(1, 5))
    targets = [
        {
            "uscc": uscc(i),
            "region_code": draw(st.sampled_from(REGIONS)),
            "departments": sorted(draw(st.sets(st.sampled_from(DEPTS[:2]), min_size=1))),
        }
        for i in range(n_targets)
    ]
    staff = []
    for dept in DEPTS:
        for _ in range(draw(st.integers(0, 12))):
            staff.append(
                {
                    "id": f"INS{len(staff):02d}",
                    "department": dept,
                    "certificate_valid_until": draw(st.sampled_from(CERT_DATES + ("2027-12-31",) * 4)),
                    "specialties": draw(st.sampled_from([[], ["食品"], ["特设"]] + [["特设", "食品"]] * 5)),
                    "region_codes": draw(
                        st.sampled_from(
                            [[], ["510000"], ["510800"], ["510802"], ["510900"]] + [["510800", "510900"]] * 5
                        )
                    ),
                    "active": draw(st.sampled_from([True] * 7 + [False])),
                    "current_load": draw(st.integers(0, 3)),
                }
            )
    n_staff = len(staff)
    pair = st.tuples(st.integers(0, max(n_staff - 1, 0)), st.integers(0, n_targets - 1))
    conflicts = (
        [(f"INS{a:02d}", uscc(b), "亲属") for a, b in draw(st.lists(pair, max_size=4))] if n_staff else []
    )
    previous = [(f"INS{a:02d}", uscc(b)) for a, b in draw(st.lists(pair, max_size=4))] if n_staff else []
    params = {
        "mode": "counts",
        "counts": {"S": n_targets},
        "max_ratio": "1",
        "inspectors_per_target": draw(st.sampled_from([2, 2, 3])),
        "workload_cap": draw(st.one_of(st.none(), st.integers(2, 6))),
        "inspection_date": DATE,
        "required_specialties": draw(
            st.dictionaries(st.sampled_from(DEPTS), st.sampled_from(SPECIALTIES), max_size=1)
        ),
        "lead_department": draw(st.one_of(st.none(), st.sampled_from(DEPTS))),
    }
    return {
        "seed": draw(st.binary(min_size=32, max_size=32)),
        "targets": targets,
        "inspectors": staff,
        "conflicts": conflicts,
        "previous": previous,
        "params": params,
    }


@settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(scenarios())
def test_matching_never_violates_a_constraint(case: dict[str, Any]) -> None:
    params = vd.normalize_parameters(case["params"])
    rows = [(t["uscc"], "S", "1.000000") for t in case["targets"]]
    selection = vd.draw_targets(population_rows=rows, seed=case["seed"], parameters=params)
    by_uscc = {t["uscc"]: t for t in case["targets"]}
    staff = {i["id"]: i for i in case["inspectors"]}
    conflicts = {(a, b) for a, b, _ in case["conflicts"]}
    pairs = set(case["previous"])
    needed = params["inspectors_per_target"]
    try:
        result = vd.match_inspectors(
            seed=case["seed"],
            selection=selection,
            targets=by_uscc,
            inspectors=case["inspectors"],
            conflicts=case["conflicts"],
            previous_pairings=case["previous"],
            parameters=params,
        )
    except vd.InfeasibleMatch as exc:
        target = by_uscc[exc.uscc]
        assert exc.department in target["departments"]
        assert exc.eligible < needed
        statically_eligible = [
            i
            for i in staff.values()
            if i["department"] == exc.department
            and any(covers(j, target["region_code"]) for j in i["region_codes"])
            and not failing_codes(i, target, exc.department, params, conflicts, pairs, 0) - {"workload_cap"}
        ]
        if params["workload_cap"] is None:
            assert len(statically_eligible) < needed
        assert exc.uscc in str(exc) and exc.department in str(exc)
        return

    assert [t["uscc"] for t in result["targets"]] == vd.selection_order(selection)
    load = {i["id"]: i["current_load"] for i in staff.values()}
    mac_key = case["seed"]
    for entry in result["targets"]:
        target = by_uscc[entry["uscc"]]
        assert [t["department"] for t in entry["teams"]] == target["departments"]
        for team in entry["teams"]:
            dept = team["department"]
            assert len(team["inspectors"]) == needed == len(set(team["inspectors"]))
            assert team["lead"] == team["inspectors"][0]
            pool = [
                i
                for i in staff.values()
                if i["department"] == dept
                and any(covers(j, target["region_code"]) for j in i["region_codes"])
            ]
            # From first principles: one SHAKE-256 stream per team, a big-endian 64-bit word per pool
            # member in id order; rank by word, then id order.
            pool.sort(key=lambda i: i["id"])
            stream = hashlib.shake_256(
                b"shuangsui-draw-v3|inspector|" + mac_key + f"|{target['uscc']}|{dept}".encode()
            ).digest(8 * len(pool))
            words = [int.from_bytes(stream[8 * j : 8 * j + 8], "big") for j in range(len(pool))]
            ranking = [insp for _, _, insp in sorted(zip(words, range(len(pool)), pool, strict=True))]
            examined = ranking[: len(team["inspectors"]) + len(team["rejected"])]
            rejected = {r["inspector_id"]: r for r in team["rejected"]}
            assert [i["id"] for i in examined if i["id"] not in rejected] == team["inspectors"]
            for rank, insp in enumerate(examined, start=1):
                codes = failing_codes(insp, target, dept, params, conflicts, pairs, load[insp["id"]])
                if insp["id"] in rejected:
                    entry_log = rejected[insp["id"]]
                    assert entry_log["rank"] == rank
                    assert {r["code"] for r in entry_log["reasons"]} == codes != set()
                    assert all(r["text"] for r in entry_log["reasons"])
                else:
                    assert codes == set()
            for ident in team["inspectors"]:
                load[ident] += 1
        lead_dept = (
            params["lead_department"]
            if params["lead_department"] in target["departments"]
            else target["departments"][0]
        )
        assert entry["lead_department"] == lead_dept
        assert entry["lead_inspector"] == next(
            t["lead"] for t in entry["teams"] if t["department"] == lead_dept
        )
    if params["workload_cap"] is not None:
        assigned = {i for e in result["targets"] for t in e["teams"] for i in t["inspectors"]}
        assert all(load[i] <= params["workload_cap"] for i in assigned)


def _one_target_case(staff: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
    parameters = {"mode": "counts", "counts": {"S": 1}, "max_ratio": "1", "inspection_date": DATE, **params}
    rows = [(uscc(1), "S", "1.000000")]
    seed = hashlib.sha256(b"one-target").digest()
    return dict(
        seed=seed,
        selection=vd.draw_targets(population_rows=rows, seed=seed, parameters=parameters),
        targets={uscc(1): {"region_code": "510802", "departments": ["市场监管局"]}},
        inspectors=staff,
        parameters=parameters,
    )


def _staff(i: int, **overrides: Any) -> dict[str, Any]:
    return {
        "id": f"INS{i:02d}",
        "department": "市场监管局",
        "certificate_valid_until": "2026-12-31",
        "specialties": [],
        "region_codes": ["510800"],
        "active": True,
        "current_load": 0,
        **overrides,
    }


def test_infeasible_match_names_enterprise_department_and_what_is_missing() -> None:
    staff = [
        _staff(1),
        _staff(2, certificate_valid_until="2025-01-31"),
        _staff(3, active=False),
        _staff(4, region_codes=["510900"]),
        _staff(5, department="卫健委"),
    ]
    case = _one_target_case(staff)
    with pytest.raises(vd.InfeasibleMatch) as info:
        vd.match_inspectors(**case, conflicts=[("INS01", uscc(1), "配偶任该企业法定代表人")])
    exc = info.value
    assert (exc.uscc, exc.department, exc.needed, exc.eligible) == (uscc(1), "市场监管局", 2, 0)
    assert exc.reasons == {"certificate_expired": 1, "inactive": 1, "conflict": 1}
    assert "需要 2 名，符合条件的仅 0 名（候选 3 名" in exc.missing
    assert "执法证过期 1 名" in str(exc) and "需回避 1 名" in str(exc) and uscc(1) in str(exc)


def test_infeasible_match_when_nobody_covers_the_region() -> None:
    case = _one_target_case([_staff(1, region_codes=["510900"]), _staff(2, region_codes=["510900"])])
    with pytest.raises(vd.InfeasibleMatch, match="企业所在地区（510802）没有“市场监管局”的执法检查人员"):
        vd.match_inspectors(**case)


def test_fewer_than_two_inspectors_per_target_is_refused() -> None:
    with pytest.raises(vd.InvalidDrawInput, match="至少需要 2 名"):
        vd.match_inspectors(**_one_target_case([_staff(1), _staff(2)], inspectors_per_target=1))


def test_matching_needs_the_inspection_date() -> None:
    case = _one_target_case([_staff(1), _staff(2)])
    del case["parameters"]["inspection_date"]
    with pytest.raises(vd.InvalidDrawInput, match="检查日期"):
        vd.match_inspectors(**case)


def test_certificate_valid_through_the_inspection_day_counts() -> None:
    case = _one_target_case([_staff(1, certificate_valid_until=DATE), _staff(2)])
    result = vd.match_inspectors(**case)
    assert sorted(result["targets"][0]["teams"][0]["inspectors"]) == ["INS01", "INS02"]


def test_rejections_carry_codes_and_chinese_text(draw) -> None:
    # The record keeps codes only; expand_matching spells them out from the record's own inputs.
    compact_codes = [
        code
        for _, teams in draw.record["matching"]["targets"]
        for _, rejected in teams
        for _, _, codes in rejected
        for code in codes
    ]
    expanded = vd.expand_matching(draw.record)
    reasons = [
        r
        for t in expanded["targets"]
        for team in t["teams"]
        for x in team["rejected"]
        for r in x["reasons"]
    ]
    assert [r["code"] for r in reasons] == compact_codes
    codes = {r["code"] for r in reasons}
    assert codes <= set(vd.REASON_LABELS)
    assert {"conflict", "certificate_expired", "lacks_specialty"} <= codes
    assert any(r["text"] == "需回避：亲属在该企业任职" for r in reasons)
    assert any(r["text"].startswith("执法证已于 2024-12-31 到期") for r in reasons)


def test_explain_candidate_covers_department_and_jurisdiction() -> None:
    params = {"ratio": "0.05", "inspection_date": DATE, "workload_cap": 3}
    reasons = vd.explain_candidate(
        inspector=_staff(1, department="卫健委", region_codes=["510900"], current_load=3),
        uscc=uscc(1),
        region_code="510802",
        department="市场监管局",
        parameters=params,
        previous_pairings=[("INS01", uscc(1))],
    )
    assert [r["code"] for r in reasons] == [
        "wrong_department",
        "outside_jurisdiction",
        "previous_pairing",
        "workload_cap",
    ]
    assert (
        vd.explain_candidate(
            inspector=_staff(1),
            uscc=uscc(1),
            region_code="510802001001",
            department="市场监管局",
            parameters=params,
        )
        == []
    )


def test_jurisdiction_prefixes_follow_administrative_levels() -> None:
    assert vd._region_prefix("510000") == "51"
    assert vd._region_prefix("510800") == "5108"
    assert vd._region_prefix("510802") == "510802"
    assert vd._region_prefix("510802001000") == "510802001"
    assert vd._covers(["5108"], "510802") and not vd._covers(["510802001"], "510802")


def test_inspector_input_is_validated() -> None:
    for bad in (
        _staff(1, certificate_valid_until="2025-02-30"),
        _staff(1, region_codes=["5108"]),
        _staff(1, active="yes"),
        {**_staff(1), "name": "张三"},
        _staff(1, id="INS 1"),
    ):
        with pytest.raises(vd.InvalidDrawInput):
            vd.match_inspectors(**_one_target_case([bad, _staff(2), _staff(3)]))
    with pytest.raises(vd.InvalidDrawInput, match="重复"):
        vd.match_inspectors(**_one_target_case([_staff(1), _staff(1), _staff(2)]))


def test_inspectors_csv_round_trip() -> None:
    staff = [
        _staff(2, specialties=["食品", "特设"], region_codes=["510800", "510900"]),
        _staff(1, certificate_valid_until=None, active=False),
    ]
    data = vd.inspectors_csv_bytes(staff)
    assert data.decode().splitlines()[1] == "INS01,市场监管局,,,510800,0,0"
    assert vd.parse_inspectors_csv(data) == sorted(
        (vd._normalize_inspector(s) for s in staff), key=lambda i: i["id"]
    )


_FORKED_MATCHING = r"""
import json, os
from backend.draw import verify_draw as vd
from tests.backend.draw.conftest import make_draw

vd.PARALLEL_MIN_TEAMS = 10
forks = []
forked = vd._forked
vd._forked = lambda *args: forks.append(1) or forked(*args)
draw = make_draw()  # build_record matches with parallel=True
record = draw.record
seed, params = bytes.fromhex(record["seed"]), record["notice"]["parameters"]
minput = record["matching_input"]
out = {
    "forks": len(forks),
    "same": vd._run_matching(seed, params, minput) == record["matching"],
    "verified": vd.verify_record(record, draw.rows) == [],  # digest over what was serialised meanwhile
}

# A lost child: its departments are matched here.
child_main = vd._child_main
vd._child_main = lambda *args: os._exit(3)
out["lost_same"] = vd._run_matching(seed, params, minput, parallel=True) == record["matching"]
vd._child_main = child_main

# Two departments that each fail somewhere: the failure reported is the first in matching order, whichever
# process met it.
inspectors = [
    {"id": f"A{i}", "department": "D1", "region_codes": ["510800", "510900"], "certificate_valid_until": "2027-01-01"}
    for i in range(4)
] + [
    {"id": f"B{i}", "department": "D2", "region_codes": ["510800", "511100"], "certificate_valid_until": "2027-01-01"}
    for i in range(4)
]
# Nobody of D2 covers 510901 (the 21st enterprise), nobody of D1 covers 511101 (the 26th).
order = [f"91510800MA{i:08d}" for i in range(30)]
regions = {u: ("510901" if i == 20 else "511101" if i == 25 else "510801") for i, u in enumerate(order)}
params = vd.normalize_parameters({"ratio": "0.05", "inspection_date": "2026-03-04", "workload_cap": 100})
minput = {
    "targets": [[u, regions[u], ["D1", "D2"]] for u in order],
    **vd._inspector_side(inspectors, [], []),
}
results = {}
for parallel in (False, True):
    try:
        vd._run_matching(seed, params, minput, parallel=parallel)
        results[parallel] = None
    except vd.InfeasibleMatch as exc:
        results[parallel] = [exc.uscc, exc.department, exc.missing, exc.eligible, exc.reasons]
out["serial_failure"], out["forked_failure"] = results[False], results[True]
print(json.dumps(out, ensure_ascii=False))
"""


def test_departments_matched_by_two_processes_give_the_single_pass_result() -> None:
    """With enough teams build_record matches half the departments in a forked process (run in a fresh
    interpreter: the test process has threads, and the draw forks only when it has none). The record is the
    single pass's; a lost child's departments are matched here; and of two departments that each meet a team
    they cannot fill, the one reported is the first in matching order, as in a single pass."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    run = subprocess.run(
        [sys.executable, "-c", _FORKED_MATCHING], cwd=root, capture_output=True, text=True, timeout=120, check=True
    )
    out = json.loads(run.stdout)
    assert out["forks"] >= 1 and out["same"] and out["verified"] and out["lost_same"]
    assert out["serial_failure"] is not None and out["forked_failure"] == out["serial_failure"]
    assert out["serial_failure"][0] == "91510800MA00000020"
