"""统一社会信用代码 (GB 32100-2015) validation, including the embedded GB 11714 organisation code."""

from __future__ import annotations

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 symbols: no I, O, Z, S, V
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_VALUE = {c: i for i, c in enumerate(USCC_CHARSET)}


def _org_char_value(c: str) -> int:
    if c.isdigit():
        return int(c)
    if "A" <= c <= "Z":
        return ord(c) - ord("A") + 10
    raise ValueError(c)


def org_code_check_char(body8: str) -> str:
    total = sum(_org_char_value(c) * w for c, w in zip(body8, ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def uscc_check_char(body17: str) -> str:
    total = sum(_VALUE[c] * w for c, w in zip(body17, USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def uscc_problem(code: str) -> str | None:
    """Return a Chinese reason why `code` is not a valid USCC, or None if it is."""
    if not isinstance(code, str) or len(code) != 18:
        return "统一社会信用代码应为 18 位"
    if code != code.upper():
        return "统一社会信用代码应使用大写字母"
    bad = [c for c in code if c not in _VALUE]
    if bad:
        return f"统一社会信用代码含有非法字符“{bad[0]}”（不得使用 I、O、Z、S、V）"
    if not code[2:8].isdigit():
        return "统一社会信用代码第 3–8 位应为登记管理机关行政区划码（数字）"
    org = code[8:17]
    try:
        if org_code_check_char(org[:8]) != org[8]:
            return "统一社会信用代码中的组织机构代码（第 9–17 位）校验位错误"
    except ValueError:
        return "统一社会信用代码中的组织机构代码（第 9–17 位）格式错误"
    if uscc_check_char(code[:17]) != code[17]:
        return "统一社会信用代码校验位（第 18 位）错误"
    return None


def is_valid_uscc(code: str) -> bool:
    return uscc_problem(code) is None


def make_uscc(region_code: str, serial: int, authority: str = "9", entity_type: str = "1") -> str:
    """Build a valid USCC from a region and a serial number (demo data, tests, benchmarks)."""
    digits = "0123456789ABCDEFGHJKLMNPQRTUWXY"[:10]  # the org-code body uses digits here
    body8 = ""
    n = serial
    for _ in range(8):
        body8 = digits[n % 10] + body8
        n //= 10
    org = body8 + org_code_check_char(body8)
    body17 = authority + entity_type + region_code + org
    return body17 + uscc_check_char(body17)
