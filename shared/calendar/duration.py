"""Statutory durations (thời hạn giải quyết) and the office hours they are counted in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from decimal import Decimal
from enum import StrEnum
from functools import cached_property

_MICROSECONDS_PER_HOUR = 3_600_000_000
_PERIOD_RE = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")


class DurationUnit(StrEnum):
    """The unit a procedure's statutory time is expressed in."""

    WORKING_DAYS = "working_days"  # Ngày làm việc
    CALENDAR_DAYS = "calendar_days"  # Ngày (ngày lịch)
    WORKING_HOURS = "working_hours"  # Giờ làm việc
    MONTHS = "months"  # Tháng


@dataclass(frozen=True)
class Duration:
    """A statutory time: a non-negative amount in one unit (e.g. 0.5 working day, 3 months).

    An ``int`` value is accepted and stored as ``Decimal``; months must be whole.
    """

    value: Decimal
    unit: DurationUnit

    def __post_init__(self) -> None:
        value: object = self.value
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            raise ValueError(
                f"Duration value must be a Decimal or int, got {value!r}; write e.g. Decimal('0.5')"
            )
        amount = Decimal(value)
        if not amount.is_finite() or amount < 0:
            raise ValueError(f"Duration value must be a finite number >= 0, got {value!r}")
        unit = DurationUnit(self.unit)
        if unit is DurationUnit.MONTHS and amount != amount.to_integral_value():
            raise ValueError(f"A duration in months must be a whole number of months, got {value!r}")
        object.__setattr__(self, "value", amount)
        object.__setattr__(self, "unit", unit)


def _microseconds_of_day(t: time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


@dataclass(frozen=True)
class OfficeHours:
    """Giờ hành chính: the working periods of one working day, local time."""

    periods: tuple[tuple[time, time], ...] = ((time(7, 30), time(11, 30)), (time(13, 0), time(17, 0)))

    def __post_init__(self) -> None:
        periods = tuple((start, end) for start, end in self.periods)
        if not periods:
            raise ValueError("Office hours need at least one working period, e.g. 07:30-11:30")
        previous_end: time | None = None
        for start, end in periods:
            if not isinstance(start, time) or not isinstance(end, time):
                raise ValueError(f"Office period {start!r}-{end!r} must be two datetime.time values")
            if start.tzinfo is not None or end.tzinfo is not None:
                raise ValueError(
                    f"Office period {start}-{end} must use naive local times; the calendar's tz applies"
                )
            if start >= end:
                raise ValueError(f"Office period {start:%H:%M}-{end:%H:%M} must start before it ends")
            if previous_end is not None and start < previous_end:
                raise ValueError(
                    f"Office period {start:%H:%M}-{end:%H:%M} starts before the previous period ends "
                    f"({previous_end:%H:%M}); list periods in order without overlaps"
                )
            previous_end = end
        object.__setattr__(self, "periods", periods)

    @cached_property  # a frozen dataclass: computed once, kept in the instance (not a field)
    def microseconds_per_day(self) -> int:
        """Office time of one full working day, in microseconds."""
        return sum(_microseconds_of_day(end) - _microseconds_of_day(start) for start, end in self.periods)

    @cached_property
    def hours_per_day(self) -> Decimal:
        """Office hours in one working day (8 with the defaults)."""
        return Decimal(self.microseconds_per_day) / Decimal(_MICROSECONDS_PER_HOUR)

    @classmethod
    def parse(cls, text: str) -> OfficeHours:
        """Parse ``"07:30-11:30,13:00-17:00"`` (comma-separated HH:MM-HH:MM periods)."""
        example = "'07:30-11:30,13:00-17:00'"
        if not text or not text.strip():
            raise ValueError(f"Office hours are empty; write periods like {example}")
        periods: list[tuple[time, time]] = []
        for part in text.split(","):
            match = _PERIOD_RE.match(part.strip())
            if match is None:
                raise ValueError(
                    f"Office hours {text!r}: period {part.strip()!r} is not of the form HH:MM-HH:MM "
                    f"(e.g. {example})"
                )
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            try:
                periods.append((time(h1, m1), time(h2, m2)))
            except ValueError as exc:
                raise ValueError(
                    f"Office hours {text!r}: period {part.strip()!r} has an invalid time "
                    f"(hours 00-23, minutes 00-59)"
                ) from exc
        return cls(tuple(periods))
