"""Clock helpers of the engine: counting office time backwards, clocks that stop while waiting."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.processing.domain.working_time import Pause, run_clock, working_moment_before
from shared.calendar import Duration
from tests.unit.test_engine_fixtures import CAL, WD, WH, at


@pytest.mark.parametrize(
    ("moment", "hours", "expected"),
    [
        (at(2025, 3, 10, 9), 8, at(2025, 3, 7, 9)),  # Mon 09:00 − 1 WD → Fri 09:00
        (at(2025, 3, 5, 13), 8, at(2025, 3, 4, 13)),  # exact: the start of Tue's afternoon, not 11:30
        (at(2025, 3, 5, 14), 2, at(2025, 3, 5, 10, 30)),  # 1 h after lunch, 1 h before it
        (at(2025, 3, 5, 12), 1, at(2025, 3, 5, 10, 30)),  # from inside the lunch break
        (at(2025, 2, 3, 10), 8, at(2025, 1, 24, 10)),  # back across Tết 2025
        (at(2024, 2, 15, 9), 4, at(2024, 2, 7, 14, 30)),  # 1.5 h Thu 15 Feb, 2.5 h Wed 7 Feb (Tết 2024)
        (at(2025, 4, 28, 9), 8, at(2025, 4, 26, 9)),  # the worked Saturday 26 Apr 2025
        (at(2025, 5, 5, 9), 8, at(2025, 4, 29, 9)),  # Fri 2 May 2025 was swapped off
        (at(2025, 3, 10, 9), 0, at(2025, 3, 10, 9)),
    ],
)
def test_working_moment_before(moment: datetime, hours: int, expected: datetime) -> None:
    assert working_moment_before(CAL, moment, Decimal(hours)) == expected


@settings(max_examples=200, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31)).map(
        lambda d: d.replace(tzinfo=CAL.tz)
    ),
    quarter_hours=st.integers(min_value=1, max_value=400),
)
def test_working_moment_before_is_the_latest_with_enough_office_time(
    moment: datetime, quarter_hours: int
) -> None:
    hours = Decimal(quarter_hours) / 4
    t = working_moment_before(CAL, moment, hours)
    assert CAL.working_hours_between(t, moment) == hours
    assert CAL.working_hours_between(t + timedelta(microseconds=1), moment) < hours


def test_run_clock_without_pauses_is_the_calendar() -> None:
    assert run_clock(CAL, at(2025, 3, 3, 9), Duration(Decimal(5), WD), []) == at(2025, 3, 10, 9)


def test_run_clock_ignores_a_pause_before_the_start_and_after_the_due() -> None:
    pauses = [Pause(at(2025, 3, 1), at(2025, 3, 3, 10), True), Pause(at(2025, 3, 10, 10), None, False)]
    # Only Mon 09:00-10:00 of the first pause counts (1 h); the open one begins at the new due moment.
    assert run_clock(CAL, at(2025, 3, 3, 9), Duration(Decimal(5), WD), pauses) == at(2025, 3, 10, 10)


def test_run_clock_stopped_by_an_open_pause() -> None:
    pauses = [Pause(at(2025, 3, 4, 9), None, False)]
    assert run_clock(CAL, at(2025, 3, 3, 9), Duration(Decimal(5), WD), pauses) is None
    # 4 h from Mon 09:00 is Mon 14:30, before the pause: that clock has already run out.
    assert run_clock(CAL, at(2025, 3, 3, 9), Duration(Decimal(4), WH), pauses) == at(2025, 3, 3, 14, 30)
