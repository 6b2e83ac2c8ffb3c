"""Clock arithmetic the rules share: clocks that stop while waiting, counting back, day-based verdicts.

Everything goes through :class:`WorkingCalendar`; this module only adds what the calendar
does not offer (a clock that freezes during pauses, counting office time backwards).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from services.processing.domain.history import SupplementPause
from shared.calendar import Duration, DurationUnit, WorkingCalendar
from shared.contracts.compliance import Outcome, StepStatus

_MICROSECONDS_PER_HOUR = 3_600_000_000
# Any real calendar has a working day within a few weeks; this only stops a misconfiguration looping.
_MAX_SEARCH_DAYS = 3660
_WALL_CLOCK_UNITS = frozenset({DurationUnit.CALENDAR_DAYS, DurationUnit.MONTHS})


@dataclass(slots=True)  # never changed once built; not frozen: a frozen init costs 7× on the hot path
class Pause:
    """A stretch during which a clock does not run; ``end`` None = still stopped."""

    start: datetime
    end: datetime | None
    answered: bool  # ended by the awaited event itself (not cut off by the dossier closing)


def clip_pauses(pauses: Iterable[SupplementPause], closed_at: datetime | None) -> list[Pause]:
    """Supplement pauses as seen by a clock that stops at ``closed_at`` (None = still running).

    A pause starting at/after the closing is irrelevant; one still open at the closing (or
    answered only after it) ends there, unanswered.
    """
    result: list[Pause] = []
    for p in pauses:
        if closed_at is not None and p.start >= closed_at:
            continue
        end = p.end
        answered = end is not None
        if closed_at is not None and (end is None or end > closed_at):
            end, answered = closed_at, False
        result.append(Pause(p.start, end, answered))
    return result


def _start_of(pause: Pause) -> datetime:
    return pause.start


def run_clock(
    calendar: WorkingCalendar, start: datetime, duration: Duration, pauses: Sequence[Pause]
) -> datetime | None:
    """Due moment of ``duration`` from ``start`` on a clock that stops during ``pauses``.

    Only the part of a pause after ``start`` and before the (growing) due moment counts: a
    pause that begins after the due moment cannot make a late clock timely again. Working-time
    units add the pause's office time; calendar days and months shift the start by its
    wall-clock length. None while a pause that would stop the clock is still open.
    """
    due = calendar.add(start, duration)
    if not pauses:  # most clocks never stop
        return due
    shift = timedelta(0)
    for pause in sorted(pauses, key=_start_of):
        begin = max(pause.start, start)
        if begin >= due:
            break
        if pause.end is None:
            return None
        if pause.end <= begin:
            continue
        if duration.unit in _WALL_CLOCK_UNITS:
            shift += pause.end - begin
            due = calendar.add(start + shift, duration)
        else:
            hours = calendar.working_hours_between(begin, pause.end)
            if hours > 0:
                due = calendar.add_working_hours(due, hours)
    return due


def working_moment_before(calendar: WorkingCalendar, moment: datetime, hours: Decimal) -> datetime:
    """The latest moment with at least ``hours`` of office time between it and ``moment``."""
    if hours <= 0:
        return moment
    return calendar.subtract_working_hours(moment, hours)


def working_hours_of(calendar: WorkingCalendar, duration: Duration) -> Decimal:
    """A working-time duration in office hours (working days x hours per day)."""
    if duration.unit is DurationUnit.WORKING_HOURS:
        return duration.value
    if duration.unit is DurationUnit.WORKING_DAYS:
        return duration.value * calendar.office_hours.hours_per_day
    raise ValueError(f"{duration.unit} is not a working-time unit")


def _verdict(done_at: datetime, due_at: datetime, calendar: WorkingCalendar) -> int:
    """-1 done on an earlier day than the due day, 0 by the due moment, 1 after it."""
    if done_at.astimezone(calendar.tz).date() < due_at.astimezone(calendar.tz).date():
        return -1
    return 0 if done_at <= due_at else 1


def classify_resolution(resolved_at: datetime, due_at: datetime, calendar: WorkingCalendar) -> Outcome:
    """Trước hạn if resolved on an earlier day than the due day; đúng hạn by the due moment; else quá hạn."""
    return (Outcome.EARLY, Outcome.ON_TIME, Outcome.LATE)[_verdict(resolved_at, due_at, calendar) + 1]


def classify_step(handed_over_at: datetime, due_at: datetime, calendar: WorkingCalendar) -> StepStatus:
    """The control slip's verdict for one hand-over, by the same rule as a dossier's outcome."""
    return (StepStatus.EARLY, StepStatus.ON_TIME, StepStatus.LATE)[
        _verdict(handed_over_at, due_at, calendar) + 1
    ]
