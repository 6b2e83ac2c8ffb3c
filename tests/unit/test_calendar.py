"""Working-day calendar: facts from the government's announcements, hand-counted due dates, properties.

Office hours in these tests are the defaults (07:30-11:30, 13:00-17:00: 8 h a day) unless stated.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.calendar import CalendarOverrides, Duration, DurationUnit, OfficeHours, WorkingCalendar

VN = ZoneInfo("Asia/Ho_Chi_Minh")
CAL = WorkingCalendar()
CUTOFF = time(15, 0)


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=VN)


# ---- which days are working days -----------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        # Tết 2024: Thu 8 Feb .. Wed 14 Feb off; the days around it are worked.
        (date(2024, 2, 7), True),
        *[(date(2024, 2, d), False) for d in range(8, 15)],
        (date(2024, 2, 15), True),
        # Tết 2025: Mon 27 Jan .. Sat 1 Feb.
        *[(date(2025, 1, d), False) for d in range(27, 32)],
        (date(2025, 2, 3), True),
        # 30/4-1/5 2025: Saturday 26 Apr worked in exchange for Friday 2 May off.
        (date(2025, 4, 26), True),
        (date(2025, 5, 2), False),
        (date(2025, 4, 19), False),
        # 2024: Saturday 4 May worked in exchange for Monday 29 Apr off.
        (date(2024, 5, 4), True),
        (date(2024, 4, 29), False),
        # National Day 2025 was 1-2 Sep (texts saying 2-3 Sep 2025 copy the 2024 schedule).
        (date(2025, 9, 1), False),
        (date(2025, 9, 2), False),
        (date(2025, 9, 3), True),
        (date(2024, 9, 2), False),
        (date(2024, 9, 3), False),
        (date(2024, 9, 4), True),
        # Plain weekdays and weekends.
        (date(2025, 3, 3), True),
        (date(2025, 3, 8), False),
        (date(2025, 3, 9), False),
    ],
)
def test_is_working_day_matches_announced_schedule(day: date, working: bool) -> None:
    assert CAL.is_working_day(day) is working


def test_holiday_name() -> None:
    assert CAL.holiday_name(date(2025, 9, 2)) is not None
    assert CAL.holiday_name(date(2025, 1, 29)) is not None
    assert CAL.holiday_name(date(2025, 3, 3)) is None
    assert CAL.holiday_name(date(2025, 3, 8)) is None  # an ordinary Saturday is no holiday


def test_next_working_day_is_strictly_after() -> None:
    assert CAL.next_working_day(date(2025, 3, 3)) == date(2025, 3, 4)
    assert CAL.next_working_day(date(2025, 3, 7)) == date(2025, 3, 10)
    # Fri 24 Jan 2025 -> weekend, Tết 27 Jan-1 Feb, Sun 2 Feb -> Mon 3 Feb.
    assert CAL.next_working_day(date(2025, 1, 24)) == date(2025, 2, 3)
    # Fri 25 Apr 2025 -> the swapped working Saturday 26 Apr.
    assert CAL.next_working_day(date(2025, 4, 25)) == date(2025, 4, 26)


# ---- overrides -------------------------------------------------------------------------------


def test_override_day_off_and_working_saturday_change_is_working_day() -> None:
    cal = WorkingCalendar(
        overrides=CalendarOverrides(
            days_off=frozenset({date(2025, 3, 5)}),
            working_days=frozenset({date(2025, 3, 8), date(2025, 5, 2)}),
        )
    )
    assert cal.is_working_day(date(2025, 3, 5)) is False
    assert cal.holiday_name(date(2025, 3, 5)) is not None
    assert cal.is_working_day(date(2025, 3, 8)) is True
    # An override wins over the package's holiday.
    assert cal.is_working_day(date(2025, 5, 2)) is True
    assert cal.holiday_name(date(2025, 5, 2)) is None


def test_overrides_change_add_working_days() -> None:
    start = at(2025, 3, 3, 9)  # Monday
    # Plain: Tue 4 (1), Wed 5 (2), Thu 6 (3), Fri 7 (4), Mon 10 (5).
    assert CAL.add_working_days(start, 5) == at(2025, 3, 10, 9)
    # Wed 5 Mar off: Tue 4 (1), Thu 6 (2), Fri 7 (3), Mon 10 (4), Tue 11 (5).
    with_day_off = WorkingCalendar(overrides=CalendarOverrides(days_off=frozenset({date(2025, 3, 5)})))
    assert with_day_off.add_working_days(start, 5) == at(2025, 3, 11, 9)
    # Sat 8 Mar worked: Tue 4 (1), Wed 5 (2), Thu 6 (3), Fri 7 (4), Sat 8 (5).
    with_saturday = WorkingCalendar(overrides=CalendarOverrides(working_days=frozenset({date(2025, 3, 8)})))
    assert with_saturday.add_working_days(start, 5) == at(2025, 3, 8, 9)


def test_override_listing_a_day_both_ways_is_rejected() -> None:
    with pytest.raises(ValueError, match="2025-03-05"):
        CalendarOverrides(days_off=frozenset({date(2025, 3, 5)}), working_days=frozenset({date(2025, 3, 5)}))


def test_unknown_country_is_rejected() -> None:
    with pytest.raises(ValueError, match="XX"):
        WorkingCalendar(country="XX")


# ---- working_start and the reception cut-off -------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (at(2025, 3, 3, 9), at(2025, 3, 3, 9)),  # inside the morning period
        (at(2025, 3, 3, 7, 30), at(2025, 3, 3, 7, 30)),  # exactly at the opening
        (at(2025, 3, 3, 6), at(2025, 3, 3, 7, 30)),  # before opening
        (at(2025, 3, 3, 11, 30), at(2025, 3, 3, 13)),  # the period end belongs to the break
        (at(2025, 3, 3, 12), at(2025, 3, 3, 13)),  # lunch break
        (at(2025, 3, 3, 16, 59), at(2025, 3, 3, 16, 59)),
        (at(2025, 3, 3, 17), at(2025, 3, 4, 7, 30)),  # closing -> next morning
        (at(2025, 3, 7, 18), at(2025, 3, 10, 7, 30)),  # Friday evening -> Monday
        (at(2025, 3, 8, 10), at(2025, 3, 10, 7, 30)),  # Saturday
        # Wed 30 Apr, Thu 1 May, Fri 2 May off, then the weekend -> Mon 5 May.
        (at(2025, 4, 30, 9), at(2025, 5, 5, 7, 30)),
        (at(2025, 1, 29, 10), at(2025, 2, 3, 7, 30)),  # Tết 2025
    ],
)
def test_working_start(moment: datetime, expected: datetime) -> None:
    assert CAL.working_start(moment) == expected


def test_working_start_converts_to_calendar_tz() -> None:
    result = CAL.working_start(datetime(2025, 3, 3, 2, 0, tzinfo=UTC))  # 09:00 in Hà Nội
    assert result == at(2025, 3, 3, 9)
    assert result.tzinfo is VN
    assert (result.hour, result.minute) == (9, 0)


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        (at(2025, 3, 3, 14, 59), at(2025, 3, 3, 14, 59)),
        (at(2025, 3, 3, 15, 0), at(2025, 3, 4, 7, 30)),
        (at(2025, 3, 3, 16, 30), at(2025, 3, 4, 7, 30)),
        (at(2025, 3, 7, 15, 0), at(2025, 3, 10, 7, 30)),  # Friday after cut-off -> Monday
        (at(2025, 3, 8, 9, 0), at(2025, 3, 10, 7, 30)),  # Saturday
        (at(2025, 4, 26, 9, 0), at(2025, 4, 26, 9, 0)),  # the swapped working Saturday
        (at(2025, 4, 29, 15, 30), at(2025, 5, 5, 7, 30)),  # Tue after cut-off, then 30/4-2/5 and weekend
    ],
)
def test_transfer_after_cutoff(received: datetime, expected: datetime) -> None:
    result = CAL.transfer_after_cutoff(received, CUTOFF)
    assert result == expected
    assert result.tzinfo is VN


# ---- adding working time ---------------------------------------------------------------------


def test_three_working_days_from_monday_morning_is_thursday_morning() -> None:
    assert CAL.add_working_days(at(2025, 3, 3, 9), 3) == at(2025, 3, 6, 9)


def test_add_working_days_across_tet_2025() -> None:
    # Accepted Mon 20 Jan 2025 09:00. Working days after it: Tue 21 (1), Wed 22 (2), Thu 23 (3),
    # Fri 24 (4); 25-26 weekend; 27 Jan-1 Feb Tết; Sun 2 Feb; Mon 3 Feb (5), Tue 4 (6), Wed 5 (7),
    # Thu 6 (8), Fri 7 (9); 8-9 weekend; Mon 10 Feb (10).
    assert CAL.add_working_days(at(2025, 1, 20, 9), 10) == at(2025, 2, 10, 9)


def test_add_working_days_across_tet_2024() -> None:
    # Accepted Tue 6 Feb 2024 14:00. Wed 7 (1); 8-14 Feb Tết; Thu 15 (2), Fri 16 (3);
    # 17-18 weekend; Mon 19 (4), Tue 20 (5).
    assert CAL.add_working_days(at(2024, 2, 6, 14), 5) == at(2024, 2, 20, 14)


def test_add_working_days_counts_the_swapped_saturday() -> None:
    # Thu 24 Apr 2025 10:00: Fri 25 (1), Sat 26 worked (2), 27 Sun, Mon 28 (3), Tue 29 (4);
    # 30 Apr-2 May off, 3-4 weekend; Mon 5 May (5).
    assert CAL.add_working_days(at(2025, 4, 24, 10), 5) == at(2025, 5, 5, 10)


def test_add_working_days_starts_from_working_start() -> None:
    # Received Saturday -> counting starts Mon 07:30; one working day ends Mon 17:00.
    assert CAL.add_working_days(at(2025, 3, 8, 10), 1) == at(2025, 3, 10, 17)
    # Lunch break -> 13:00; 1 day = 4 h to 17:00 + 4 h next morning -> Tue 11:30.
    assert CAL.add_working_days(at(2025, 3, 3, 12), 1) == at(2025, 3, 4, 11, 30)
    assert CAL.add_working_days(at(2025, 3, 8, 10), 0) == at(2025, 3, 10, 7, 30)


def test_fractional_working_days() -> None:
    # Half a day = 4 h from Mon 09:00: 2.5 h to 11:30, 1.5 h from 13:00 -> 14:30.
    assert CAL.add_working_days(at(2025, 3, 3, 9), Decimal("0.5")) == at(2025, 3, 3, 14, 30)
    # 1.5 days = 12 h from Mon 07:30: Mon full day (8 h) + 4 h Tue morning -> Tue 11:30.
    assert CAL.add_working_days(at(2025, 3, 3, 7, 30), Decimal("1.5")) == at(2025, 3, 4, 11, 30)


def test_add_working_hours_ends_exactly_at_period_end() -> None:
    assert CAL.add_working_hours(at(2025, 3, 3, 9, 30), 2) == at(2025, 3, 3, 11, 30)
    assert CAL.add_working_hours(at(2025, 3, 3, 7, 30), 8) == at(2025, 3, 3, 17)
    assert CAL.add_working_days(at(2025, 3, 3, 7, 30), 1) == at(2025, 3, 3, 17)
    # Friday 07:30 + 16 h: Fri ends 17:00 (8 h), Mon full day -> Mon 17:00, not Tue 07:30.
    assert CAL.add_working_hours(at(2025, 3, 7, 7, 30), 16) == at(2025, 3, 10, 17)


def test_add_working_hours_across_lunch_and_night() -> None:
    # Mon 10:00 + 3 h: 1.5 h to 11:30, 1.5 h from 13:00 -> 14:30.
    assert CAL.add_working_hours(at(2025, 3, 3, 10), 3) == at(2025, 3, 3, 14, 30)
    # Mon 16:00 + 2 h: 1 h to 17:00, 1 h Tue from 07:30 -> 08:30.
    assert CAL.add_working_hours(at(2025, 3, 3, 16), 2) == at(2025, 3, 4, 8, 30)
    assert CAL.add_working_hours(at(2025, 3, 3, 16), Decimal("0.25")) == at(2025, 3, 3, 16, 15)


def test_custom_office_hours() -> None:
    cal = WorkingCalendar(office_hours=OfficeHours.parse("08:00-12:00, 13:30-17:30"))
    assert cal.office_hours.hours_per_day == 8
    assert cal.working_start(at(2025, 3, 3, 7, 45)) == at(2025, 3, 3, 8)
    # Mon 09:00 + 0.5 day (4 h): 3 h to 12:00, 1 h from 13:30 -> 14:30.
    assert cal.add_working_days(at(2025, 3, 3, 9), Decimal("0.5")) == at(2025, 3, 3, 14, 30)
    short = WorkingCalendar(office_hours=OfficeHours(((time(8), time(12)),)))
    # A 4-hour day: 2 working days from Mon 10:00 is Wed 10:00.
    assert short.add_working_days(at(2025, 3, 3, 10), 2) == at(2025, 3, 5, 10)
    assert short.working_days_between(at(2025, 3, 3, 10), at(2025, 3, 5, 10)) == 2


def test_add_dispatches_on_unit() -> None:
    start = at(2025, 3, 3, 9)
    assert CAL.add(start, Duration(Decimal(3), DurationUnit.WORKING_DAYS)) == at(2025, 3, 6, 9)
    assert CAL.add(start, Duration(Decimal(4), DurationUnit.WORKING_HOURS)) == at(2025, 3, 3, 14, 30)
    assert CAL.add(start, Duration(Decimal(3), DurationUnit.CALENDAR_DAYS)) == at(2025, 3, 6, 9)


# ---- calendar days and months (Civil Code 2015 art. 148 rollover) ----------------------------


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (at(2025, 3, 3, 10), 3, at(2025, 3, 6, 10)),  # Thu, a working day
        (at(2025, 3, 3, 10), 6, at(2025, 3, 10, 17)),  # Sun 9 Mar -> end of Mon 10 Mar
        (at(2025, 3, 3, 10), 5, at(2025, 3, 10, 17)),  # Sat 8 Mar -> end of Mon 10 Mar
        (at(2025, 1, 20, 10), 10, at(2025, 2, 3, 17)),  # Thu 30 Jan 2025 is Tết -> end of Mon 3 Feb
        (at(2024, 2, 1, 10), 10, at(2024, 2, 15, 17)),  # Sun 11 Feb 2024 in Tết -> end of Thu 15 Feb
        (at(2025, 4, 16, 10), 10, at(2025, 4, 26, 10)),  # the swapped working Saturday counts as working
        (at(2025, 3, 8, 10), 0, at(2025, 3, 10, 17)),  # zero days from a Saturday
    ],
)
def test_calendar_days(start: datetime, days: int, expected: datetime) -> None:
    assert CAL.add(start, Duration(Decimal(days), DurationUnit.CALENDAR_DAYS)) == expected


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (at(2025, 1, 31, 10), 1, at(2025, 2, 28, 10)),  # clamp: Fri 28 Feb 2025
        (at(2024, 1, 31, 10), 1, at(2024, 2, 29, 10)),  # leap year: Thu 29 Feb 2024
        (at(2025, 3, 15, 10), 1, at(2025, 4, 15, 10)),  # Tue 15 Apr 2025
        (at(2025, 3, 31, 10), 1, at(2025, 5, 5, 17)),  # Wed 30 Apr is a holiday -> end of Mon 5 May
        (at(2024, 11, 30, 10), 2, at(2025, 2, 3, 17)),  # Thu 30 Jan 2025 is Tết -> end of Mon 3 Feb
        (at(2025, 1, 31, 10), 13, at(2026, 3, 2, 17)),  # Sat 28 Feb 2026 -> end of Mon 2 Mar
        (at(2025, 12, 15, 10), 1, at(2026, 1, 15, 10)),  # across the year end, Thu
        (at(2025, 3, 3, 10), 0, at(2025, 3, 3, 10)),
    ],
)
def test_months(start: datetime, months: int, expected: datetime) -> None:
    assert CAL.add(start, Duration(Decimal(months), DurationUnit.MONTHS)) == expected


def test_results_are_in_calendar_tz() -> None:
    start = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)  # 09:00 in Hà Nội
    for unit in DurationUnit:
        result = CAL.add(start, Duration(Decimal(1), unit))
        assert result.tzinfo is VN, unit


# ---- measuring -------------------------------------------------------------------------------


def test_working_hours_between() -> None:
    assert CAL.working_hours_between(at(2025, 3, 3, 9), at(2025, 3, 3, 12)) == Decimal("2.5")
    assert CAL.working_hours_between(at(2025, 3, 3, 9), at(2025, 3, 4, 9)) == 8
    # Fri 16:00-17:00 (1 h) + Mon 07:30-08:30 (1 h).
    assert CAL.working_hours_between(at(2025, 3, 7, 16), at(2025, 3, 10, 8, 30)) == 2
    assert CAL.working_hours_between(at(2025, 3, 4, 9), at(2025, 3, 3, 9)) == 0
    assert CAL.working_hours_between(at(2025, 3, 3, 9), at(2025, 3, 3, 9)) == 0
    assert CAL.working_hours_between(at(2025, 3, 8, 9), at(2025, 3, 9, 17)) == 0  # weekend


def test_working_days_between() -> None:
    assert CAL.working_days_between(at(2025, 3, 3, 9), at(2025, 3, 6, 9)) == 3
    assert CAL.working_days_between(at(2025, 1, 20, 9), at(2025, 2, 10, 9)) == 10
    assert CAL.working_days_between(at(2025, 3, 3, 9), at(2025, 3, 3, 13)) == Decimal("0.3125")  # 2.5 h / 8


def test_long_durations_are_fast_and_consistent() -> None:
    start = at(2025, 1, 2, 9)
    end = CAL.add_working_days(start, 1000)
    assert CAL.working_days_between(start, end) == 1000


# ---- validation and errors -------------------------------------------------------------------


def test_naive_datetime_is_rejected() -> None:
    naive = datetime(2025, 3, 3, 9)
    with pytest.raises(ValueError, match="must be timezone-aware"):
        CAL.working_start(naive)
    with pytest.raises(ValueError, match=r"\+07:00"):
        CAL.add_working_days(naive, 1)
    with pytest.raises(ValueError, match="must be timezone-aware"):
        CAL.add(naive, Duration(Decimal(1), DurationUnit.MONTHS))
    with pytest.raises(ValueError, match="must be timezone-aware"):
        CAL.working_hours_between(at(2025, 3, 3, 9), naive)
    with pytest.raises(ValueError, match="must be timezone-aware"):
        CAL.transfer_after_cutoff(naive, CUTOFF)


def test_negative_amounts_are_rejected() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        CAL.add_working_days(at(2025, 3, 3, 9), -1)
    with pytest.raises(ValueError, match=">= 0"):
        CAL.add_working_hours(at(2025, 3, 3, 9), Decimal("-0.5"))
    with pytest.raises(ValueError, match=">= 0"):
        Duration(Decimal(-1), DurationUnit.WORKING_DAYS)


def test_duration_validation() -> None:
    assert Duration(Decimal("0.5"), DurationUnit.WORKING_DAYS).value == Decimal("0.5")
    with pytest.raises(ValueError, match="whole number of months"):
        Duration(Decimal("1.5"), DurationUnit.MONTHS)
    with pytest.raises(ValueError, match="Decimal"):
        Duration(1.5, DurationUnit.WORKING_DAYS)  # type: ignore[arg-type]


def test_office_hours_defaults_and_parse() -> None:
    assert OfficeHours().hours_per_day == 8
    assert OfficeHours.parse("07:30-11:30,13:00-17:00") == OfficeHours()
    assert OfficeHours.parse("7:30-11:30").hours_per_day == 4
    assert OfficeHours.parse("08:00-12:15").hours_per_day == Decimal("4.25")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("7h30-11h30", "HH:MM-HH:MM"),
        ("07:30-11:30;13:00-17:00", "HH:MM-HH:MM"),
        ("07:30-11:30,", "HH:MM-HH:MM"),
        ("25:00-26:00", "invalid time"),
        ("07:30-07:99", "invalid time"),
        ("11:30-07:30", "start before it ends"),
        ("07:30-07:30", "start before it ends"),
        ("07:30-12:00,11:00-17:00", "previous period ends"),
        ("13:00-17:00,07:30-11:30", "previous period ends"),
    ],
)
def test_office_hours_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OfficeHours.parse(text)


def test_office_hours_constructor_validation() -> None:
    with pytest.raises(ValueError, match="at least one"):
        OfficeHours(())
    with pytest.raises(ValueError, match="start before it ends"):
        OfficeHours(((time(12), time(8)),))


# ---- properties ------------------------------------------------------------------------------

_ZONES = st.sampled_from([VN, UTC, timezone(timedelta(hours=-5, minutes=-30)), timezone(timedelta(hours=9))])
_STARTS = st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2030, 12, 31), timezones=_ZONES)


@settings(max_examples=300, deadline=None)
@given(start=_STARTS, n=st.integers(min_value=0, max_value=40))
def test_add_working_days_round_trips_through_working_days_between(start: datetime, n: int) -> None:
    due = CAL.add_working_days(start, n)
    assert CAL.working_days_between(CAL.working_start(start), due) == n
    assert due.tzinfo is VN
    assert CAL.is_working_day(due.date())
    assert due == CAL.add_working_hours(start, n * 8)


@settings(max_examples=200, deadline=None)
@given(start=_STARTS, n=st.integers(min_value=0, max_value=40), extra=st.integers(min_value=1, max_value=10))
def test_add_working_days_is_monotonic(start: datetime, n: int, extra: int) -> None:
    assert CAL.add_working_days(start, n) < CAL.add_working_days(start, n + extra)


@settings(max_examples=200, deadline=None)
@given(start=_STARTS, centi_hours=st.integers(min_value=0, max_value=100 * 8 * 10))
def test_add_working_hours_round_trips(start: datetime, centi_hours: int) -> None:
    hours = Decimal(centi_hours) / 100
    due = CAL.add_working_hours(start, hours)
    assert CAL.working_hours_between(CAL.working_start(start), due) == hours
    assert CAL.working_start(start) <= due


def test_subtract_working_hours_by_hand() -> None:
    # 1 working day (8 h) before Wednesday 12/3/2025 09:00 is Tuesday 11/3 09:00
    assert CAL.subtract_working_hours(datetime(2025, 3, 12, 9, 0, tzinfo=VN), 8) == datetime(
        2025, 3, 11, 9, 0, tzinfo=VN
    )
    # 1 h before 13:30 crosses the lunch break: 11:00 (half an hour each side)
    assert CAL.subtract_working_hours(datetime(2025, 3, 12, 13, 30, tzinfo=VN), 1) == datetime(
        2025, 3, 12, 11, 0, tzinfo=VN
    )
    # 8 h before Monday 3/2/2025 07:30 (after Tết 27/1–1/2, all off) is Friday 24/1/2025 07:30
    assert CAL.subtract_working_hours(datetime(2025, 2, 3, 7, 30, tzinfo=VN), 8) == datetime(
        2025, 1, 24, 7, 30, tzinfo=VN
    )


@given(start=_STARTS, centi_hours=st.integers(min_value=1, max_value=100 * 8 * 10))
@settings(max_examples=150, deadline=None)
def test_subtract_is_the_latest_moment_with_that_much_office_time(start: datetime, centi_hours: int) -> None:
    hours = Decimal(centi_hours) / 100
    earlier = CAL.subtract_working_hours(start, hours)
    assert CAL.working_hours_between(earlier, start) >= hours
    assert CAL.working_hours_between(earlier + timedelta(minutes=1), start) < hours
