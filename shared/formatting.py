"""Numbers and dates as a Vietnamese reader writes them (1.234; 84,2 %; 2,46; dd/mm/yyyy).

One module for pages and exports, so a figure reads the same on the dashboard, in CSV and in
XLSX. English (``lang="en"``) uses the English separators (1,234; 84.2%; 2.46). Spreadsheet
cells keep their numeric value and take :data:`XLSX_FORMATS` as number formats instead.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

Lang = Literal["vi", "en"]

XLSX_FORMATS = {
    "integer": "#,##0",  # Excel/LibreOffice render the separators of the reader's locale
    "decimal": "#,##0.00",
    "percent": "0.0%",
    "date": "dd/mm/yyyy",
    "datetime": "dd/mm/yyyy hh:mm",
}


def _grouped(value: Decimal, digits: int, lang: Lang) -> str:
    q = Decimal(1).scaleb(-digits)
    text = f"{value.quantize(q, rounding=ROUND_HALF_UP):,.{digits}f}"
    if lang == "vi":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def number(value: int | float | Decimal | None, lang: Lang = "vi") -> str:
    """An integer count: ``1234`` → ``1.234`` (vi) / ``1,234`` (en); ``None`` → ``–``."""
    if value is None:
        return "–"
    return _grouped(Decimal(value), 0, lang)


def decimal(value: int | float | Decimal | None, digits: int = 2, lang: Lang = "vi") -> str:
    """A measured quantity: ``2.456`` → ``2,46`` (vi) / ``2.46`` (en); half up, like the forms."""
    if value is None:
        return "–"
    return _grouped(Decimal(str(value)) if isinstance(value, float) else Decimal(value), digits, lang)


def percent(ratio: int | float | Decimal | None, digits: int = 1, lang: Lang = "vi") -> str:
    """A ratio as a percentage: ``0.8421`` → ``84,2 %`` (vi, with a space) / ``84.2%`` (en)."""
    if ratio is None:
        return "–"
    value = (Decimal(str(ratio)) if isinstance(ratio, float) else Decimal(ratio)) * 100
    return decimal(value, digits, lang) + (" %" if lang == "vi" else "%")


def day(value: date | None) -> str:
    """``dd/mm/yyyy`` in both languages (the forms are Vietnamese)."""
    return "–" if value is None else value.strftime("%d/%m/%Y")


def moment(value: datetime | None, tz: tzinfo) -> str:
    """A point in time in the deployment's time zone: ``dd/mm/yyyy HH:mm``; never a UTC ISO string."""
    if value is None:
        return "–"
    if value.tzinfo is None:
        raise ValueError("a moment needs a time zone; naive datetimes are ambiguous")
    return value.astimezone(tz).strftime("%d/%m/%Y %H:%M")
