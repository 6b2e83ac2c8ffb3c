"""Reporting periods: calendar month / quarter / half / year, and the statutory periods.

Statutory periods run from the ``start_day`` (15th by default, a setting) of the month
before to the day before it in the last month: the year 2025 runs 15/12/2024 → 14/12/2025.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

CalendarKind = Literal["calendar", "statutory"]

_PATTERN = re.compile(r"^(?P<year>\d{4})(?:-(?:(?P<month>\d{2})|Q(?P<quarter>[1-4])|H(?P<half>[12])))?$")


class PeriodError(ValueError):
    """The period text cannot be read."""


@dataclass(frozen=True)
class Period:
    """A closed range of local dates [first, last]."""

    label: str
    kind: CalendarKind
    first: date
    last: date

    @property
    def end_exclusive(self) -> date:
        return self.last + timedelta(days=1)


# Dossiers are dated within these years; beyond them the date arithmetic of a period's bounds overflows.
MIN_YEAR, MAX_YEAR = 1970, 2999


def _month_start(year: int, month: int) -> date:
    while month < 1:
        year, month = year - 1, month + 12
    while month > 12:
        year, month = year + 1, month - 12
    return date(year, month, 1)


def parse_period(text: str, kind: CalendarKind = "calendar", start_day: int = 15) -> Period:
    """Read ``2025-03``, ``2025-Q1``, ``2021-H1`` or ``2025``."""
    m = _PATTERN.match(text.strip())
    if not m:
        raise PeriodError(
            f"period {text!r} is not understood: use YYYY-MM (2025-03), YYYY-Qn (2025-Q1), YYYY-Hn (2021-H1) or YYYY"
        )
    year = int(m["year"])
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise PeriodError(f"period {text!r}: the year must be {MIN_YEAR}–{MAX_YEAR}")
    if m["month"]:
        month = int(m["month"])
        if not 1 <= month <= 12:
            raise PeriodError(f"period {text!r}: month must be 01–12")
        first_month, months = month, 1
    elif m["quarter"]:
        first_month, months = 3 * (int(m["quarter"]) - 1) + 1, 3
    elif m["half"]:
        first_month, months = 6 * (int(m["half"]) - 1) + 1, 6
    else:
        first_month, months = 1, 12
    if kind == "calendar":
        first = _month_start(year, first_month)
        last = _month_start(year, first_month + months) - timedelta(days=1)
    else:
        if not 1 <= start_day <= 28:
            raise PeriodError("the statutory period start day must be 1–28")
        first = _month_start(year, first_month - 1).replace(day=start_day)
        last = _month_start(year, first_month + months - 1).replace(day=start_day) - timedelta(days=1)
    return Period(text.strip(), kind, first, last)


def period_name(p: Period) -> str:
    """How a form names the period: "tháng 03/2025", "quý I năm 2025", "6 tháng đầu năm 2021", "năm 2025"."""
    m = _PATTERN.match(p.label)
    assert m is not None  # a Period comes from parse_period
    year = m["year"]
    if m["month"]:
        name = f"tháng {m['month']}/{year}"
    elif m["quarter"]:
        name = f"quý {('I', 'II', 'III', 'IV')[int(m['quarter']) - 1]} năm {year}"
    elif m["half"]:
        name = f"6 tháng {'đầu' if m['half'] == '1' else 'cuối'} năm {year}"
    else:
        name = f"năm {year}"
    return f"{name} ({'kỳ báo cáo theo quy định' if p.kind == 'statutory' else 'kỳ theo lịch'})"


def previous_label(label: str) -> str:
    """The period of the same size just before ``label``: 2025-01 → 2024-12, 2025-Q1 → 2024-Q4, 2025 → 2024."""
    m = _PATTERN.match(label.strip())
    if not m:
        raise PeriodError(f"period {label!r} is not understood")
    year = int(m["year"])
    if m["month"]:
        month = int(m["month"])
        return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"
    if m["quarter"]:
        q = int(m["quarter"])
        return f"{year - 1}-Q4" if q == 1 else f"{year}-Q{q - 1}"
    if m["half"]:
        return f"{year - 1}-H2" if m["half"] == "1" else f"{year}-H1"
    return str(year - 1)


def closed_by(today: date, kind: CalendarKind, start_day: int = 15) -> list[Period]:
    """The periods that ended most recently before ``today``: the month, and the quarter, half and
    year when that month ends one (what a period close freezes)."""
    if kind == "statutory":
        # statutory month M ends on the (start_day - 1)th of M
        year, month = (today.year, today.month) if today.day >= start_day else (today.year, today.month - 1)
    else:
        year, month = today.year, today.month - 1
    if month < 1:
        year, month = year - 1, 12
    labels = [f"{year}-{month:02d}"]
    if month % 3 == 0:
        labels.append(f"{year}-Q{month // 3}")
    if month % 6 == 0:
        labels.append(f"{year}-H{month // 6}")
    if month == 12:
        labels.append(str(year))
    return [parse_period(label, kind, start_day) for label in labels]
