"""Chinese statutory working days (法定节假日与调休, via chinesecalendar) plus local admin overrides.

Deadlines in the 双随机 rules are counted in 工作日: a batch starts within 5 working days of dispatch
and results are published within 20 working days of completion. ``add_workdays(start, n)`` counts
``start`` as day 0 and returns the n-th working day after it, so "within 5 工作日 of dispatch" is
``add_workdays(dispatch, 5)``. Overrides map a date to True (working day) or False (day off) and win
over the national calendar; the service layer loads them from the database. A date in a year the
installed chinesecalendar does not cover raises CalendarNotCovered unless an override decides it.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping

import chinese_calendar

from backend.errors import Invalid

Overrides = Mapping[datetime.date, bool]

_FIRST_YEAR = min(chinese_calendar.holidays).year
_LAST_YEAR = max(chinese_calendar.holidays).year


class CalendarNotCovered(Invalid):
    """The national holiday schedule for this year is not known (the State Council publishes it yearly)."""

    def __init__(self, year: int) -> None:
        self.year = year
        super().__init__(
            f"{year} 年的法定节假日安排尚未收录（chinesecalendar {chinese_calendar.__version__} "
            f"仅覆盖 {_FIRST_YEAR}–{_LAST_YEAR} 年），请升级节假日数据，或由管理员录入该日期的本地调整",
            errors={"year": [f"不支持的年份 {year}"]},
        )


def covered_years() -> range:
    """Years whose holidays and make-up working days (调休) the installed calendar knows."""
    return range(_FIRST_YEAR, _LAST_YEAR + 1)


def _as_date(value: datetime.date) -> datetime.date:
    if isinstance(value, datetime.datetime):
        return value.date()
    if not isinstance(value, datetime.date):
        raise Invalid(f"日期无效：{value!r}")
    return value


def _normalize(overrides: Overrides | None) -> dict[datetime.date, bool]:
    if not overrides:
        return {}
    out = {}
    for day, working in overrides.items():
        if not isinstance(working, bool):
            raise Invalid(f"本地调整 {day} 的取值必须是布尔值（True 为工作日，False 为休息日）")
        out[_as_date(day)] = working
    return out


def _is_workday(day: datetime.date, overrides: dict[datetime.date, bool]) -> bool:
    if day in overrides:
        return overrides[day]
    if not _FIRST_YEAR <= day.year <= _LAST_YEAR:
        raise CalendarNotCovered(day.year)
    return bool(chinese_calendar.is_workday(day))


def is_workday(d: datetime.date, overrides: Overrides | None = None) -> bool:
    """True on a statutory working day (including make-up Saturdays/Sundays), after local overrides."""
    return _is_workday(_as_date(d), _normalize(overrides))


def add_workdays(start: datetime.date, n: int, overrides: Overrides | None = None) -> datetime.date:
    """The n-th working day after ``start`` (day 0); negative n counts backwards; n = 0 returns start."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise Invalid(f"工作日数必须是整数：{n!r}")
    table = _normalize(overrides)
    day = _as_date(start)
    step = datetime.timedelta(days=1 if n > 0 else -1)
    remaining = abs(n)
    while remaining:
        day += step
        if _is_workday(day, table):
            remaining -= 1
    return day


def workdays_between(a: datetime.date, b: datetime.date, overrides: Overrides | None = None) -> int:
    """Signed working days stepped onto going from a to b: the inverse of ``add_workdays``.

    Forwards (b >= a) counts a < d <= b; backwards counts b <= d < a and is negative, so that
    ``workdays_between(s, add_workdays(s, n)) == n`` for every n, including from a holiday.
    """
    table = _normalize(overrides)
    a, b = _as_date(a), _as_date(b)
    first, last, sign = (
        (a, b, 1) if b >= a else (b - datetime.timedelta(days=1), a - datetime.timedelta(days=1), -1)
    )
    count = 0
    day = first
    while day < last:
        day += datetime.timedelta(days=1)
        count += _is_workday(day, table)
    return sign * count


def plan_deadline(
    year: int, month: int = 11, day: int = 20, overrides: Overrides | None = None
) -> datetime.date:
    """The last working day on or before the plan's completion date (default 11月20日前完成)."""
    table = _normalize(overrides)
    try:
        deadline = datetime.date(year, month, day)
    except (TypeError, ValueError) as exc:
        raise Invalid(f"计划完成日期无效：{year}-{month}-{day}") from exc
    while not _is_workday(deadline, table):
        deadline -= datetime.timedelta(days=1)
    return deadline
