"""Working-day arithmetic across Spring Festival and National Day, with 调休 and local overrides."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.errors import DomainError
from backend.services.workdays import (
    CalendarNotCovered,
    add_workdays,
    covered_years,
    is_workday,
    plan_deadline,
    workdays_between,
)


def test_2025_and_2026_are_covered() -> None:
    assert {2025, 2026} <= set(covered_years())


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 1, 26), True),  # Sunday, make-up day before Spring Festival
        (date(2025, 1, 28), False),  # Tuesday, 除夕 holiday
        (date(2025, 2, 4), False),
        (date(2025, 2, 5), True),
        (date(2025, 2, 8), True),  # Saturday, make-up day
        (date(2025, 9, 28), True),  # Sunday, make-up day before National Day
        (date(2025, 10, 8), False),  # Wednesday inside the 8-day break
        (date(2025, 10, 11), True),  # Saturday, make-up day
        (date(2026, 2, 14), True),  # Saturday, make-up day before Spring Festival
        (date(2026, 2, 16), False),
        (date(2026, 2, 23), False),  # Monday, last day of the 9-day break
        (date(2026, 2, 28), True),  # Saturday, make-up day
        (date(2026, 3, 1), False),  # an ordinary Sunday
        (date(2026, 9, 20), True),  # Sunday, make-up day before National Day
        (date(2026, 9, 25), False),  # Friday, Mid-autumn
        (date(2026, 10, 7), False),
        (date(2026, 10, 10), True),  # Saturday, make-up day
        (datetime(2026, 10, 9, 15, 30), True),
    ],
)
def test_statutory_holidays_and_make_up_days(day: date, working: bool) -> None:
    assert is_workday(day) is working


def test_start_within_5_workdays_across_national_day_2025() -> None:
    dispatched = date(2025, 9, 26)  # Friday
    assert add_workdays(dispatched, 1) == date(2025, 9, 28)  # the make-up Sunday counts
    assert add_workdays(dispatched, 5) == date(2025, 10, 10)  # 9/28, 9/29, 9/30, 10/9, 10/10
    assert add_workdays(dispatched, 0) == dispatched


def test_publish_within_20_workdays_across_national_day_2025() -> None:
    completed = date(2025, 9, 19)  # Friday
    # 9/22-26 (5), 9/28 (6), 9/29-30 (8), 10/9-11 (11), 10/13-17 (16), 10/20-23 (20)
    assert add_workdays(completed, 20) == date(2025, 10, 23)
    assert workdays_between(completed, date(2025, 10, 23)) == 20


def test_spring_festival_2025() -> None:
    friday = date(2025, 1, 24)
    assert add_workdays(friday, 1) == date(2025, 1, 26)
    assert add_workdays(friday, 2) == date(2025, 1, 27)
    assert add_workdays(friday, 3) == date(2025, 2, 5)
    # 1/26, 1/27, 2/5, 2/6, 2/7, 2/8 (Saturday), 2/10
    assert workdays_between(friday, date(2025, 2, 10)) == 7


def test_spring_festival_2026() -> None:
    friday = date(2026, 2, 13)
    assert add_workdays(friday, 1) == date(2026, 2, 14)
    assert add_workdays(friday, 2) == date(2026, 2, 24)
    assert add_workdays(friday, 5) == date(2026, 2, 27)
    assert add_workdays(friday, 6) == date(2026, 2, 28)
    assert add_workdays(date(2026, 2, 24), -1) == date(2026, 2, 14)


def test_mid_autumn_and_national_day_2026() -> None:
    friday = date(2026, 9, 18)
    assert add_workdays(friday, 5) == date(2026, 9, 24)  # 9/20 (Sunday), 9/21-24
    assert add_workdays(friday, 6) == date(2026, 9, 28)  # 9/25-27 off for Mid-autumn
    assert add_workdays(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert add_workdays(date(2026, 9, 30), 3) == date(2026, 10, 10)  # make-up Saturday
    assert workdays_between(date(2026, 10, 8), date(2026, 9, 30)) == -1


def test_plan_deadline_is_the_last_working_day_on_or_before_the_date() -> None:
    assert plan_deadline(2025) == date(2025, 11, 20)
    assert plan_deadline(2026) == date(2026, 11, 20)
    assert plan_deadline(2025, 10, 5) == date(2025, 9, 30)
    assert plan_deadline(2025, overrides={date(2025, 11, 20): False}) == date(2025, 11, 19)


def test_local_overrides_win_over_the_national_calendar() -> None:
    local_day_off = {date(2025, 6, 11): False}  # e.g. a local festival declared by the county
    assert is_workday(date(2025, 6, 11)) and not is_workday(date(2025, 6, 11), local_day_off)
    assert add_workdays(date(2025, 6, 10), 1, local_day_off) == date(2025, 6, 12)
    saturday_worked = {date(2025, 6, 14): True}
    assert add_workdays(date(2025, 6, 13), 1, saturday_worked) == date(2025, 6, 14)
    assert workdays_between(date(2025, 6, 9), date(2025, 6, 15), {**local_day_off, **saturday_worked}) == 4
    with pytest.raises(DomainError, match="布尔值"):
        is_workday(date(2025, 6, 11), {date(2025, 6, 11): "休息"})  # type: ignore[dict-item]


def test_uncovered_year_is_refused_in_chinese() -> None:
    with pytest.raises(CalendarNotCovered, match="2027 年的法定节假日安排尚未收录") as info:
        is_workday(date(2027, 1, 4))
    assert isinstance(info.value, DomainError) and info.value.status_code == 422 and info.value.year == 2027
    with pytest.raises(CalendarNotCovered):
        add_workdays(date(2026, 12, 29), 5)
    with pytest.raises(CalendarNotCovered):
        plan_deadline(2027)
    with pytest.raises(CalendarNotCovered, match="2003"):
        workdays_between(date(2003, 12, 30), date(2004, 1, 5))
    # An administrator can still decide individual dates of an uncovered year.
    assert is_workday(date(2027, 1, 4), {date(2027, 1, 4): True})


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(st.dates(min_value=date(2025, 1, 1), max_value=date(2026, 10, 31)), st.integers(-40, 40))
def test_workdays_between_inverts_add_workdays(start: date, n: int) -> None:
    end = add_workdays(start, n)
    assert workdays_between(start, end) == n
    assert (end > start) == (n > 0) or n == 0
    if n:
        assert is_workday(end)
