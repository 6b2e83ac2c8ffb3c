"""The calendar memoises positions, moments and amounts (issue #16): a calendar that has answered
many questions must answer every one exactly as a fresh calendar does — in a zone with daylight
saving too, where two wall-clock times of one zone an hour apart compare equal (fold) — and must
refuse what a fresh one refuses."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.calendar import CalendarOverrides, WorkingCalendar

VN = ZoneInfo("Asia/Ho_Chi_Minh")
ROME = ZoneInfo("Europe/Rome")
WARM = {"VN": WorkingCalendar(), "IT": WorkingCalendar(tz=ROME, country="IT")}

# Around the autumn change of 2025 in Rome (26 Oct, 03:00 → 02:00) and ordinary weeks.
NAIVE = st.datetimes(min_value=datetime(2025, 10, 20), max_value=datetime(2025, 11, 5))
MOMENTS = st.one_of(
    st.builds(lambda d, f: d.replace(tzinfo=ROME, fold=f), NAIVE, st.integers(0, 1)),
    st.builds(lambda d: d.replace(tzinfo=VN), NAIVE),
    st.just(datetime(2025, 10, 26, 2, 30, tzinfo=ROME, fold=0)),
    st.just(datetime(2025, 10, 26, 2, 30, tzinfo=ROME, fold=1)),
)
AMOUNTS = st.one_of(st.integers(0, 30), st.decimals(0, 30, places=2, allow_nan=False, allow_infinity=False))


def answers(cal: WorkingCalendar, a: datetime, b: datetime, amount: Decimal | int) -> tuple[object, ...]:
    return (
        cal.working_start(a),
        cal.add_working_days(a, amount),
        cal.add_working_hours(b, amount),
        cal.subtract_working_hours(a, amount),
        cal.working_days_between(a, b),
        cal.working_hours_between(b, a),
    )


@settings(max_examples=300, deadline=None)
@given(country=st.sampled_from(["VN", "IT"]), a=MOMENTS, b=MOMENTS, amount=AMOUNTS)
def test_a_warm_calendar_answers_as_a_fresh_one(
    country: str, a: datetime, b: datetime, amount: Decimal | int
) -> None:
    warm = WARM[country]
    # Warm it with the other fold of the same wall-clock times first: equal keys, other instants.
    answers(warm, a.replace(fold=1 - a.fold), b.replace(fold=1 - b.fold), amount)
    fresh = WorkingCalendar() if country == "VN" else WorkingCalendar(tz=ROME, country="IT")
    expected = answers(fresh, a, b, amount)
    got = answers(warm, a, b, amount)
    assert got == expected
    assert [x.utcoffset() for x in got if isinstance(x, datetime)] == [
        x.utcoffset() for x in expected if isinstance(x, datetime)
    ]


def test_the_hour_repeated_in_autumn_is_counted_once_each_time() -> None:
    cal = WorkingCalendar(tz=ROME, country="IT")
    first = datetime(2025, 10, 26, 2, 30, tzinfo=ROME, fold=0)  # a Sunday: no office time either way
    second = first.replace(fold=1)
    assert second - first == timedelta(0)  # one zone: compared by wall clock …
    assert second.timestamp() - first.timestamp() == 3600  # … an hour apart
    assert cal.working_hours_between(first, second) == 0
    monday = datetime(2025, 10, 27, 9, 0, tzinfo=ROME)
    assert cal.working_hours_between(second, monday) == cal.working_hours_between(first, monday)


def test_moments_of_another_zone_equal_but_an_hour_apart_are_not_confused() -> None:
    # 01:30 in New York on 2 Nov 2025 happens twice (EDT, then EST): as keys of one zone they are
    # equal, yet in Vietnam they are 12:30 (lunch break) and 13:30 of a Sunday made a working day.
    sunday = datetime(2025, 11, 2).date()
    overrides = CalendarOverrides(working_days=frozenset({sunday}))
    new_york = ZoneInfo("America/New_York")
    edt = datetime(2025, 11, 2, 1, 30, tzinfo=new_york, fold=0)
    est = edt.replace(fold=1)
    assert edt == est and est.timestamp() - edt.timestamp() == 3600
    warm = WorkingCalendar(overrides=overrides)
    assert warm.add_working_hours(edt, 1) == datetime(2025, 11, 2, 14, 0, tzinfo=VN)
    assert warm.add_working_hours(est, 1) == datetime(2025, 11, 2, 14, 30, tzinfo=VN)
    assert warm.working_hours_between(edt, datetime(2025, 11, 2, 17, tzinfo=VN)) == 4
    assert warm.working_hours_between(est, datetime(2025, 11, 2, 17, tzinfo=VN)) == Decimal("3.5")


def test_an_amount_refused_once_is_refused_again_and_a_bool_is_never_taken_for_one() -> None:
    cal = WorkingCalendar()
    start = datetime(2025, 3, 10, 9, tzinfo=VN)
    assert cal.add_working_days(start, 1) == datetime(2025, 3, 11, 9, tzinfo=VN)
    assert cal.add_working_hours(start, 1) == datetime(2025, 3, 10, 10, tzinfo=VN)
    for bad in (True, 1.0, Decimal("sNaN"), Decimal("NaN"), Decimal(-1), -1):
        for _ in range(2):
            with pytest.raises(ValueError):
                cal.add_working_days(start, bad)  # type: ignore[arg-type]
            with pytest.raises(ValueError):
                cal.add_working_hours(start, bad)  # type: ignore[arg-type]


def test_a_naive_moment_is_refused_even_when_its_wall_time_was_asked_before() -> None:
    cal = WorkingCalendar()
    aware = datetime(2025, 3, 10, 9, tzinfo=VN)
    cal.add_working_days(aware, 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.add_working_days(aware.replace(tzinfo=None), 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.working_days_between(aware, aware.replace(tzinfo=None))
