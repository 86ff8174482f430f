"""Import building blocks: the fast USCC check, converters, header binding, file reading, ids."""

from __future__ import annotations

import io
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.errors import Invalid
from backend.services import imports, tables
from backend.services.uscc import USCC_CHARSET, make_uscc, uscc_problem

USCC_LIKE = st.text(alphabet=USCC_CHARSET + "IOZSVa", min_size=16, max_size=19)


@settings(max_examples=3000, deadline=None)
@given(USCC_LIKE)
def test_fast_uscc_check_agrees_with_uscc_problem(code):
    assert imports._uscc_ok(code) == (uscc_problem(code) is None)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(["510802", "510821", "110105"]), st.integers(0, 99_999_999), st.sampled_from("123"))
def test_fast_uscc_check_accepts_every_valid_code(region, serial, kind):
    code = make_uscc(region, serial, entity_type=kind)
    assert imports._uscc_ok(code)
    values, errors = imports.uscc_cells([code.lower(), " " + code + " "])
    assert values == [code, code] and not errors


def test_uscc_cells_give_the_chinese_reason():
    good = make_uscc("510802", 12345678)
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    _, errors = imports.uscc_cells([good, bad, "", "123"])
    assert set(errors) == {1, 2, 3}
    assert "校验位" in errors[1] and errors[2] == "不能为空" and "18 位" in errors[3]


def test_converters():
    assert imports.bool_cells(True)(["", "是", "否", "TRUE", "0"]) == ([True, True, False, True, False], {})
    assert imports.bool_cells(False)(["也许"])[1] == {0: "“也许”不是有效的是/否值（可填 是、否）"}
    assert imports.int_cells(1, 4, 1)(["", "3", "x", "9"]) == ([1, 3, None, 9], {2: "“x”不是整数", 3: "应在 1–4 之间"})
    values, errors = imports.date_cells(["2020-01-02", "2020/1/2", "2020年1月2日", "2020-02-30", ""])
    assert [str(v) for v in values[:3]] == ["2020-01-02"] * 3 and set(errors) == {3} and values[4] is None
    assert imports.list_cells(8, 3)(["食品；药品、食品", ""]) == ([["食品", "药品"], []], {})
    assert imports.list_cells(8, 1)(["甲,乙"])[1] == {0: "最多 1 项"}
    assert imports.text_cells(3, required=True)(["  ab ", "", "abcd"]) == (
        ["ab", "", "abcd"],
        {1: "不能为空", 2: "长度不能超过 3 个字符（当前 4 个）"},
    )
    assert imports.float_cells(-90, 90)(["32.5", "nan", "91"])[1] == {1: "应在 -90–90 之间", 2: "应在 -90–90 之间"}


def test_csv_unescape_is_the_inverse_of_formula_safe():
    from backend.services.exports import formula_safe

    samples = ["=1+1", "+86", "-", "@x", "'", "''=", "'abc", "plain", "", "中文"]
    assert imports.csv_unescape([formula_safe(s) for s in samples]) == samples


def test_header_binding():
    binding = imports.bind_header("enterprises", ["\ufeff统一社会信用代码*", "名称（必填）", "", "phone"])
    assert [c.field for _, c, _ in binding.columns] == ["uscc", "name", "phone"] and binding.unnamed == [2]
    with pytest.raises(Invalid) as dup:
        imports.bind_header("enterprises", ["统一社会信用代码", "uscc"])
    assert "重复" in dup.value.message
    with pytest.raises(Invalid) as unknown:
        imports.bind_header("inspectors", ["工号", "姓名", "部门编码", "执法证号", "血型"])
    assert unknown.value.errors == {"columns": ["未知的列：血型"]}


def test_time_ordered_ids_are_valid_increasing_uuid7():
    ids = imports.TimeOrderedIds().take(3)
    parsed = [uuid.UUID(i) for i in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert parsed == sorted(parsed) and len(set(parsed)) == 3


def test_encoding_detection_and_sample_boundaries():
    text = "统一社会信用代码,名称\n" + "甲" * 10
    assert tables.detect_encoding(text.encode("utf-8"), True) == "utf-8"
    assert tables.detect_encoding(text.encode("utf-8")[:-1], False) == "utf-8"  # cut inside a character
    assert tables.detect_encoding(text.encode("gbk"), True) == "gb18030"
    assert tables.detect_encoding("\ufeff".encode() + text.encode(), True) == "utf-8-sig"
    with pytest.raises(Invalid):
        tables.detect_encoding(b"\x81\x20\xff\xfe\x00" * 10 + b"\x81", True)


def test_tab_separated_text_is_read():
    data = "统一社会信用代码\t名称\n" + make_uscc("510802", 1) + "\t甲\n"
    table = tables.open_table(io.BytesIO(data.encode()), filename="x.txt")
    try:
        assert table.header == ["统一社会信用代码", "名称"]
        assert [[list(c) for c in chunk.columns] for chunk in table.chunks] == [[[make_uscc("510802", 1)], ["甲"]]]
    finally:
        table.close()


def read_all(data: bytes, **kw):
    table = tables.open_table(io.BytesIO(data), filename="x.csv", **kw)
    try:
        out = []
        for chunk in table.chunks:
            rows = list(zip(*chunk.columns, strict=True)) if chunk.columns and len(chunk.columns[0]) else []
            out.extend(zip(chunk.numbers, map(list, rows), strict=True))
        return table.header, out
    finally:
        table.close()


@pytest.mark.parametrize(
    "text",
    [
        "a,b\n1,2\n3,4\n",
        "a,b\r\n1,2\r\n3,4",  # CRLF, no final line break
        'a,b\n1,"x,y"\n"multi\nline",4\n5,6\n',  # quotes switch to csv.reader mid-file
        "a,b\n1,2\n\n,\n3,4\n",  # blank and all-empty rows keep their numbers
        "a,b\n1,2,3\n4\n",  # uneven rows
        "a,b\r1,2\r3,4\r",  # old Mac line ends
        "a\nx\n\ny\n",  # a single column
    ],
)
def test_fast_block_split_matches_csv_reader(text, monkeypatch):
    import csv

    expected_rows = list(csv.reader(io.StringIO(text, newline="")))
    expected = [(i + 1, r) for i, r in enumerate(expected_rows) if i and any(r)]
    width = len(expected_rows[0])
    expected = [(n, (r + [""] * width)[:width]) for n, r in expected]
    for block in (2_500_000, 7):  # one block, and blocks that cut lines and quoted fields
        monkeypatch.setattr(tables, "BLOCK_CHARS", block)
        header, rows = read_all(text.encode())
        assert header == expected_rows[0] and rows == expected, block


def test_nul_characters_are_refused_for_text_columns():
    data = ("统一社会信用代码,名称\n" + make_uscc("510802", 1) + ",甲\x00乙\n").encode()
    table = tables.open_table(io.BytesIO(data), filename="x.csv")
    try:
        report = imports.ImportReport("enterprises")
        binding = imports.bind_header("enterprises", table.header)
        _, valid = imports.convert_chunk(binding, next(table.chunks), report)
    finally:
        table.close()
    assert valid == [] and report.errors[0].message == "含有不可见的控制字符（NUL）"


def test_xls_is_refused_with_advice():
    with pytest.raises(Invalid) as exc:
        tables.open_table(io.BytesIO(b"\xd0\xcf\x11\xe0"), filename="old.xls")
    assert ".xlsx" in exc.value.message


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.integers(0, 99_999_999), min_size=1, max_size=40),
    st.lists(st.tuples(st.integers(0, 39), st.integers(0, 17), st.sampled_from(USCC_CHARSET + "IOZSV_é ")), max_size=3),
)
def test_column_uscc_check_agrees_with_the_per_code_check(serials, mutations):
    codes = [make_uscc("510802", s) for s in serials]
    for row, pos, char in mutations:
        if row < len(codes):
            codes[row] = codes[row][:pos] + char + codes[row][pos + 1 :]
    assert imports._all_uscc_ok(codes) == all(map(imports._uscc_ok, codes))
