"""Dossier codes for replayed cases: ``<agency code>-YYMMDD-NNNN`` (mã hồ sơ).

YYMMDD is the local date of the case's first moment as the log wrote it (its own offset);
NNNN numbers the cases of that agency and day in the order the log lists them, so the same
file under the same mapping always gives the same codes.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

_MAX_DIGITS = 6  # the dossier-code contract allows 4 to 6


class DossierNumbering:
    """Hands out sequence numbers per agency and day; memory grows with days, not events."""

    def __init__(self, digits: int = 4) -> None:
        self.digits = digits
        self._issued: Counter[tuple[str, date]] = Counter()
        self._yymmdd: dict[date, str] = {}  # strftime costs more than the rest of a code

    def next_code(self, agency_code: str, day: date) -> str:
        """The next dossier code of ``agency_code`` received on ``day``."""
        key = (agency_code, day)
        n = self._issued[key] = self._issued[key] + 1
        if n >= 10**_MAX_DIGITS:
            raise ValueError(
                f"more than {10**_MAX_DIGITS - 1} cases of {agency_code} on {day.isoformat()}; "
                "a dossier code holds at most 6 sequence digits"
            )
        yymmdd = self._yymmdd.get(day)
        if yymmdd is None:
            yymmdd = self._yymmdd[day] = f"{day:%y%m%d}"
        return f"{agency_code}-{yymmdd}-{n:0{self.digits}d}"
