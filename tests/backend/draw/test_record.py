"""The public record and the standalone verifier: reproducible byte for byte, every change detected."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backend.draw import verify_draw as vd

from .conftest import (
    BEACON,
    ENTROPY_SOURCES,
    PARAMETERS,
    SECRET,
    WITNESS_NUMBERS,
    Draw,
    make_draw,
    targets_for,
    uscc,
)

SCRIPT = Path(vd.__file__)


def redigest(record: dict[str, Any]) -> dict[str, Any]:
    """What a careful forger does after editing: fix record_digest, so only recomputation can tell."""
    record["record_digest"] = vd.record_digest(record)
    return record


def write_inputs(tmp_path: Path, draw: Draw) -> tuple[Path, Path, Path]:
    record = tmp_path / "record.json"
    population = tmp_path / "population.csv"
    inspectors = tmp_path / "inspectors.csv"
    record.write_bytes(vd.record_bytes(draw.record))
    vd.write_population_csv(draw.rows, population)
    inspectors.write_bytes(vd.inspectors_csv_bytes(draw.inspectors))
    return record, population, inspectors


def run_cli(*args: Path | str) -> subprocess.CompletedProcess[str]:
    # -I: no user site, no environment, no script directory on sys.path: only the standard library.
    return subprocess.run(
        [sys.executable, "-I", *map(str, args)], capture_output=True, text=True, encoding="utf-8", timeout=120
    )


def test_record_has_the_documented_shape(draw: Draw) -> None:
    record = draw.record
    assert set(record) == {
        "algorithm",
        "notice",
        "notice_digest",
        "entropy",
        "secret",
        "seed",
        "selection",
        "matching_input",
        "matching",
        "record_digest",
    }
    assert record["algorithm"] == "shuangsui-draw-v3"
    assert record["notice"] == draw.notice
    assert record["notice_digest"] == hashlib.sha256(vd.canonical_json(draw.notice)).hexdigest()
    assert record["entropy"]["key_string"] == "2.5.6./3.17./"
    assert record["entropy"]["beacon"] == BEACON
    assert record["record_digest"] == vd.record_digest(record)
    assert record["selection"]["total"] == draw.notice["total"] == 30
    assert [t[0] for t in record["matching_input"]["targets"]] == vd.selection_order(record["selection"])
    assert [t[0] for t in record["matching"]["targets"]] == vd.selection_order(record["selection"])
    stratum = record["selection"]["strata"][0]
    uscc, weight, key = stratum["selected"][0]
    assert (uscc, weight) in {(u, w) for u, s, w in draw.rows if s == stratum["stratum"]}
    assert key == format(float(key), ".16e")
    # A team: chosen inspectors (positions in matching_input.inspectors, lead first), then the rejected
    # candidates as [position, rank, [reason codes]].
    ids = [i["id"] for i in record["matching_input"]["inspectors"]]
    assert ids == sorted(i["id"] for i in draw.inspectors)
    for (uscc, _region, departments), (same, teams) in zip(
        record["matching_input"]["targets"], record["matching"]["targets"], strict=True
    ):
        assert same == uscc and len(teams) == len(departments)
        for chosen, rejected in teams:
            assert len(chosen) == 2 and all(type(n) is int and 0 <= n < len(ids) for n in chosen)
            for n, rank, codes in rejected:
                assert n not in chosen and rank >= 1 and codes and set(codes) <= set(vd.REASON_LABELS)
    assert vd.record_bytes(record) == json.dumps(
        record, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def test_genuine_record_verifies(draw: Draw) -> None:
    assert vd.verify_record(draw.record, draw.rows) == []
    assert (
        vd.verify_record(
            draw.record, reversed(draw.rows), inspectors_rows=draw.inspectors, notice=draw.notice
        )
        == []
    )


def test_notice_publishes_everything_but_the_secret(draw: Draw) -> None:
    notice = draw.notice
    assert SECRET not in json.dumps(notice)
    assert notice["commitment"] == vd.commitment_for(SECRET)
    assert notice["population_size"] == 600 and notice["population_digest"] == vd.population_digest(draw.rows)
    assert [s["stratum"] for s in notice["strata"]] == sorted(s["stratum"] for s in notice["strata"])
    assert notice["parameters"] == vd.normalize_parameters(PARAMETERS)
    assert notice["matching_digest"] == vd.matching_digest(
        inspectors=draw.inspectors, conflicts=draw.conflicts, previous_pairings=draw.previous_pairings
    )


def _tampered(draw: Draw, edit) -> list[str]:
    record = copy.deepcopy(draw.record)
    edit(record)
    return vd.verify_record(redigest(record), draw.rows)


def test_changed_seed_is_reported(draw: Draw) -> None:
    def edit(r: dict[str, Any]) -> None:
        r["seed"] = ("0" if r["seed"][0] != "0" else "1") + r["seed"][1:]

    problems = _tampered(draw, edit)
    assert any("种子不符（seed mismatch）" in p for p in problems)


def test_changed_secret_is_reported_as_commitment_mismatch(draw: Draw) -> None:
    problems = _tampered(draw, lambda r: r.update(secret="5b" * 32))
    assert any("承诺不符（commitment mismatch）" in p for p in problems)
    assert any("种子不符" in p for p in problems)


def test_swapped_enterprise_is_reported_with_stratum_and_uscc(draw: Draw) -> None:
    stratum = draw.record["selection"]["strata"][0]
    picked = stratum["selected"][0][0]
    selected = {e[0] for e in stratum["selected"]}
    outsider = next(u for u, s, _ in draw.rows if s == stratum["stratum"] and u not in selected)

    def edit(r: dict[str, Any]) -> None:
        r["selection"]["strata"][0]["selected"][0][0] = outsider

    problems = _tampered(draw, edit)
    assert any(f"分层“{stratum['stratum']}”：记录中多出未被抽中的企业 {outsider}" in p for p in problems)
    assert any(f"缺少应被抽中的企业 {picked}" in p for p in problems)


def test_changed_key_is_reported(draw: Draw) -> None:
    def edit(r: dict[str, Any]) -> None:
        r["selection"]["strata"][1]["selected"][0][2] = "-1.0000000000000000e-01"

    problems = _tampered(draw, edit)
    assert any("key 或权重不符" in p and "-1.0000000000000000e-01" in p for p in problems)


def test_changed_team_is_reported(draw: Draw) -> None:
    uscc, teams = draw.record["matching"]["targets"][0]
    department = draw.record["matching_input"]["targets"][0][2][1]
    ids = [i["id"] for i in draw.record["matching_input"]["inspectors"]]
    stranger = next(n for n in range(len(ids)) if n not in teams[1][0])

    def edit(r: dict[str, Any]) -> None:
        r["matching"]["targets"][0][1][1][0][1] = stranger

    problems = _tampered(draw, edit)
    assert any(
        "执法检查人员匹配不符" in p and uscc in p and department in p and ids[stranger] in p for p in problems
    )


def test_changed_witness_numbers_are_reported(draw: Draw) -> None:
    def edit(r: dict[str, Any]) -> None:
        r["entropy"]["sources"][0]["numbers"] = [1, 2, 5]

    problems = _tampered(draw, edit)
    assert any("熵记录不符（entropy.key_string）" in p for p in problems)
    assert any("种子不符" in p for p in problems)


def test_edited_inspector_directory_breaks_the_notice_commitment(draw: Draw) -> None:
    def edit(r: dict[str, Any]) -> None:
        r["matching_input"]["inspectors"][0]["certificate_valid_until"] = "2099-12-31"

    problems = _tampered(draw, edit)
    assert any("notice.matching_digest" in p for p in problems)


def test_unrecomputed_digest_is_reported(draw: Draw) -> None:
    record = copy.deepcopy(draw.record)
    record["notice"]["context"]["title"] = "改过的标题"
    problems = vd.verify_record(record, draw.rows)
    assert any("记录摘要不符（record_digest）" in p for p in problems)
    assert any("公告摘要不符（notice_digest）" in p for p in problems)


def test_extra_fields_are_reported(draw: Draw) -> None:
    problems = _tampered(draw, lambda r: r.update(note="后补说明"))
    assert any("逐字节比对不一致的字段" in p and "note（多余）" in p for p in problems)


def test_changed_population_is_reported(draw: Draw) -> None:
    heavier = [(u, s, "9.000000" if i == 7 else w) for i, (u, s, w) in enumerate(draw.rows)]
    problems = vd.verify_record(draw.record, heavier)
    assert any("名录摘要不符（population digest mismatch）" in p for p in problems)
    problems = vd.verify_record(draw.record, draw.rows[1:])
    assert any("名录规模不符" in p and "599 户" in p for p in problems)


def test_published_notice_and_inspector_csv_are_compared(draw: Draw) -> None:
    published = copy.deepcopy(draw.notice)
    published["parameters"]["workload_cap"] = 13
    problems = vd.verify_record(draw.record, draw.rows, notice=published)
    assert any("与事先发布的公告不一致" in p and "notice.parameters.workload_cap" in p for p in problems)
    staff = copy.deepcopy(draw.inspectors)
    staff[3]["active"] = not staff[3]["active"]
    problems = vd.verify_record(draw.record, draw.rows, inspectors_rows=staff)
    assert problems == ["所给执法检查人员名录与记录中的不一致，涉及人员 INS003"]


def test_malformed_record_is_reported_not_raised(draw: Draw) -> None:
    assert vd.verify_record({"algorithm": "other"}, draw.rows)[0].startswith("记录的算法版本")
    broken = copy.deepcopy(draw.record)
    del broken["notice"]
    assert vd.verify_record(broken, draw.rows) != []
    broken = copy.deepcopy(draw.record)
    broken["secret"] = "not hex"
    assert any("秘密值" in p for p in vd.verify_record(broken, draw.rows))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(secret_hex="5b" * 32), "承诺值不符"),
        (dict(witness_numbers={"见证人甲": [1, 2, 3]}), "尚未录入号码"),
        (dict(witness_numbers={**WITNESS_NUMBERS, "见证人甲": [1, 2]}), "应录入 3 个号码"),
        (dict(witness_numbers={**WITNESS_NUMBERS, "路人": [1]}), "未声明"),
        (dict(beacon=None), "尚未录入取值"),
    ],
)
def test_build_record_refuses_inputs_that_do_not_match_the_notice(
    draw: Draw, change: dict, message: str
) -> None:
    kwargs: dict[str, Any] = dict(
        notice=draw.notice,
        secret_hex=SECRET,
        witness_numbers=WITNESS_NUMBERS,
        beacon=BEACON,
        population_rows=draw.rows,
        targets=targets_for(draw.rows),
        inspectors=draw.inspectors,
        conflicts=draw.conflicts,
        previous_pairings=draw.previous_pairings,
    )
    kwargs.update(change)
    with pytest.raises(vd.DrawError, match=message):
        vd.build_record(**kwargs)


def test_build_record_refuses_directories_changed_after_the_notice(draw: Draw) -> None:
    base: dict[str, Any] = dict(
        notice=draw.notice,
        secret_hex=SECRET,
        witness_numbers=WITNESS_NUMBERS,
        beacon=BEACON,
        targets=targets_for(draw.rows),
        conflicts=draw.conflicts,
        previous_pairings=draw.previous_pairings,
    )
    with pytest.raises(vd.DrawError, match="名录摘要不符"):
        vd.build_record(**base, population_rows=draw.rows[:-1], inspectors=draw.inspectors)
    staff = copy.deepcopy(draw.inspectors)
    staff[1]["active"] = not staff[1]["active"]
    with pytest.raises(vd.DrawError, match="matching_digest"):
        vd.build_record(**base, population_rows=draw.rows, inspectors=staff)
    with pytest.raises(vd.DrawError, match="必须同时匹配"):
        vd.build_record(**{**base, "targets": None}, population_rows=draw.rows, inspectors=None)


def test_notice_refuses_bad_entropy_declarations(draw: Draw) -> None:
    kwargs: dict[str, Any] = dict(
        population_rows=draw.rows, parameters=PARAMETERS, commitment=vd.commitment_for(SECRET)
    )
    with pytest.raises(vd.InvalidDrawInput, match="至少声明一个"):
        vd.make_notice(**kwargs, entropy_sources=[])
    with pytest.raises(vd.InvalidDrawInput, match="最多声明一个公共信标"):
        vd.make_notice(
            **kwargs, entropy_sources=[{"name": "a", "kind": "beacon"}, {"name": "b", "kind": "beacon"}]
        )
    with pytest.raises(vd.InvalidDrawInput, match="重复"):
        vd.make_notice(**kwargs, entropy_sources=[{"name": "a", "kind": "numbers"}] * 2)
    with pytest.raises(vd.InvalidDrawInput, match="浮点数"):
        vd.make_notice(**kwargs, entropy_sources=ENTROPY_SOURCES, context={"budget": 1.5})


def test_selection_only_draw_round_trips() -> None:
    rows = [(uscc(i), "一般企业", "1.000000") for i in range(200)]
    notice = vd.make_notice(
        population_rows=rows,
        parameters={"ratio": "0.05"},
        commitment=vd.commitment_for(SECRET),
        entropy_sources=[{"name": "drand", "kind": "beacon", "description": "drand 第 5000000 轮"}],
    )
    record = vd.build_record(notice=notice, secret_hex=SECRET, beacon="ab" * 32, population_rows=rows)
    assert record["matching"] is None and record["entropy"]["key_string"] == ""
    assert vd.verify_record(record, rows) == []


def _inputs_json(draw: Draw) -> str:
    return json.dumps(
        {
            "rows": draw.rows,
            "inspectors": draw.inspectors,
            "conflicts": draw.conflicts,
            "previous": draw.previous_pairings,
            "notice": draw.notice,
            "targets": targets_for(draw.rows),
        },
        ensure_ascii=False,
    )


BUILD_IN_SUBPROCESS = """
import hashlib, json, sys
sys.path.insert(0, sys.argv[1])
import verify_draw as vd
data = json.load(open(sys.argv[2], encoding="utf-8"))
record = vd.build_record(notice=data["notice"], secret_hex=sys.argv[3],
    witness_numbers=json.loads(sys.argv[4]), beacon=sys.argv[5], population_rows=data["rows"],
    targets=data["targets"], inspectors=data["inspectors"], conflicts=data["conflicts"],
    previous_pairings=data["previous"])
print(hashlib.sha256(vd.record_bytes(record)).hexdigest())
"""


def test_record_bytes_are_identical_across_processes_and_hash_seeds(draw: Draw, tmp_path: Path) -> None:
    inputs = tmp_path / "inputs.json"
    inputs.write_text(_inputs_json(draw), encoding="utf-8")
    expected = hashlib.sha256(vd.record_bytes(draw.record)).hexdigest()
    digests = set()
    for hash_seed in ("0", "1", "4242", "random"):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env["PYTHONHASHSEED"] = hash_seed
        # -S: no site-packages, so the standalone file is shown to need nothing beyond the standard library.
        done = subprocess.run(
            [
                sys.executable,
                "-S",
                "-c",
                BUILD_IN_SUBPROCESS,
                str(SCRIPT.parent),
                str(inputs),
                SECRET,
                json.dumps(WITNESS_NUMBERS, ensure_ascii=False),
                BEACON,
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        digests.add(done.stdout.strip())
    assert digests == {expected}


def test_rebuilding_in_process_is_identical() -> None:
    assert vd.record_bytes(make_draw(300).record) == vd.record_bytes(make_draw(300).record)


def test_cli_passes_a_genuine_record_standalone(draw: Draw, tmp_path: Path) -> None:
    record, population, inspectors = write_inputs(tmp_path, draw)
    notice = tmp_path / "notice.json"
    notice.write_bytes(vd.canonical_json(draw.notice))
    standalone = tmp_path / "elsewhere" / "verify_draw.py"
    standalone.parent.mkdir()
    shutil.copyfile(SCRIPT, standalone)
    done = run_cli(standalone, record, population, inspectors, "--notice", notice)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("验证通过 / verification passed")
    assert draw.record["seed"] in done.stdout and "抽中 selected:                30 户" in done.stdout


def test_standalone_verifier_with_a_second_process_passes_and_fails_as_with_one(tmp_path: Path) -> None:
    # Over PopulationCsv.PARALLEL_MIN_BYTES, in a fresh interpreter (no threads): a forked process parses
    # the population and draws, and hands back the selection as canonical bytes.
    big = make_draw(32_000, parameters={**PARAMETERS, "ratio": "0.002", "workload_cap": None})
    record, population, _ = write_inputs(tmp_path, big)
    assert population.stat().st_size >= vd.PopulationCsv.PARALLEL_MIN_BYTES
    done = run_cli(SCRIPT, record, population)
    assert done.returncode == 0, done.stdout + done.stderr
    forged = copy.deepcopy(big.record)
    stratum = forged["selection"]["strata"][0]
    stratum["selected"][0][1] = "9.000000"  # a weight the population does not give it
    record.write_bytes(vd.record_bytes(redigest(forged)))
    done = run_cli(SCRIPT, record, population)
    assert done.returncode == 1
    assert f"分层“{stratum['stratum']}”：企业的 key 或权重不符：{stratum['selected'][0][0]}" in done.stdout


def test_cli_fails_with_exit_1_and_says_where(draw: Draw, tmp_path: Path) -> None:
    record, population, inspectors = write_inputs(tmp_path, draw)
    forged = copy.deepcopy(draw.record)
    forged["secret"] = "00" * 32
    record.write_bytes(vd.record_bytes(redigest(forged)))
    done = run_cli(SCRIPT, record, population)
    assert done.returncode == 1
    assert (
        "验证失败 / verification FAILED" in done.stdout and "承诺不符（commitment mismatch）" in done.stdout
    )

    record.write_bytes(vd.record_bytes(draw.record))
    text = population.read_text(encoding="utf-8").replace(f"{uscc(10)},", f"{uscc(10)[:-1]}X,")
    population.write_text(text, encoding="utf-8")
    done = run_cli(SCRIPT, record, population)
    assert done.returncode == 1 and "名录摘要不符（population digest mismatch）" in done.stdout


def test_cli_refuses_reformatted_records_and_bad_usage(draw: Draw, tmp_path: Path) -> None:
    record, population, _ = write_inputs(tmp_path, draw)
    record.write_text(json.dumps(draw.record, ensure_ascii=False, indent=2, sort_keys=True), encoding="utf-8")
    done = run_cli(SCRIPT, record, population)
    assert done.returncode == 1 and "不是规范化 JSON" in done.stdout
    record.write_text("{not json", encoding="utf-8")
    done = run_cli(SCRIPT, record, population)
    assert done.returncode == 1 and "不是有效的 JSON" in done.stdout
    assert run_cli(SCRIPT, record).returncode == 2
    done = run_cli(SCRIPT, tmp_path / "missing.json", population)
    assert done.returncode == 1


def test_any_single_byte_change_to_the_record_fails(draw: Draw, tmp_path: Path, capsys) -> None:
    record_path, population, _ = write_inputs(tmp_path, draw)
    original = record_path.read_bytes()
    assert vd.main([str(record_path), str(population)]) == 0
    step = max(1, len(original) // 150)
    for position in range(0, len(original), step):
        byte = original[position]
        replacement = (
            b"7" if byte == ord("3") else b"3" if chr(byte).isdigit() else b"e" if byte == ord("a") else b"a"
        )
        record_path.write_bytes(original[:position] + replacement + original[position + 1 :])
        assert vd.main([str(record_path), str(population)]) == 1, (
            f"byte {position} ({chr(byte)!r}) not detected"
        )
    capsys.readouterr()


def test_any_single_byte_change_to_the_population_fails(draw: Draw, tmp_path: Path, capsys) -> None:
    record, population_path, _ = write_inputs(tmp_path, draw)
    original = population_path.read_bytes()
    step = max(1, len(original) // 60)
    for position in range(len("uscc,stratum,weight\n"), len(original), step):
        byte = original[position]
        if byte == ord("\n"):
            continue
        replacement = b"7" if byte == ord("3") else b"3" if chr(byte).isdigit() else b"Q"
        population_path.write_bytes(original[:position] + replacement + original[position + 1 :])
        assert vd.main([str(record), str(population_path)]) == 1, f"byte {position} not detected"
    capsys.readouterr()


def test_a_record_of_another_algorithm_version_is_refused_by_name(draw: Draw) -> None:
    record = copy.deepcopy(draw.record)
    record["algorithm"] = "shuangsui-draw-v2"
    problems = vd.verify_record(record, draw.rows)
    assert problems == ["记录的算法版本（algorithm）为 'shuangsui-draw-v2'，本验证程序只支持 shuangsui-draw-v3"]
