"""Target selection: quotas, order independence, a pinned known answer, and the sampling distribution.

The statistical tests use fixed seeds (SHA-256 of a label), so they are deterministic and cannot flake;
they would fail if the algorithm drifted from weighted sampling without replacement. Efraimidis and
Spirakis show that taking the k largest u^(1/w) is exactly successive sampling (each next unit drawn
with probability proportional to its weight among those left), which gives exact expected frequencies:
- k = 1: the first pick is unit i with probability w_i / W (a multinomial, chi-square with n-1 df);
- k = 2: the unordered pair {i, j} has probability w_i/W * w_j/(W - w_i) + w_j/W * w_i/(W - w_j)
  (a multinomial over the n(n-1)/2 pairs);
- equal weights in strata: every unit of stratum s is included with probability quota_s / n_s and the
  quotas themselves are exact in every draw.
Thresholds are chi-square quantiles at 1 - 1e-4 (Wilson-Hilferty approximation).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from collections import Counter

import pytest

from backend.draw import verify_draw as vd

from .conftest import population, seed_for, uscc


def chi2_critical(df: int, z: float = 3.719) -> float:
    """Upper chi-square quantile via Wilson-Hilferty; z = 3.719 is the standard normal 1 - 1e-4 point."""
    a = 2.0 / (9.0 * df)
    return df * (1.0 - a + z * math.sqrt(a)) ** 3


def chosen(selection: dict) -> list[str]:
    return [uscc for s in selection["strata"] for uscc, _, _ in s["selected"]]


def quotas_for(sizes: dict[str, int], **params: object) -> dict[str, int]:
    return vd.compute_quotas(strata_sizes=sizes, parameters=params)


def test_ratio_quotas_use_largest_remainders_and_add_up() -> None:
    assert quotas_for({"A": 50, "B": 30, "C": 20}, ratio="0.05") == {"A": 3, "B": 1, "C": 1}
    assert quotas_for({"A": 1000, "B": 999, "C": 1}, ratio="0.05") == {"A": 50, "B": 50, "C": 0}
    sizes = {f"S{i:03d}": 1000 + 37 * i for i in range(200)}
    quotas = quotas_for(sizes, ratio="0.05")
    total = sum(sizes.values())
    assert sum(quotas.values()) == round(total * 0.05)
    assert all(abs(quotas[s] - sizes[s] * 0.05) < 1 for s in sizes)


def test_total_is_rounded_but_never_above_the_cap() -> None:
    assert sum(quotas_for({"A": 100}, ratio="0.05").values()) == 5
    assert sum(quotas_for({"A": 50}, ratio="0.03").values()) == 2  # 1.5 rounds up, within floor(2.5)
    assert sum(quotas_for({"A": 30}, ratio="0.05").values()) == 1  # 1.5 would round to 2 > 5 % of 30
    assert sum(quotas_for({"A": 30}, ratio="0.05", max_ratio="0.1").values()) == 2
    assert sum(quotas_for({"A": 10}, ratio="0.05").values()) == 0


def test_explicit_counts_are_checked_against_strata_and_cap() -> None:
    sizes = {"A": 100, "B": 100}
    assert quotas_for(sizes, mode="counts", counts={"A": 4, "B": 6}) == {"A": 4, "B": 6}
    assert quotas_for(sizes, mode="counts", counts={"A": 4}) == {"A": 4, "B": 0}
    with pytest.raises(vd.InvalidDrawInput, match="超过上限"):
        quotas_for(sizes, mode="counts", counts={"A": 6, "B": 6})
    with pytest.raises(vd.InvalidDrawInput, match="没有检查对象"):
        quotas_for(sizes, mode="counts", counts={"C": 1})
    with pytest.raises(vd.InvalidDrawInput, match="只有 100 户"):
        quotas_for(sizes, mode="counts", counts={"A": 101}, max_ratio="1")
    with pytest.raises(vd.InvalidDrawInput, match="名录为空"):
        quotas_for({}, ratio="0.05")


def test_draw_is_deterministic_and_independent_of_row_order() -> None:
    rows = population(2000)
    params = {"ratio": "0.05"}
    first = vd.draw_targets(population_rows=rows, seed=seed_for("order"), parameters=params)
    shuffled = list(rows)
    random.Random(3).shuffle(shuffled)  # arranges test data only; the draw never uses random
    assert vd.draw_targets(population_rows=shuffled, seed=seed_for("order"), parameters=params) == first
    assert (
        vd.draw_targets(
            population_rows=vd.normalize_population(shuffled), seed=seed_for("order"), parameters=params
        )
        == first
    )
    other = vd.draw_targets(population_rows=rows, seed=seed_for("other"), parameters=params)
    assert chosen(other) != chosen(first)
    assert first["total"] == 100 and sum(s["quota"] for s in first["strata"]) == 100
    for stratum in first["strata"]:
        keys = [float(key) for _, _, key in stratum["selected"]]
        assert keys == sorted(keys, reverse=True)


def test_membership_depends_only_on_own_stratum_seed_and_quota() -> None:
    rows = population(300, strata=("A", "B"))
    params = {"mode": "counts", "counts": {"A": 7, "B": 3}}
    base = vd.draw_targets(population_rows=rows, seed=seed_for("strata"), parameters=params)
    more_b = rows + [(uscc(10_000 + i), "B", "5.000000") for i in range(100)]
    grown = vd.draw_targets(population_rows=more_b, seed=seed_for("strata"), parameters=params)
    assert base["strata"][0] == grown["strata"][0]  # stratum A untouched
    # Changing a weight can only move that enterprise, and its key follows u^(1/w) exactly.
    target = base["strata"][0]["selected"][0][0]
    lighter = [(u, s, "0.010000" if u == target else w) for u, s, w in rows]
    after = vd.draw_targets(population_rows=lighter, seed=seed_for("strata"), parameters=params)
    assert target not in chosen(after)


def test_known_answer_vector_is_pinned() -> None:
    """shuangsui-draw-v3 is published: these values must never change without a new algorithm name."""
    seed = seed_for("golden")
    assert seed.hex() == "6b8b71f9015627d33516871cc307bdbdf17ef1db0d565db8fd7f8b1bcee0bf23"
    rows = population(60)
    selection = vd.draw_targets(
        population_rows=rows,
        seed=seed,
        parameters={"mode": "counts", "counts": {"食品经营": 2, "特种设备": 1}, "max_ratio": "1"},
    )
    assert selection == {
        "total": 3,
        "strata": [
            {"stratum": "一般企业", "size": 20, "quota": 0, "selected": []},
            {
                "stratum": "特种设备",
                "size": 20,
                "quota": 1,
                "selected": [["91510800MA00000004", "1.500000", "-7.8705781009984887e-03"]],
            },
            {
                "stratum": "食品经营",
                "size": 20,
                "quota": 2,
                "selected": [
                    ["91510800MA00000051", "2.000000", "-9.9753464196909641e-02"],
                    ["91510800MA00000027", "2.000000", "-1.4921426537332994e-01"],
                ],
            },
        ],
    }
    # The same key from first principles: the stratum's SHAKE-256 stream, the word at the enterprise's
    # position among the stratum's members in uscc order, top 52 bits, u = (2m + 1) / 2^53, ln(u) / w.
    members = sorted(u for u, s, _ in rows if s == "特种设备")
    position = members.index("91510800MA00000004")
    stream = hashlib.shake_256(b"shuangsui-draw-v3|target|" + seed + "|特种设备".encode()).digest(8 * len(members))
    m = int.from_bytes(stream[8 * position : 8 * position + 8], "big") >> 12
    expected = math.log((2 * m + 1) / 2.0**53) / 1.5
    assert math.isclose(float("-7.8705781009984887e-03"), expected, rel_tol=1e-14)


def test_libm_prefilter_never_changes_the_result() -> None:
    """Selecting by portable keys over everyone gives the same answer as the shortlisting fast path."""
    rows = population(3000, strata=("A", "B", "C"))
    params = {"ratio": "0.05"}
    for label in ("p1", "p2", "p3"):
        seed = seed_for(label)
        sizes = Counter(s for _, s, _ in rows)
        quotas = vd.compute_quotas(strata_sizes=sizes, parameters=params)
        brute: dict[str, list[str]] = {}
        for stratum in sizes:
            members = sorted((u, w) for u, s, w in rows if s == stratum)
            odds = vd.stratum_odds(seed, stratum, len(members))
            keyed = sorted(
                (-(vd.portable_ln(odd) / float(w)), u) for odd, (u, w) in zip(odds, members, strict=True)
            )
            brute[stratum] = [u for _, u in keyed[: quotas[stratum]]]
        fast = vd.draw_targets(population_rows=rows, seed=seed, parameters=params)
        assert {s["stratum"]: [e[0] for e in s["selected"]] for s in fast["strata"]} == brute


def test_sampled_shortlist_equals_the_full_one() -> None:
    """The word-threshold shortlist (bar from the weight classes) gives exactly the full libm shortlist, or
    declines; over large strata with several weight classes, small and large quotas."""
    weights = ["1.000000", "1.200000", "2.000000", "3.500000", "0.010000", "1000000.000000"]
    texts = [weights[(i * 7 + i // 13) % len(weights)] for i in range(20_000)]
    floats = {w: float(w) for w in weights}
    declined = 0
    for label, quota in (("s1", 1), ("s2", 40), ("s3", 700), ("s4", 6000)):
        stream = hashlib.shake_256(label.encode()).digest(8 * len(texts))
        words = vd._words(stream)
        full = vd._full_shortlist(words, texts, floats, quota)
        sampled = vd._shortlist(stream, words, texts, floats, quota)
        if sampled is None:
            declined += 1
        else:
            assert sampled == full
        assert len(full) >= quota
    assert declined <= 1


def test_first_pick_frequencies_are_proportional_to_weight() -> None:
    weights = [1, 1, 2, 2, 3, 3, 4, 4]
    rows = [(uscc(i), "S", f"{w}.000000") for i, w in enumerate(weights)]
    params = {"mode": "counts", "counts": {"S": 1}, "max_ratio": "1"}
    draws = 4000
    counts = Counter(
        chosen(vd.draw_targets(population_rows=rows, seed=seed_for(f"first|{r}"), parameters=params))[0]
        for r in range(draws)
    )
    total = sum(weights)
    statistic = sum(
        (counts[uscc(i)] - draws * w / total) ** 2 / (draws * w / total) for i, w in enumerate(weights)
    )
    assert statistic < chi2_critical(len(weights) - 1)


def test_pairs_follow_successive_sampling_probabilities() -> None:
    weights = [1, 2, 3, 4, 5, 6]
    rows = [(uscc(i), "S", f"{w}.000000") for i, w in enumerate(weights)]
    params = {"mode": "counts", "counts": {"S": 2}, "max_ratio": "1"}
    draws = 4000
    counts = Counter(
        frozenset(
            chosen(vd.draw_targets(population_rows=rows, seed=seed_for(f"pair|{r}"), parameters=params))
        )
        for r in range(draws)
    )
    total = sum(weights)
    statistic = 0.0
    for i, j in itertools.combinations(range(len(weights)), 2):
        wi, wj = weights[i], weights[j]
        p = wi / total * wj / (total - wi) + wj / total * wi / (total - wj)
        expected = draws * p
        assert expected >= 5
        statistic += (counts[frozenset({uscc(i), uscc(j)})] - expected) ** 2 / expected
    assert sum(counts.values()) == draws
    assert statistic < chi2_critical(len(weights) * (len(weights) - 1) // 2 - 1)


def test_strata_quotas_are_exact_and_inclusion_is_uniform_within_each() -> None:
    rows = [(uscc(i), "大", "1.000000") for i in range(30)] + [
        (uscc(100 + i), "小", "1.000000") for i in range(10)
    ]
    params = {"ratio": "0.25", "max_ratio": "1"}
    draws = 3000
    counts: Counter[str] = Counter()
    for r in range(draws):
        selection = vd.draw_targets(population_rows=rows, seed=seed_for(f"strata|{r}"), parameters=params)
        assert [(s["stratum"], s["quota"], len(s["selected"])) for s in selection["strata"]] == [
            ("大", 8, 8),  # 7.5 and 2.5: the tie on remainders goes to the larger stratum
            ("小", 2, 2),
        ]
        counts.update(chosen(selection))
    for members, quota in (([uscc(i) for i in range(30)], 8), ([uscc(100 + i) for i in range(10)], 2)):
        n = len(members)
        p = quota / n
        raw = sum((counts[u] - draws * p) ** 2 for u in members) / (draws * p * (1 - p))
        # Inclusion indicators of a fixed-size sample are negatively correlated: the raw statistic has
        # mean n and (n - 1) / n of it is chi-square with n - 1 degrees of freedom.
        assert raw * (n - 1) / n < chi2_critical(n - 1)


_TWO_PROCESSES = r"""
import json, os, sys
from backend.draw import verify_draw as vd

strata = [f"S{k:02d}" for k in range(9)]
weights = ("1.000000", "1.200000", "2.000000", "3.500000")
rows = [(f"91510800MA{i:08d}", strata[(i * 7) % 9], weights[i % 4]) for i in range(6000)]
data = vd.canonical_population_bytes(rows)
params = {"mode": "ratio", "ratio": "0.05"}
seed = bytes(range(32))
vd.PARALLEL_MIN_MEMBERS = 1000
used = []
beside = vd._draw_beside
vd._draw_beside = lambda *args: used.append(1) or beside(*args)
serial, serial_order = vd._draw_targets(rows, seed, params)
forked, forked_order = vd._draw_targets(vd.canonical_population(data), seed, params)
out = {"same": forked == serial, "forked": len(used), "total": forked["total"]}
# The matching order from the keys as drawn, by either process, is the one parsed back from the record.
out["same_order"] = forked_order == serial_order == vd.selection_order(serial)

# A child that dies: its share is drawn here instead.
child_main = vd._child_main
vd._child_main = lambda *args: os._exit(3)
lost, lost_order = vd._draw_targets(vd.canonical_population(data), seed, params)
out["lost_same"] = lost == serial and lost_order == serial_order
vd._child_main = child_main

# A stratum out of order in the child's half: the child's error is raised here.
lines = data.decode().split("\n")
last = [i for i, line in enumerate(lines) if line.split(",")[1:2] == ["S08"]]
lines[last[0]], lines[last[1]] = lines[last[1]], lines[last[0]]
try:
    vd.draw_targets(population_rows=vd.canonical_population("\n".join(lines).encode()), seed=seed, parameters=params)
    out["error"] = None
except vd.InvalidDrawInput as exc:
    out["error"] = str(exc)
print(json.dumps(out, ensure_ascii=False))
"""


def test_a_large_snapshot_is_drawn_by_two_processes_with_the_serial_result() -> None:
    """draw_targets forks for a large canonical snapshot (in a fresh interpreter: the test process has
    threads, and the draw forks only when it has none): same selection as the serial draw over the rows,
    the child's share drawn here if the child dies, the child's error raised here."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    run = subprocess.run(
        [sys.executable, "-c", _TWO_PROCESSES], cwd=root, capture_output=True, text=True, timeout=120, check=True
    )
    out = json.loads(run.stdout)
    assert out["same"] and out["same_order"] and out["forked"] == 1 and out["total"] == 300
    assert out["lost_same"]
    assert out["error"] is not None and "S08" in out["error"] and "升序" in out["error"]
