"""ISO processes (quy trình ISO): do the required step budgets fit inside the statutory time?

Step budgets are working hours or working days; a statutory time may also be in calendar days
or months. Those are compared at their worst case: the fewest working days any window of that
length can hold (weekends counted, public holidays not), so a process accepted here fits every
week alignment of a dossier that meets no public holiday. A month counts as 28 calendar days.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from shared.calendar import DurationUnit
from shared.contracts.registry import IsoProcessRecord, IsoStep, StatutoryTime

_DAYS_PER_WEEK = 7
_WORKING_DAYS_PER_WEEK = 5
_SHORTEST_MONTH_DAYS = 28


def min_working_days_in(calendar_days: Decimal) -> Decimal:
    """The fewest working days (Mon–Fri) in any ``calendar_days`` consecutive days."""
    whole = int(calendar_days)
    weeks, rest = divmod(whole, _DAYS_PER_WEEK)
    # the worst alignment starts the remainder on a Saturday: its first two days are the weekend
    return Decimal(weeks * _WORKING_DAYS_PER_WEEK + max(0, rest - 2))


def capacity_hours(statutory: StatutoryTime, hours_per_day: Decimal) -> Decimal:
    """Working hours the statutory time guarantees at the least."""
    value = statutory.value
    match statutory.unit:
        case DurationUnit.WORKING_HOURS:
            return value
        case DurationUnit.WORKING_DAYS:
            return value * hours_per_day
        case DurationUnit.CALENDAR_DAYS:
            return min_working_days_in(value) * hours_per_day
        case DurationUnit.MONTHS:
            return min_working_days_in(value * _SHORTEST_MONTH_DAYS) * hours_per_day
    raise AssertionError(statutory.unit)  # pragma: no cover


def step_hours(step: IsoStep, hours_per_day: Decimal) -> Decimal:
    if step.budget.unit is DurationUnit.WORKING_DAYS:
        return step.budget.value * hours_per_day
    return step.budget.value


def required_hours(steps: Sequence[IsoStep], hours_per_day: Decimal) -> Decimal:
    """Sum of the budgets of the steps that are not optional."""
    return sum((step_hours(s, hours_per_day) for s in steps if not s.optional), Decimal(0))


def _fmt(hours: Decimal, hours_per_day: Decimal) -> str:
    days = (hours / hours_per_day).normalize()
    return f"{hours.normalize():f} working hours ({days:f} working days)"


def process_problems(
    process: IsoProcessRecord, statutory: StatutoryTime, hours_per_day: Decimal
) -> list[tuple[str, str]]:
    """What is wrong with ``process`` for a procedure of time ``statutory``, as (field, reason)."""
    problems: list[tuple[str, str]] = []
    codes = [s.code for s in process.steps]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    if duplicates:
        problems.append(("steps", f"step codes must be unique; repeated: {', '.join(duplicates)}"))
    need = required_hours(process.steps, hours_per_day)
    have = capacity_hours(statutory, hours_per_day)
    if need > have:
        problems.append(
            (
                "steps",
                f"the required steps need {_fmt(need, hours_per_day)} but the statutory time "
                f"{statutory.value.normalize():f} {statutory.unit.value} guarantees only "
                f"{_fmt(have, hours_per_day)}; shorten the budgets or mark steps optional",
            )
        )
    return problems


def in_force(versions: Sequence[IsoProcessRecord], on: date) -> IsoProcessRecord | None:
    """The version in force on day ``on``: the latest ``effective_from`` on or before it
    (the higher version wins a tie)."""
    candidates = [v for v in versions if v.effective_from <= on]
    if not candidates:
        return None
    return max(candidates, key=lambda v: (v.effective_from, v.version))
