"""The date window every calendar computation stays inside (issue #11).

A typo such as year 3025 for 2025 is schema-valid; without a bound the working-day index
would build (and holiday-check) every year between its anchor and 3025, burning seconds of
CPU per dossier. Dates outside the window are refused with :class:`DateOutOfWindowError`, the
one error the calendar and the compliance engine declare for data they cannot judge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


class DateOutOfWindowError(ValueError):
    """A date (an event's, or one computed from it) outside the configured date window."""


def _years_later(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


@dataclass(frozen=True)
class DateWindow:
    """The dates the system accepts and computes with: ``first`` … ``last`` inclusive.

    Events must fall inside it; a due date computed from such an event may reach up to
    ``reach_years`` past ``last`` (a long statutory time counted from the last accepted day).
    """

    first: date = date(2000, 1, 1)
    last: date = date(2099, 12, 31)
    reach_years: int = 10

    def __post_init__(self) -> None:
        if self.first > self.last:
            raise ValueError(
                f"Date window starts {self.first.isoformat()} after it ends {self.last.isoformat()}; "
                "set the first date before the last"
            )
        if self.reach_years < 0:
            raise ValueError(f"Date window reach must be >= 0 years, got {self.reach_years}")

    @classmethod
    def ending_years_after(cls, first: date, today: date, years_ahead: int) -> DateWindow:
        """The configured window: ``first`` … ``today`` + ``years_ahead`` years."""
        return cls(first, _years_later(today, years_ahead))

    @property
    def first_computable_year(self) -> int:
        """Earliest year the calendar indexes (one before ``first``: counting back from it)."""
        return max(1, self.first.year - 1)

    @property
    def last_computable_year(self) -> int:
        """Latest year the calendar indexes (``reach_years`` after ``last``)."""
        return min(9998, self.last.year + self.reach_years)

    def contains(self, d: date) -> bool:
        return self.first <= d <= self.last

    def check(self, d: date, what: str) -> None:
        """Raise :class:`DateOutOfWindowError` naming ``what`` unless ``d`` is inside the window."""
        if not self.contains(d):
            raise DateOutOfWindowError(
                f"{what} {d.isoformat()} is outside the date window {self.first.isoformat()} … "
                f"{self.last.isoformat()}; correct the date (TTHC_DATE_WINDOW_START / "
                "TTHC_DATE_WINDOW_YEARS_AHEAD set the window)"
            )

    def check_computable(self, year: int) -> None:
        """Raise :class:`DateOutOfWindowError` if a computed date's ``year`` is beyond the calendar's reach."""
        if not self.first_computable_year <= year <= self.last_computable_year:
            raise DateOutOfWindowError(
                f"a date computed from this dossier falls in year {year}, outside the calendar's range "
                f"{self.first_computable_year}–{self.last_computable_year} (date window "
                f"{self.first.isoformat()} … {self.last.isoformat()} plus {self.reach_years} years); "
                "check the event dates and the statutory time"
            )
