"""Building blocks of shuangsui-draw-v3: HKDF, RFC 3797 key strings, commitments, canonical forms, weights."""

from __future__ import annotations

import hashlib
import math
from decimal import Decimal, localcontext

import pytest

from backend.draw import verify_draw as vd

from .conftest import SECRET, population, uscc


@pytest.mark.parametrize(
    ("ikm", "salt", "info", "length", "okm"),
    [
        (  # RFC 5869 A.1
            bytes([0x0B]) * 22,
            bytes(range(13)),
            bytes(range(0xF0, 0xFA)),
            42,
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
        ),
        (  # RFC 5869 A.2
            bytes(range(0x00, 0x50)),
            bytes(range(0x60, 0xB0)),
            bytes(range(0xB0, 0x100)),
            82,
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09"
            "da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87",
        ),
        (  # RFC 5869 A.3: empty salt and info
            bytes([0x0B]) * 22,
            b"",
            b"",
            42,
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
        ),
    ],
)
def test_hkdf_matches_rfc5869_vectors(ikm: bytes, salt: bytes, info: bytes, length: int, okm: str) -> None:
    assert vd.hkdf_sha256(ikm=ikm, salt=salt, info=info, length=length).hex() == okm


def test_rfc3797_key_string_sorts_each_source_and_closes_it_with_a_slash() -> None:
    assert (
        vd.rfc3797_key_string([[25, 9, 22, 18, 21, 20], [1, 25], [0, 7]]) == "9.18.20.21.22.25./1.25./0.7./"
    )
    assert vd.rfc3797_key_string([]) == ""
    with pytest.raises(vd.InvalidDrawInput):
        vd.rfc3797_key_string([[1, -2]])
    with pytest.raises(vd.InvalidDrawInput):
        vd.rfc3797_key_string([[]])
    with pytest.raises(vd.InvalidDrawInput):
        vd.rfc3797_key_string([[True]])


def test_commitment_is_sha256_of_prefix_and_secret() -> None:
    expected = hashlib.sha256(b"shuangsui-draw-commit-v1" + bytes.fromhex(SECRET)).hexdigest()
    assert vd.commitment_for(SECRET) == expected
    assert len(vd.new_secret()) == 64
    assert vd.new_secret() != vd.new_secret()
    for bad in ("5A" * 32, "5a" * 31, "zz" * 32, 42):
        with pytest.raises(vd.InvalidDrawInput):
            vd.commitment_for(bad)  # type: ignore[arg-type]


def test_seed_needs_entropy_after_the_notice_and_binds_every_input() -> None:
    digest = "ab" * 32
    params = {"mode": "ratio", "ratio": "0.05"}
    base = vd.compute_seed(
        secret_hex=SECRET, witness_numbers=[[3, 1]], beacon="x", population_digest=digest, parameters=params
    )
    assert len(base) == 32
    variants = [
        dict(secret_hex="5b" * 32),
        dict(witness_numbers=[[3, 2]]),
        dict(beacon="y"),
        dict(population_digest="ac" * 32),
        dict(parameters={"mode": "ratio", "ratio": "0.04"}),
    ]
    for change in variants:
        kwargs = dict(
            secret_hex=SECRET,
            witness_numbers=[[3, 1]],
            beacon="x",
            population_digest=digest,
            parameters=params,
        )
        kwargs.update(change)
        assert vd.compute_seed(**kwargs) != base  # type: ignore[arg-type]
    # Numbers within a source are sorted: witness order does not matter, the values do.
    same = vd.compute_seed(
        secret_hex=SECRET, witness_numbers=[[1, 3]], beacon="x", population_digest=digest, parameters=params
    )
    assert same == base
    with pytest.raises(vd.InvalidDrawInput, match="见证号码或公共信标"):
        vd.compute_seed(secret_hex=SECRET, population_digest=digest, parameters=params)


def test_seed_is_hkdf_of_secret_with_salt_from_key_string_and_beacon() -> None:
    digest = "cd" * 32
    params = vd.normalize_parameters({"mode": "ratio", "ratio": "0.05"})
    salt = hashlib.sha256(b"1.3./beacon").digest()
    info = b"shuangsui-draw-v3|" + digest.encode() + b"|" + vd.canonical_json(params)
    expected = vd.hkdf_sha256(ikm=bytes.fromhex(SECRET), salt=salt, info=info)
    seed = vd.compute_seed(
        secret_hex=SECRET,
        witness_numbers=[[3, 1]],
        beacon="beacon",
        population_digest=digest,
        parameters=params,
    )
    assert seed == expected


def test_random_words_are_shake256_of_domain_seed_and_label_read_big_endian() -> None:
    seed = bytes(range(32))
    for label, count in (("食品经营", 3), ("", 1), ("91510800MA00000001|市场监管局", 5)):
        stream = hashlib.shake_256(b"shuangsui-draw-v3|target|" + seed + b"|" + label.encode()).digest(8 * count)
        words = [int.from_bytes(stream[8 * i : 8 * i + 8], "big") for i in range(count)]
        assert list(vd._words(vd._stream(vd.TARGET_DOMAIN, seed, label, count))) == words
        assert vd.stratum_odds(seed, label, count) == [(w >> 11) | 1 for w in words]
    # A longer stream extends a shorter one: a stratum's words do not depend on how many follow.
    assert vd.stratum_odds(seed, "S", 10)[:4] == vd.stratum_odds(seed, "S", 4)


def test_portable_ln_is_accurate_and_matches_its_specification() -> None:
    odds = [1, 3, 2**52 - 1, 2**52 + 1, 2**53 - 1] + [
        (i * 0x9E3779B97F4A7C15 % 2**53) | 1 for i in range(1, 400)
    ]
    with localcontext() as ctx:
        ctx.prec = 40
        for odd in odds:
            value = vd.portable_ln(odd)
            exact = (Decimal(odd) / Decimal(2**53)).ln()
            assert abs((Decimal(value) - exact) / exact) < Decimal("1e-15")
            assert abs(value - math.log(odd * 2.0**-53)) <= 4 * math.ulp(value)
    # Pinned bit patterns: any change here changes every published key and needs a new algorithm name.
    assert vd.portable_ln(1).hex() == "-0x1.25e4f7b2737fap+5"
    assert vd.portable_ln(2**53 - 1).hex() == "-0x1.0000000000000p-53"


def test_canonical_json_is_sorted_compact_utf8_and_refuses_floats() -> None:
    assert vd.canonical_json({"b": 1, "a": ["中", None, True]}) == '{"a":["中",null,true],"b":1}'.encode()
    with pytest.raises(vd.InvalidDrawInput, match="浮点数"):
        vd.canonical_json({"ratio": 0.05})


def test_weights_are_six_place_decimal_strings() -> None:
    assert vd.format_weight("1.5") == "1.500000"
    assert vd.format_weight(2) == "2.000000"
    assert vd.format_weight(Decimal("0.000001")) == "0.000001"
    for bad in ("0", "-1", "1.0000001", "abc", "1e3", 1.5, True, "1_000", "1000000.5"):
        with pytest.raises(vd.InvalidDrawInput):
            vd.format_weight(bad)  # type: ignore[arg-type]


def test_weight_rule_raises_weight_for_flagged_entities() -> None:
    assert vd.weight_for() == "1.000000"
    assert vd.weight_for(abnormal_list=True) == "2.000000"
    assert vd.weight_for(serious_violation=True, risk_level="D") == "6.000000"
    assert vd.weight_for(complaints=2) == "1.400000"
    assert vd.weight_for(complaints=50) == "2.000000"  # capped at 5 complaints
    custom = {"abnormal_list": "1.5", "risk_levels": {"低": "1", "高": "3"}}
    assert vd.weight_for(abnormal_list=True, risk_level="高", rule=custom) == "4.500000"
    with pytest.raises(vd.InvalidDrawInput, match="未知风险等级"):
        vd.weight_for(risk_level="Z")
    with pytest.raises(vd.InvalidDrawInput, match="未知字段"):
        vd.weight_for(rule={"bonus": "2"})


def test_population_digest_is_over_canonical_sorted_csv() -> None:
    # Canonical order: strata by name in code points (乙 U+4E59 before 甲 U+7532), then uscc within each.
    rows = [
        ("91510800MA00000002", "乙", "1.5"),
        ("91510800MA00000003", "甲", "1"),
        ("91510800MA00000001", "甲", "2"),
        ("91510800MA00000000", "乙", "3.25"),
    ]
    data = vd.canonical_population_bytes(rows)
    assert data == (
        "uscc,stratum,weight\n"
        "91510800MA00000000,乙,3.250000\n"
        "91510800MA00000002,乙,1.500000\n"
        "91510800MA00000001,甲,2.000000\n"
        "91510800MA00000003,甲,1.000000\n"
    ).encode()
    parsed = vd.parse_population_csv(data)
    assert parsed.strata == {
        "乙": (["91510800MA00000000", "91510800MA00000002"], ["3.250000", "1.500000"]),
        "甲": (["91510800MA00000001", "91510800MA00000003"], ["2.000000", "1.000000"]),
    }
    assert list(parsed) == [tuple(line.split(",")) for line in data.decode().splitlines()[1:]]
    assert vd.population_digest(rows) == hashlib.sha256(data).hexdigest()
    assert vd.population_digest(reversed(rows)) == vd.population_digest(rows)
    assert vd.population_digest([{"uscc": u, "stratum": s, "weight": w} for u, s, w in rows]) == (
        vd.population_digest(rows)
    )


def test_population_csv_round_trip_tolerates_formatting_but_not_content_changes(tmp_path) -> None:
    rows = population(50)
    path = tmp_path / "population.csv"
    digest = vd.write_population_csv(rows, path)
    parsed = vd.parse_population_csv(path.read_bytes())
    assert vd.population_digest(parsed) == digest == vd.population_digest(rows)
    lines = path.read_text(encoding="utf-8").splitlines()
    reformatted = "\ufeff" + "\r\n".join([lines[0]] + lines[:0:-1]) + "\r\n"
    assert vd.population_digest(vd.parse_population_csv(reformatted.encode())) == digest
    changed = path.read_text(encoding="utf-8").replace(",1.000000\n", ",1.000001\n", 1)
    assert vd.population_digest(vd.parse_population_csv(changed)) != digest
    # Canonical lines in another order, or a weight written short, are parsed and re-serialised.
    assert vd.population_digest(vd.parse_population_csv("\n".join([lines[0]] + lines[:0:-1]) + "\n")) == digest
    shortened = path.read_bytes().replace(b",1.000000\n", b",1\n")
    assert vd.population_digest(vd.parse_population_csv(shortened)) == digest
    # A line with a field too many and another with one too few do not add up to a valid file.
    swapped = path.read_text(encoding="utf-8").splitlines()
    swapped[1] += ",X"
    swapped[2] = swapped[2].rsplit(",", 1)[0]
    with pytest.raises(vd.InvalidDrawInput, match="第 2 行应有 3 列"):
        vd.parse_population_csv("\n".join(swapped) + "\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("uscc,weight\n", "表头"),
        ("uscc,stratum,weight\n91510800MA00000001,甲\n", "第 2 行应有 3 列"),
        ("uscc,stratum,weight\n91510800MA00000001,甲,1\n91510800MA00000001,乙,1\n", "重复"),
        ("uscc,stratum,weight\n9151 0800,甲,1\n", "统一社会信用代码"),
        ("uscc,stratum,weight\n91510800MA00000001, 甲,1\n", "分层"),
        ("uscc,stratum,weight\n91510800MA00000001,甲,0\n", "权重"),
    ],
)
def test_population_csv_errors_are_explained(text: str, message: str) -> None:
    with pytest.raises(vd.InvalidDrawInput, match=message):
        vd.parse_population_csv(text.encode())


def _canonical_with(line: str, *, after: int = 1) -> bytes:
    """A canonical 30-row file with ``line`` inserted after data line ``after`` (layout still canonical)."""
    lines = vd.canonical_population_bytes(population(30)).decode().splitlines()
    return ("\n".join([*lines[: after + 1], line, *lines[after + 1 :]]) + "\n").encode()


@pytest.mark.parametrize(
    ("line", "after", "message"),
    [
        # The same enterprise in two strata: each stratum alone is sorted and unique.
        (f"{uscc(0)},特种设备,1.000000", 10, "重复"),
        ("_9151080000000000X,一般企业,1.000000", 10, "统一社会信用代码"),
        ("-9151080000000000X,一般企业,1.000000", 0, "统一社会信用代码"),
        (".9151080000000000X,一般企业,1.000000", 0, "统一社会信用代码"),
        ("9" * 65 + ",一般企业,1.000000", 10, "统一社会信用代码"),
        (f"{uscc(2)}Ä,一般企业,1.000000", 1, "统一社会信用代码"),
        (f"{uscc(2)}1,一般企业,0.000000", 1, "权重"),
        (f"{uscc(2)}1,一般企业,1.0000001", 1, "权重"),
    ],
)
def test_a_file_laid_out_canonically_is_still_validated_row_by_row(line: str, after: int, message: str) -> None:
    data = _canonical_with(line, after=after)
    stratum = line.split(",")[1]
    members = [u for u, s, _ in (row.split(",") for row in data.decode().splitlines()[1:]) if s == stratum]
    assert members == sorted(set(members))  # the stratum still in uscc order, no member twice in it
    # Laid out as a canonical file, strata sorted: what refuses it is the bulk check of its rows...
    assert vd._canonical_blocks(data, data.decode()) is not None
    assert vd._validated_blocks(data, data.decode()) is None
    # ...and the general path then names what is wrong.
    with pytest.raises(vd.InvalidDrawInput, match=message):
        vd.parse_population_csv(data)


def test_a_canonically_laid_out_file_with_short_weights_or_unsorted_rows_is_put_in_canonical_form() -> None:
    rows = population(30)
    data = vd.canonical_population_bytes(rows)
    parsed = vd.parse_population_csv(data)
    assert vd.canonical_population_bytes(parsed) is data  # its own canonical form, validated in bulk
    assert parsed.strata == vd.normalize_population(rows).strata
    lines = data.decode().splitlines()
    swapped = [lines[0], lines[2], lines[1], *lines[3:]]  # two members of the first stratum out of order
    for variant in (data.replace(b",2.000000\n", b",2\n"), ("\n".join(swapped) + "\n").encode()):
        reparsed = vd.parse_population_csv(variant)
        assert reparsed.strata == parsed.strata
        assert vd.population_digest(reparsed) == vd.population_digest(rows)


def test_population_rejects_separator_characters_in_identifiers() -> None:
    for bad in [
        (uscc(1) + "|x", "甲", "1"),
        (uscc(1), "甲|乙", "1"),
        (uscc(1), "甲\n", "1"),
        (uscc(1) + "\nX", "甲", "1"),
    ]:
        with pytest.raises(vd.InvalidDrawInput):
            vd.normalize_population([bad])


def test_parameters_are_normalised_and_the_cap_is_enforced() -> None:
    params = vd.normalize_parameters({"ratio": "0.050"})
    assert (
        params["ratio"] == "0.05" and params["max_ratio"] == "0.05" and params["inspectors_per_target"] == 2
    )
    assert vd.normalize_parameters(params) == params
    with pytest.raises(vd.InvalidDrawInput, match="超过上限"):
        vd.normalize_parameters({"ratio": "0.06"})
    assert vd.normalize_parameters({"ratio": "0.2", "max_ratio": "0.3"})["ratio"] == "0.2"
    with pytest.raises(vd.InvalidDrawInput, match="至少需要 2 名"):
        vd.normalize_parameters({"ratio": "0.05", "inspectors_per_target": 1})
    with pytest.raises(vd.InvalidDrawInput, match="未知字段"):
        vd.normalize_parameters({"ratio": "0.05", "ratoi": "0.05"})
    with pytest.raises(vd.InvalidDrawInput, match="十进制"):
        vd.normalize_parameters({"ratio": 0.05})


def test_canonical_population_cuts_stored_bytes_into_strata_and_falls_back_otherwise() -> None:
    rows = population(90)
    data = vd.canonical_population_bytes(rows)
    fast = vd.canonical_population(data)
    assert fast.strata == vd.parse_population_csv(data).strata == vd.normalize_population(rows).strata
    assert vd.canonical_population_bytes(fast) is data  # its own canonical form: nothing re-serialised
    lines = data.decode().splitlines()
    shuffled = ("\n".join([lines[0], *reversed(lines[1:])]) + "\n").encode()
    assert vd.canonical_population(shuffled).strata == fast.strata  # re-sorted by the validating path
    with pytest.raises(vd.InvalidDrawInput, match="重复"):
        vd.canonical_population(data + lines[1].encode() + b"\n")
