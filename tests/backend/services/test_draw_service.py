"""Draw service pieces: the sealed secret, count allocation, checkpoint merging, weights."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.config import Settings
from backend.draw import verify_draw as algorithm
from backend.errors import Conflict, Invalid
from backend.services import draws, population


def _settings(secret: str = "s" * 40) -> Settings:
    return Settings(jwt_secret=secret)


def test_secret_is_sealed_at_rest_and_unsealed_only_with_the_server_key():
    settings = _settings()
    secret = algorithm.new_secret()
    sealed = draws.seal_secret(settings, secret)
    assert secret not in sealed and sealed.startswith("v1.")
    assert draws.seal_secret(settings, secret) != sealed  # fresh nonce each time
    assert draws.unseal_secret(settings, sealed) == secret
    with pytest.raises(Conflict):
        draws.unseal_secret(replace(settings, jwt_secret="t" * 40), sealed)
    raw = bytearray(sealed.encode())
    raw[10] = ord("A") if raw[10] != ord("A") else ord("B")
    with pytest.raises(Conflict):
        draws.unseal_secret(settings, raw.decode())


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.dictionaries(
        st.sampled_from([f"S{i:02d}" for i in range(30)]), st.integers(1, 5000), min_size=1
    ),
    ratio=st.integers(1, 1000),
)
def test_count_allocation_follows_the_algorithms_largest_remainders(sizes, ratio):
    """A task's total count is shared exactly as the algorithm shares a ratio's total (same tie rules)."""
    params = {"mode": "ratio", "ratio": f"{ratio / 1000:.3f}", "max_ratio": "1"}
    expected = algorithm.compute_quotas(strata_sizes=sizes, parameters=params)
    total = sum(expected.values())
    got = population.allocate_counts(total, sizes)
    assert got == expected
    assert all(got[s] <= sizes[s] for s in sizes)


def test_same_question_merges_whatever_the_punctuation():
    key = draws._question_key
    assert key("是否按时公示年度报告？") == key("是否按时公示 年度报告?")
    assert key("是否按时公示年度报告？") != key("是否按时公示年度报告内容？")


def test_legal_basis_joins_law_and_clause_once():
    assert draws._legal_basis("《企业信息公示暂行条例》", "第八条") == "《企业信息公示暂行条例》 第八条"
    assert draws._legal_basis("《条例》第八条", "第八条") == "《条例》第八条"
    assert draws._legal_basis("", "第八条") == "第八条"


def test_weight_table_is_weight_for_memoised():
    table = population.WeightTable(None)
    for abnormal in (False, True):
        for serious in (False, True):
            for complaints in (0, 3, 50):
                for risk in (0, 1, 2, 3, 4):
                    assert table.weight(abnormal, serious, complaints, risk) == algorithm.weight_for(
                        abnormal_list=abnormal,
                        serious_violation=serious,
                        complaints=complaints,
                        risk_level=population.RISK_CLASSES.get(risk),
                    )


def test_region_prefixes_follow_the_administrative_levels():
    assert population.region_prefix("510000") == "51"
    assert population.region_prefix("510800") == "5108"
    assert population.region_prefix("510802") == "510802"


def test_add_months_clamps_to_the_month_end():
    from datetime import date

    assert population.add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)
    assert population.add_months(date(2026, 1, 15), -12) == date(2025, 1, 15)


@pytest.mark.parametrize("strata_key", ["region_code", "industry_code"])
def test_targets_resolve_the_drawn_enterprises_alone_or_as_a_whole(session, strata_key):
    """Both ways build_record may ask for the targets (docs/draw-requests.md R1) give the same attributes."""
    from types import SimpleNamespace

    from tests import factories

    ents = [factories.make_enterprise(session, region_code=r) for r in ("510802", "510811", "510802")]
    population = algorithm.normalize_population(
        [(e.uscc, e.region_code if strata_key == "region_code" else "C1391", "1") for e in ents]
    )
    targets = draws._targets_for(session, SimpleNamespace(strata_key=strata_key), population, ["D1"])
    whole = dict(targets.items())
    assert whole == {e.uscc: {"region_code": e.region_code, "departments": ["D1"]} for e in ents}
    stratum = ents[1].region_code if strata_key == "region_code" else "C1391"
    assert targets([ents[1].uscc], {ents[1].uscc: stratum}) == {ents[1].uscc: whole[ents[1].uscc]}
    assert len(targets) == 3 and set(targets) == set(whole) and targets[ents[0].uscc] == whole[ents[0].uscc]


def _spec(strata_key: str = "region_code") -> population.PopulationSpec:
    return population.PopulationSpec(
        filters={}, strata_key=strata_key, weight_rule=None, exclusions=population.Exclusions()
    )


def _directory(session) -> None:
    from tests.factories import make_enterprise

    flags = [
        {},
        {"abnormal_list": True},
        {"serious_violation": True, "risk_level": 4},
        {"blacklist": True, "complaints_count": 9},
        {"complaints_count": 2, "risk_level": 3},
        {"risk_level": 2, "industry_code": "F5211"},
    ]
    for i in range(36):
        make_enterprise(session, region_code=("510802", "510811", "510821")[i % 3], **flags[i % len(flags)])
    make_enterprise(session, status="cancelled")  # excluded by law, in both paths


@pytest.mark.parametrize("strata_key", ["region_code", "industry_code", "none"])
def test_database_written_population_csv_is_byte_identical_to_the_validating_path(session, strata_key):
    """On PostgreSQL the notice's population CSV comes from COPY; it must be exactly what the algorithm
    writes from the rows (same order, weights, strata), or the notice would commit to something else."""
    _directory(session)
    spec = _spec(strata_key)
    fast = population.canonical_population_csv(session, spec)
    session.rollback()
    rows = population.population_rows(session, spec)
    if session.connection().dialect.name != "postgresql":
        assert fast is None  # SQLite has no COPY: the notice takes the validating path
        return
    assert fast is not None
    data, sizes = fast
    assert data == algorithm.canonical_population_bytes(rows)
    assert sizes == rows.sizes()
    weights = {w for _, _, w in rows}
    assert len(weights) > 3  # the flags above produce several weight classes


def test_a_row_that_would_not_be_canonical_falls_back_to_the_validating_path(session):
    from tests.factories import make_enterprise

    _directory(session)
    make_enterprise(session, industry_code="C13,91")  # a comma in a stratum label
    spec = _spec("industry_code")
    assert population.canonical_population_csv(session, spec) is None
    session.rollback()
    with pytest.raises(Invalid, match="分层"):
        population.population_rows(session, spec)
