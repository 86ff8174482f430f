"""Personal data masking for everything the public sees: natural persons' names, phone numbers, ID numbers.

Officials acting in their role (inspectors, department heads) are not masked. Enterprise names and USCCs are
public registration facts and are not masked either. Free text is masked by pattern (ID numbers, phones,
"负责人：某某") and by the names we know belong to natural persons of the case (legal representative,
the enterprise representative who signed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# 居民身份证号: region (6) + birth date (8) + sequence (3) + check (digit or X); also the 15-digit form.
ID_18 = re.compile(
    r"(?<![0-9A-Za-z])([1-9]\d{5})(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}"
    r"([0-9Xx])(?![0-9A-Za-z])"
)
ID_15 = re.compile(
    r"(?<![0-9A-Za-z])([1-9]\d{5})\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}(?![0-9A-Za-z])"
)
MOBILE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?!\d)")
LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})[- ]?(\d{7,8})(?!\d)")
# A role word followed by a colon (or 为) and a 2–4 character name: "负责人：王小明", "法定代表人为张三".
ROLE_NAME = re.compile(
    r"(法定代表人|法人代表|负责人|经营者|业主|联系人|当事人|股东|投资人|企业代表|签字人)"
    r"(\s*(?:[:：]|为|是)\s*)([\u4e00-\u9fff·]{2,4})"
)
HAN = re.compile(r"^[\u4e00-\u9fff·]+$")


def mask_name(name: str | None) -> str:
    """张三 → 张*, 欧阳小明 → 欧*: the first character and one mark, so not even the length shows."""
    name = (name or "").strip()
    if not name:
        return ""
    return name[0] + "*"


def _mask_id18(m: re.Match[str]) -> str:
    return m.group(1) + "*" * 11 + m.group(2) if len(m.group(0)) == 18 else "*" * len(m.group(0))


def _mask_mobile(m: re.Match[str]) -> str:
    return f"{m.group(1)}****{m.group(3)}"


def _mask_landline(m: re.Match[str]) -> str:
    return f"{m.group(1)}-****{m.group(2)[-2:]}"


def _mask_role_name(m: re.Match[str]) -> str:
    return m.group(1) + m.group(2) + mask_name(m.group(3))


def mask_text(text: str | None, *, names: Iterable[str | None] = ()) -> str:
    """Mask ID numbers, phone numbers, role-tagged names and the given natural persons' names in free text."""
    if not text:
        return ""
    out = ID_18.sub(_mask_id18, text)
    out = ID_15.sub(lambda m: m.group(1) + "*" * 9, out)
    out = MOBILE.sub(_mask_mobile, out)
    out = LANDLINE.sub(_mask_landline, out)
    out = ROLE_NAME.sub(_mask_role_name, out)
    # Longest first, so "欧阳小明" is masked before a shorter name contained in it.
    for name in sorted({(n or "").strip() for n in names}, key=len, reverse=True):
        if len(name) >= 2:
            out = out.replace(name, mask_name(name))
    return out


def is_natural_person_name(value: str | None) -> bool:
    value = (value or "").strip()
    return 2 <= len(value) <= 6 and bool(HAN.match(value))
