"""Reading a procedure's statutory processing time (thời hạn giải quyết) as written in the national
TTHC database, e.g. ``"8 Ngày làm việc"``, ``"15 Ngày"``, ``"24 Giờ"``, ``"3 tháng"`` or several
variants separated by ``|`` (``"60 Ngày làm việc | 30 ngày | 45 ngày"``).

Decisions, each grounded in the real catalogue (``../shared/data/tthc_catalog.csv``):

* ``"giờ"`` alone counts as working hours (``WORKING_HOURS``), like ``"giờ làm việc"`` and ``"tiếng"``:
  a statutory time in hours runs inside office hours, and the catalogue writes the same time both
  ways in one cell (``"8 Giờ | 08 giờ làm việc"``).
* ``"tuần"`` (weeks) becomes calendar days × 7; it does not occur in the catalogue today.
* ``"năm"`` (years) is not read: the calendar has no year unit, and in the catalogue every
  ``"N năm"`` is a date fragment or a licence validity period, never the processing time itself.
* The catalogue's variants were cut out of free text, so ``"ngày 30 tháng 6 năm 2020"`` shows up as
  the two variants ``"30 tháng | 6 năm"``. A ``"D tháng"`` variant directly followed by ``"M năm"``
  (D in 1..31, M in 1..12) is read as that date and skipped, not as D months.
* Numbers written in words do not occur in the catalogue and are not read.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from shared.calendar import Duration, DurationUnit

_EXPECTED = 'expected "<number> <unit>" such as "8 Ngày làm việc", "15 Ngày", "24 Giờ", "3 tháng"'

# Matched against the folded text (lower case, diacritics removed, đ → d), one character per
# character of the NFC text, so match positions are valid in the original text too.
_DURATION_RE = re.compile(
    r"(?<!\w)(?P<number>\d+(?:[.,]\d+)?)\s*"
    r"(?P<unit>ngay\s*lam\s*viec|ngay|gio\s*lam\s*viec|gio|tieng(?:\s*dong\s*ho)?|thang|tuan|nam)(?!\w)"
)
_UNITS: dict[str, tuple[DurationUnit, int]] = {
    "ngaylamviec": (DurationUnit.WORKING_DAYS, 1),
    "ngay": (DurationUnit.CALENDAR_DAYS, 1),
    "giolamviec": (DurationUnit.WORKING_HOURS, 1),
    "gio": (DurationUnit.WORKING_HOURS, 1),
    "tieng": (DurationUnit.WORKING_HOURS, 1),
    "tiengdongho": (DurationUnit.WORKING_HOURS, 1),
    "thang": (DurationUnit.MONTHS, 1),
    "tuan": (DurationUnit.CALENDAR_DAYS, 7),
}
_NOTE_STRIP = " \t\r\n:;,.-–—()[]"
_YEAR = "nam"

_REASON_EMPTY = "the text is empty"
_REASON_NO_DURATION = "no number followed by a time unit (ngày làm việc, ngày, giờ, tháng)"
_REASON_SEVERAL = "more than one duration in one variant; separate variants with '|'"
_REASON_YEARS = "years ('năm') are not a processing-time unit; write the time in months or days"
_REASON_DATE = "reads as a date ('<day> tháng <month> năm'), not as a duration"
_REASON_FRACTIONAL_MONTHS = "months must be whole; write a fractional month in days"


@dataclass(frozen=True)
class TimeVariant:
    """One reading of a statutory time, e.g. ``"03 ngày làm việc"`` → 3 working days."""

    duration: Duration
    text: str
    note: str | None


@dataclass(frozen=True)
class ParsedTime:
    """All readable variants of one cell, in source order, plus the variants that could not be read."""

    variants: tuple[TimeVariant, ...]
    skipped: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.variants:
            raise ValueError("ParsedTime needs at least one variant; the first one is the statutory time")

    @property
    def primary(self) -> Duration:
        """The statutory time: the first variant, which is the structured value of the national database."""
        return self.variants[0].duration


class TimeParseError(ValueError):
    """A processing time that cannot be read; ``reason`` is the short cause, without the text."""

    def __init__(self, text: str, reason: str) -> None:
        self.text = text
        self.reason = reason
        super().__init__(f'cannot read "{text.strip()}" as a processing time: {reason}; {_EXPECTED}')


def _fold(text: str) -> str:
    """Lower case without diacritics, exactly one output character per input character."""
    out: list[str] = []
    for char in text:
        if char in "đĐ":
            out.append("d")
            continue
        # NFD puts the base letter first; [0] keeps the one-to-one mapping even where lower() grows
        out.append(unicodedata.normalize("NFD", char)[0].lower()[0])
    return "".join(out)


def _unit_and_factor(folded_unit: str) -> tuple[DurationUnit, int]:
    """Map a matched unit to (unit, multiplier); weeks are counted as 7 calendar days."""
    return _UNITS[re.sub(r"\s+", "", folded_unit)]


@dataclass(frozen=True)
class _Reading:
    text: str
    variant: TimeVariant | None
    reason: str | None
    folded_unit: str | None = None
    number: str | None = None


def _read_variant(text: str) -> _Reading:
    folded = _fold(text)
    matches = list(_DURATION_RE.finditer(folded))
    if not matches:
        return _Reading(text, None, _REASON_NO_DURATION)
    if len(matches) > 1:
        return _Reading(text, None, _REASON_SEVERAL)
    match = matches[0]
    number, folded_unit = match.group("number"), match.group("unit")
    if folded_unit == _YEAR:
        return _Reading(text, None, _REASON_YEARS, folded_unit, number)
    unit, factor = _unit_and_factor(folded_unit)
    value = Decimal(number.replace(",", ".")) * factor
    if unit is DurationUnit.MONTHS and value != value.to_integral_value():
        return _Reading(text, None, _REASON_FRACTIONAL_MONTHS, folded_unit, number)
    note_parts = (text[: match.start()].strip(_NOTE_STRIP), text[match.end() :].strip(_NOTE_STRIP))
    note = " ".join(part for part in note_parts if part) or None
    variant = TimeVariant(duration=Duration(value=value, unit=unit), text=text, note=note)
    return _Reading(text, variant, None, folded_unit, number)


def _is_whole_in(number: str | None, low: int, high: int) -> bool:
    return number is not None and number.isdigit() and low <= int(number) <= high


def _mark_dates(readings: list[_Reading]) -> list[_Reading]:
    """Skip ``"D tháng | M năm"`` pairs: they are a date cut in two, not a number of months."""
    marked = list(readings)
    for i in range(len(marked) - 1):
        month, year = marked[i], marked[i + 1]
        if (
            month.folded_unit == "thang"
            and year.folded_unit == _YEAR
            and _is_whole_in(month.number, 1, 31)
            and _is_whole_in(year.number, 1, 12)
        ):
            marked[i] = _Reading(month.text, None, _REASON_DATE, month.folded_unit, month.number)
            marked[i + 1] = _Reading(year.text, None, _REASON_DATE, year.folded_unit, year.number)
    return marked


def parse_statutory_time(text: str) -> ParsedTime:
    """Read a statutory time cell (variants separated by ``|``); raise ``TimeParseError`` if none is readable.

    Unreadable variants are listed in ``ParsedTime.skipped``; variants with the same duration and
    note are kept once, at their first position.
    """
    normalised = unicodedata.normalize("NFC", text).strip()
    if not normalised:
        raise TimeParseError(text, _REASON_EMPTY)
    parts = [part.strip() for part in normalised.split("|") if part.strip()]
    if not parts:
        raise TimeParseError(text, _REASON_EMPTY)
    readings = _mark_dates([_read_variant(part) for part in parts])
    variants: list[TimeVariant] = []
    seen: set[tuple[Duration, str | None]] = set()
    skipped: list[str] = []
    reasons: list[str] = []
    for reading in readings:
        if reading.variant is None:
            skipped.append(reading.text)
            if reading.reason is not None and reading.reason not in reasons:
                reasons.append(reading.reason)
            continue
        key = (reading.variant.duration, reading.variant.note)
        if key not in seen:
            seen.add(key)
            variants.append(reading.variant)
    if not variants:
        raise TimeParseError(normalised, "; ".join(reasons) or _REASON_NO_DURATION)
    return ParsedTime(variants=tuple(variants), skipped=tuple(skipped))


@dataclass(frozen=True)
class CatalogParseReport:
    """How many catalogue rows carry a time and how many of those could be read."""

    rows_total: int
    rows_with_time: int
    rows_parsed: int
    failures: tuple[tuple[int, str, str], ...]  # (csv row number, header = row 1; the text; the reason)

    @property
    def parsed_share(self) -> float:
        """Rows parsed over rows with a time; 1.0 when no row has a time."""
        return self.rows_parsed / self.rows_with_time if self.rows_with_time else 1.0


def parse_catalog_times(
    rows: Iterable[Mapping[str, str]], column: str = "thoi_han_all"
) -> CatalogParseReport:
    """Parse the time column of catalogue rows (e.g. from ``csv.DictReader``).

    Rows with an empty time are counted in ``rows_total`` only; they are not failures.
    """
    rows_total = rows_with_time = rows_parsed = 0
    failures: list[tuple[int, str, str]] = []
    for row_number, row in enumerate(rows, start=2):
        rows_total += 1
        text = row.get(column) or ""
        if not text.strip():
            continue
        rows_with_time += 1
        try:
            parse_statutory_time(text)
        except TimeParseError as error:
            failures.append((row_number, text, error.reason))
        else:
            rows_parsed += 1
    return CatalogParseReport(rows_total, rows_with_time, rows_parsed, tuple(failures))
