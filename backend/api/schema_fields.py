"""Marshmallow building blocks with Chinese validation messages: trimmed text, bounded lists, USCC, codes."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

from ..services.uscc import uscc_problem

_BASE = {"required": "必填", "null": "不能为空"}

REGION_CODE = re.compile(r"^\d{6}$")  # 6-digit 行政区划代码
INDUSTRY_CODE = re.compile(r"^[A-T](\d{2}(\d{1,2})?)?$")  # GB/T 4754: section letter + up to 4 digits


class ApiSchema(Schema):
    """Base for request and response contracts: unknown fields are refused with a Chinese message."""

    class Meta:
        unknown = RAISE

    error_messages = {"unknown": "未知字段", "type": "数据格式有误，应为 JSON 对象"}


class Text(fields.String):
    """A string with surrounding whitespace removed (so "   " is empty)."""

    default_error_messages = {**_BASE, "invalid": "应为字符串", "invalid_utf8": "不是有效的 UTF-8 文本"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return super()._deserialize(value, attr, data, **kwargs).strip()


class Int(fields.Integer):
    default_error_messages = {**_BASE, "invalid": "应为整数", "too_large": "数值过大"}

    def __init__(self, *, strict: bool = True, **kwargs: Any) -> None:
        super().__init__(strict=strict, **kwargs)  # query strings need strict=False: "2026" is text there


class Num(fields.Float):
    default_error_messages = {**_BASE, "invalid": "应为数字", "too_large": "数值过大", "special": "不是有效数字"}


class Bool(fields.Boolean):
    default_error_messages = {**_BASE, "invalid": "应为 true 或 false"}


class Day(fields.Date):
    default_error_messages = {**_BASE, "invalid": "应为日期（YYYY-MM-DD）", "format": "日期格式不正确"}


class Id(fields.UUID):
    default_error_messages = {**_BASE, "invalid_uuid": "应为 UUID"}


class Items(fields.List):
    default_error_messages = {**_BASE, "invalid": "应为数组"}


def length(min: int | None = None, max: int | None = None) -> validate.Length:  # noqa: A002
    if min and max:
        msg = "不能为空" if min == 1 else f"长度应为 {min}–{max} 个字符"
        msg = f"{msg}，且不能超过 {max} 个字符" if min == 1 else msg
    elif max:
        msg = f"长度不能超过 {max} 个字符"
    else:
        msg = f"至少 {min} 个字符"
    return validate.Length(min=min, max=max, error=msg)


def count(max: int) -> validate.Length:  # noqa: A002
    return validate.Length(max=max, error=f"最多 {max} 项")


def one_of(choices: tuple[str, ...] | list[str]) -> validate.OneOf:
    return validate.OneOf(choices, error=f"可选值：{', '.join(choices)}")


def between(lo: float, hi: float) -> validate.Range:
    return validate.Range(min=lo, max=hi, error=f"应在 {lo}–{hi} 之间")


def text(max_len: int, *, required: bool = False, **kwargs: Any) -> Text:
    """Required text must be non-empty after trimming; optional text may be empty."""
    return Text(required=required, validate=length(1 if required else None, max_len), **kwargs)


def text_list(item_max: int, max_items: int, **kwargs: Any) -> Items:
    return Items(Text(validate=length(1, item_max)), validate=count(max_items), **kwargs)


def max_len(model: Any, field: str) -> int:
    """The column length declared on the SQLModel table (one source of truth for limits)."""
    return int(model.__table__.c[field].type.length)


def check_uscc(value: str) -> None:
    problem = uscc_problem(value)
    if problem:
        raise ValidationError(problem)


class USCC(Text):
    """统一社会信用代码: upper-cased, then checked (GB 32100-2015 and the embedded GB 11714 code)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=check_uscc, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return super()._deserialize(value, attr, data, **kwargs).upper()


def region_code(**kwargs: Any) -> Text:
    return Text(validate=validate.Regexp(REGION_CODE, error="行政区划代码应为 6 位数字"), **kwargs)


def industry_code(**kwargs: Any) -> Text:
    return Text(validate=validate.Regexp(INDUSTRY_CODE, error="行业代码应符合 GB/T 4754（如 C1391、F5211）"), **kwargs)


class ListQuery(Schema):
    """Common query arguments of list endpoints; paging (page, page_size) is parsed by @blp.paginate."""

    class Meta:
        unknown = EXCLUDE

    q = Text(validate=length(None, 100), metadata={"description": "搜索"})
