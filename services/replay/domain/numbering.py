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

    def next_code(self, agency_code: str, day: date) -> str:
        """The next dossier code of ``agency_code`` received on ``day``."""
        self._issued[(agency_code, day)] += 1
        n = self._issued[(agency_code, day)]
        if n >= 10**_MAX_DIGITS:
            raise ValueError(
                f"more than {10**_MAX_DIGITS - 1} cases of {agency_code} on {day.isoformat()}; "
                "a dossier code holds at most 6 sequence digits"
            )
        return f"{agency_code}-{day:%y%m%d}-{n:0{self.digits}d}"
