"""The working-day calendar (lịch làm việc): which days and hours count towards a statutory time."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from zoneinfo import ZoneInfo

import holidays

from shared.calendar.duration import Duration, DurationUnit, OfficeHours
from shared.calendar.window import DateOutOfWindowError, DateWindow

_MICROSECONDS_PER_HOUR = 3_600_000_000
_ONE_MICROSECOND = timedelta(microseconds=1)
# Any real calendar has a working day within a few weeks; this only stops a misconfiguration looping forever.
_MAX_SEARCH_DAYS = 366
# Memoised positions and moments (see ``WorkingCalendar._cached_position``): a bound on each table,
# emptied when reached, so a long-running service holds at most this many entries per table.
_CACHE_ENTRIES = 100_000


def _micro_of(t: time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


@dataclass(frozen=True)
class CalendarOverrides:
    """Registry's yearly override table on top of the `holidays` package."""

    days_off: frozenset[date] = frozenset()  # extra days off (e.g. a newly decreed day off)
    working_days: frozenset[date] = frozenset()  # days worked although weekend/holiday (swapped Saturdays)

    def __post_init__(self) -> None:
        both = frozenset(self.days_off) & frozenset(self.working_days)
        if both:
            listed = ", ".join(sorted(d.isoformat() for d in both))
            raise ValueError(f"Calendar overrides list {listed} both as a day off and as a working day")
        object.__setattr__(self, "days_off", frozenset(self.days_off))
        object.__setattr__(self, "working_days", frozenset(self.working_days))


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"{name} {moment.isoformat()} must be timezone-aware (include an offset such as +07:00)"
        )


def _to_microseconds(amount: Decimal) -> int:
    return int(amount.to_integral_value(rounding=ROUND_HALF_EVEN))


def _add_months(d: date, months: int) -> date:
    """Same day-of-month ``months`` later, clamped to the end of a shorter month."""
    index = d.year * 12 + (d.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    next_month_first = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    last_day = (next_month_first - timedelta(days=1)).day
    return date(year, month, min(d.day, last_day))


class WorkingCalendar:
    """Working days and office hours of one jurisdiction, in one time zone.

    A working day is Monday-Friday that is not a public holiday of the `holidays` package for
    ``country``, plus the package's swapped working Saturdays (``weekend_workdays``); the
    registry's ``overrides`` are applied last and win over the package. ``subdivision`` (an
    ISO 3166-2 code the package knows) adds regional holidays; ``roll_over_day_off`` False makes
    calendar-day and month periods end on their last day even when it is a day off.

    Every computation stays inside ``window`` (plus its reach): a moment or a computed date
    beyond it raises :class:`DateOutOfWindowError` at once, so no loop can run for long.
    """

    def __init__(
        self,
        office_hours: OfficeHours = OfficeHours(),
        overrides: CalendarOverrides = CalendarOverrides(),
        tz: ZoneInfo = ZoneInfo("Asia/Ho_Chi_Minh"),
        country: str = "VN",
        window: DateWindow = DateWindow(),
        subdivision: str | None = None,
        roll_over_day_off: bool = True,
    ) -> None:
        try:
            holidays.country_holidays(country, subdiv=subdivision)
        except NotImplementedError as exc:
            if subdivision is None:
                raise ValueError(
                    f"Country {country!r} is not known to the holidays package; use an ISO code such as 'VN'"
                ) from exc
            raise ValueError(
                f"Subdivision {subdivision!r} of country {country!r} is not known to the holidays package; "
                "use one of its ISO 3166-2 codes (e.g. 'RM' for Rome) or none"
            ) from exc
        self.office_hours = office_hours
        self.overrides = overrides
        self.tz = tz
        self.country = country
        self.subdivision = subdivision
        self.roll_over_day_off = roll_over_day_off
        self.window = window
        self._loaded_years: set[int] = set()
        self._holiday_names: dict[date, str] = {}
        self._weekend_workdays: set[date] = set()
        self._working_day_cache: dict[date, bool] = {}
        # Positional index: a moment's "office position" is (working days before its date) x the
        # office time of a day + the office time elapsed that day. Counting, adding and
        # subtracting office time become integer arithmetic on positions.
        self._anchor_year: int | None = None
        self._year_days: dict[int, list[int]] = {}  # year -> ordinals of its working days
        self._year_start: dict[int, int] = {}  # year -> working days before Jan 1 (relative to the anchor)
        micro = [(_micro_of(a), _micro_of(b)) for a, b in office_hours.periods]
        self._period_us = micro
        self._cum_before = [0]
        for a, b in micro:
            self._cum_before.append(self._cum_before[-1] + (b - a))
        # Pure functions of their arguments, memoised (issue #16: the engine asks the same moments
        # again and again, within one assessment and in every later assessment of the dossier).
        # Keys are aware datetimes (equal instants are equal keys and have equal positions) and
        # ints; validated amounts are keyed by value, never a bool or anything not Decimal/int.
        self._position_of: dict[datetime, int] = {}
        self._moment_of: tuple[dict[int, datetime], dict[int, datetime]] = ({}, {})
        self._office_micro_of: dict[tuple[Decimal | int, int], int] = {}
        self._computable = (window.first_computable_year, window.last_computable_year)
        self._per_day_decimal = Decimal(self._cum_before[-1])
        # date -> (its office position at the start of the day, whether it is a working day)
        self._day_position: dict[date, tuple[int, bool]] = {}

    # ---- days -------------------------------------------------------------------------------

    def _load_year(self, year: int) -> None:
        if year in self._loaded_years:
            return
        table = holidays.country_holidays(self.country, subdiv=self.subdivision, years=year)
        for day, name in table.items():
            self._holiday_names.setdefault(day, str(name))
        self._weekend_workdays.update(getattr(table, "weekend_workdays", set()))
        self._loaded_years.add(year)

    def _package_lookup(self, d: date) -> None:
        # A swapped working Saturday can be listed by the package under the following year's
        # population (e.g. 2014-12-27 for the 2015 New Year), so load the neighbours too.
        for year in (d.year - 1, d.year, d.year + 1):
            self._load_year(year)

    def is_working_day(self, d: date) -> bool:
        """Whether ``d`` is a working day (ngày làm việc); overrides win over the package."""
        cached = self._working_day_cache.get(d)
        if cached is not None:
            return cached
        self.window.check_computable(d.year)
        if d in self.overrides.working_days:
            result = True
        elif d in self.overrides.days_off:
            result = False
        else:
            self._package_lookup(d)
            if d in self._holiday_names:
                result = False
            elif d.weekday() < 5:
                result = True
            else:
                result = d in self._weekend_workdays
        self._working_day_cache[d] = result
        return result

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after ``d``."""
        candidate = d
        for _ in range(_MAX_SEARCH_DAYS):
            candidate += timedelta(days=1)
            if self.is_working_day(candidate):
                return candidate
        raise ValueError(
            f"No working day within {_MAX_SEARCH_DAYS} days after {d.isoformat()}; "
            "check the calendar overrides"
        )

    def holiday_name(self, d: date) -> str | None:
        """Name of the holiday or decreed day off on ``d``; None if ``d`` is not one (or is worked anyway)."""
        if d in self.overrides.working_days:
            return None
        self._package_lookup(d)
        name = self._holiday_names.get(d)
        if name is not None:
            return name
        if d in self.overrides.days_off:
            return "Day off (calendar override)"
        return None

    # ---- office periods ---------------------------------------------------------------------

    def _first_start(self, d: date) -> datetime:
        return datetime.combine(d, self.office_hours.periods[0][0], tzinfo=self.tz)

    def _last_end(self, d: date) -> datetime:
        return datetime.combine(d, self.office_hours.periods[-1][1], tzinfo=self.tz)

    def _local(self, moment: datetime, name: str) -> datetime:
        _require_aware(moment, name)
        try:
            local = moment.astimezone(self.tz)
        except OverflowError as exc:
            raise DateOutOfWindowError(
                f"{name} {moment.isoformat()} is at the end of the representable dates; correct the date"
            ) from exc
        first, last = self._computable
        if not first <= local.year <= last:
            self.window.check_computable(local.year)
        return local

    def _cached_position(self, moment: datetime, name: str) -> int:
        """``_position(_local(moment, name))``, memoised by instant (validated the first time)."""
        # Only aware moments with fold 0 are keys: a naive one is refused by _local, and two moments
        # of one zone differing only by fold compare equal although they are an hour apart.
        memo = moment.tzinfo is not None and not moment.fold
        if memo:
            position = self._position_of.get(moment)
            if position is not None:
                return position
        position = self._position(self._local(moment, name))
        if memo:
            if len(self._position_of) >= _CACHE_ENTRIES:
                self._position_of.clear()
            self._position_of[moment] = position
        return position

    def working_start(self, moment: datetime) -> datetime:
        """Normalise ``moment`` to working time.

        Inside an office period it is unchanged (converted to tz); in a break it moves to the
        next period's start; after hours or on a non-working day, to the first period start of
        the next working day. A period's end instant belongs to the break after it.
        """
        return self._moment_at(self._position(self._local(moment, "moment")), prefer_end=False)

    # ---- adding durations -------------------------------------------------------------------

    def add(self, start: datetime, duration: Duration) -> datetime:
        """The due moment of ``duration`` counted from ``start`` (aware, in self.tz)."""
        if duration.unit is DurationUnit.WORKING_DAYS:
            return self.add_working_days(start, duration.value)
        if duration.unit is DurationUnit.WORKING_HOURS:
            return self.add_working_hours(start, duration.value)
        local = self._local(start, "start")
        try:
            if duration.unit is DurationUnit.CALENDAR_DAYS:
                # Same local wall-clock time n days later (aware arithmetic in one zone is wall-clock).
                end = local + timedelta(microseconds=_to_microseconds(duration.value * 86_400_000_000))
            else:
                end_day = _add_months(local.date(), int(duration.value))
                end = datetime.combine(end_day, local.time(), tzinfo=self.tz)
        except (OverflowError, ValueError) as exc:
            raise DateOutOfWindowError(
                f"{duration.value} {duration.unit.value} after {local.isoformat()} is beyond the "
                "representable dates, outside the calendar's range; check the statutory time"
            ) from exc
        self.window.check_computable(end.year)
        return self._roll_over_day_off(end)

    def _roll_over_day_off(self, end: datetime) -> datetime:
        # Civil Code 2015 art. 148(5): a period whose last day is a day off ends at the end of the
        # next working day. A profile whose law counts plain days (roll_over_day_off False) keeps it.
        if not self.roll_over_day_off or self.is_working_day(end.date()):
            return end
        return self._last_end(self.next_working_day(end.date()))

    def add_working_days(self, start: datetime, days: Decimal | int) -> datetime:
        """``days`` working days after working_start(start): days * hours_per_day of office time."""
        microseconds = self._office_microseconds(days, self._cum_before[-1], "days")
        return self._add_office_microseconds(start, microseconds)

    def add_working_hours(self, start: datetime, hours: Decimal | int) -> datetime:
        """``hours`` of office time after working_start(start).

        Finishing exactly at a period's end returns that end, not the next period's start.
        """
        microseconds = self._office_microseconds(hours, _MICROSECONDS_PER_HOUR, "hours")
        return self._add_office_microseconds(start, microseconds)

    def _office_microseconds(self, amount: Decimal | int, unit: int, name: str) -> int:
        """``amount`` (validated by :meth:`_non_negative`) × ``unit`` microseconds, rounded half-even."""
        kind = type(amount)
        if kind is Decimal or kind is int:  # never a bool: True == 1 would find 1's entry
            try:
                cached = self._office_micro_of.get((amount, unit))
            except TypeError:  # a signalling NaN cannot be hashed: refused below
                cached = None
            if cached is not None:
                return cached
        microseconds = _to_microseconds(self._non_negative(amount, name) * unit)
        if kind is Decimal or kind is int:
            if len(self._office_micro_of) >= _CACHE_ENTRIES:
                self._office_micro_of.clear()
            self._office_micro_of[(amount, unit)] = microseconds
        return microseconds

    @staticmethod
    def _non_negative(amount: Decimal | int, name: str) -> Decimal:
        if isinstance(amount, bool) or not isinstance(amount, Decimal | int):
            raise ValueError(f"{name} must be a Decimal or int, got {amount!r}")
        value = Decimal(amount)
        if not value.is_finite() or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {amount!r}")
        return value

    def _add_office_microseconds(self, start: datetime, microseconds: int) -> datetime:
        position = self._cached_position(start, "start")
        if microseconds == 0:
            return self._moment_at(position, prefer_end=False)
        return self._moment_at(position + microseconds, prefer_end=True)

    def subtract_working_hours(self, moment: datetime, hours: Decimal | int) -> datetime:
        """The latest moment with at least ``hours`` of office time between it and ``moment``."""
        amount = self._non_negative(hours, "hours")
        local = self._local(moment, "moment")
        if amount == 0:
            return local
        back = _to_microseconds(amount * _MICROSECONDS_PER_HOUR)
        return self._moment_at(self._cached_position(moment, "moment") - back, prefer_end=False)

    # ---- the positional index ---------------------------------------------------------------

    def _days_of_year(self, year: int) -> list[int]:
        days = self._year_days.get(year)
        if days is None:
            self.window.check_computable(year)
            first = date(year, 1, 1).toordinal()
            last = date(year, 12, 31).toordinal()
            days = self._year_days[year] = [
                o for o in range(first, last + 1) if self.is_working_day(date.fromordinal(o))
            ]
        return days

    def _start_of_year(self, year: int) -> int:
        start = self._year_start.get(year)
        if start is not None:
            return start
        # Bounds the walk below: it never indexes a year outside the window's reach.
        self.window.check_computable(year)
        if self._anchor_year is None:
            self._anchor_year = year
            self._year_start[year] = 0
            return 0
        anchor = self._anchor_year
        if year > anchor:
            y = max(k for k in self._year_start if k < year)
            while y < year:
                self._year_start[y + 1] = self._year_start[y] + len(self._days_of_year(y))
                y += 1
        else:
            y = min(k for k in self._year_start if k > year)
            while y > year:
                self._year_start[y - 1] = self._year_start[y] - len(self._days_of_year(y - 1))
                y -= 1
        return self._year_start[year]

    def _rank(self, d: date) -> int:
        """Working days strictly before ``d`` (relative to a fixed anchor)."""
        return self._start_of_year(d.year) + bisect_left(self._days_of_year(d.year), d.toordinal())

    def _day_of_rank(self, rank: int) -> date:
        """The working day with ``rank`` working days before it.

        Walks year by year from the anchor; a rank beyond the window's reach raises
        :class:`DateOutOfWindowError` when the walk leaves it, so the walk is bounded.
        """
        year = self._anchor_year if self._anchor_year is not None else self.window.first.year
        while True:
            start = self._start_of_year(year)
            days = self._days_of_year(year)
            if rank < start:
                year -= 1
            elif rank >= start + len(days):
                year += 1
            else:
                return date.fromordinal(days[rank - start])

    def _position(self, local: datetime) -> int:
        d = local.date()
        day = self._day_position.get(d)
        if day is None:
            day = (self._rank(d) * self._cum_before[-1], self.is_working_day(d))
            if len(self._day_position) >= _CACHE_ENTRIES:
                self._day_position.clear()
            self._day_position[d] = day
        start, working = day
        if not working:
            return start
        t = ((local.hour * 60 + local.minute) * 60 + local.second) * 1_000_000 + local.microsecond
        offset = 0
        for a, b in self._period_us:
            if t <= a:
                break
            offset += min(t, b) - a
        return start + offset

    def _moment_at(self, position: int, *, prefer_end: bool) -> datetime:
        """The moment at an office position; where several share it, the period start after a
        break (``prefer_end`` False) or the period end before it (True). Memoised."""
        table = self._moment_of[prefer_end]
        moment = table.get(position)
        if moment is None:
            moment = self._compute_moment_at(position, prefer_end)
            if len(table) >= _CACHE_ENTRIES:
                table.clear()
            table[position] = moment
        return moment

    def _compute_moment_at(self, position: int, prefer_end: bool) -> datetime:
        per_day = self._cum_before[-1]
        rank, rest = divmod(position, per_day)
        if prefer_end and rest == 0:
            day = self._day_of_rank(rank - 1)
            return self._at(day, self._period_us[-1][1])
        day = self._day_of_rank(rank)
        for k, (a, _b) in enumerate(self._period_us):
            lo, hi = self._cum_before[k], self._cum_before[k + 1]
            if lo <= rest < hi or (prefer_end and lo < rest <= hi):
                return self._at(day, a + (rest - lo))
        raise AssertionError("office position outside the day")  # pragma: no cover

    def _at(self, day: date, microsecond_of_day: int) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.tz) + timedelta(microseconds=microsecond_of_day)

    # ---- measuring ---------------------------------------------------------------------------

    def working_hours_between(self, a: datetime, b: datetime) -> Decimal:
        """Office time between ``a`` and ``b``, in hours (0 if b <= a)."""
        return Decimal(self._office_microseconds_between(a, b)) / Decimal(_MICROSECONDS_PER_HOUR)

    def working_days_between(self, a: datetime, b: datetime) -> Decimal:
        """Office time between ``a`` and ``b``, in working days (working_hours_between / hours_per_day)."""
        return Decimal(self._office_microseconds_between(a, b)) / self._per_day_decimal

    def _office_microseconds_between(self, a: datetime, b: datetime) -> int:
        position_a = self._cached_position(a, "a")
        position_b = self._cached_position(b, "b")
        if b <= a:
            return 0
        return max(0, position_b - position_a)

    # ---- reception ---------------------------------------------------------------------------

    def transfer_after_cutoff(self, received: datetime, cutoff: time) -> datetime:
        """Reception time that counts: received at/after ``cutoff`` or on a non-working day moves to
        the first office period start of the next working day; otherwise unchanged (in tz)."""
        local = self._local(received, "received")
        if self.is_working_day(local.date()) and local.time() < cutoff:
            return local
        return self._first_start(self.next_working_day(local.date()))
