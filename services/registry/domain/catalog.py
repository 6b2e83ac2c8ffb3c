"""The national TTHC catalogue (``tthc_catalog.csv``, scraped from the national database) as procedures.

A row becomes a procedure when its processing time can be read; the other rows are listed
with the reason, never guessed. The statutory time is the first variant of ``thoi_han_all``
(the national database's structured value); the catalogue does not say which channel the
other variants belong to, so they are not turned into per-channel times.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pydantic import ValidationError

from services.registry.domain.imports import Row, RowError
from services.registry.domain.statutory_time import TimeParseError, parse_statutory_time
from shared.contracts.registry import ProcedureRecord

CATALOG_COLUMNS = ("ma_thu_tuc", "ten_thu_tuc", "cap_thuc_hien", "linh_vuc", "so_quyet_dinh", "thoi_han_all")
TIME_COLUMN = "thoi_han_all"
NO_TIME = "the catalogue gives no processing time for this procedure"

_MODEL_TO_COLUMN = {
    "code": "ma_thu_tuc",
    "name": "ten_thu_tuc",
    "field": "linh_vuc",
    "level": "cap_thuc_hien",
}


@dataclass
class CatalogRows:
    """What the catalogue yields: procedures, and every row that is not one, with why."""

    rows_total: int = 0
    rows_with_time: int = 0
    procedures: list[tuple[int, ProcedureRecord]] = field(default_factory=list)
    time_failures: list[RowError] = field(default_factory=list)  # a time is written but unreadable
    other_skips: list[RowError] = field(default_factory=list)  # no time, or another field invalid

    @property
    def rows_parsed(self) -> int:
        return self.rows_with_time - len(self.time_failures)

    @property
    def parsed_share(self) -> float:
        return self.rows_parsed / self.rows_with_time if self.rows_with_time else 1.0


def missing_columns(header: Iterable[str]) -> list[RowError]:
    present = set(header)
    return [
        RowError(1, c, "required catalogue column is missing") for c in CATALOG_COLUMNS if c not in present
    ]


def read_catalog(rows: Iterable[Row]) -> CatalogRows:
    out = CatalogRows()
    seen: dict[str, int] = {}
    for number, row in rows:
        out.rows_total += 1
        text = (row.get(TIME_COLUMN) or "").strip()
        if not text:
            out.other_skips.append(RowError(number, TIME_COLUMN, NO_TIME))
            continue
        out.rows_with_time += 1
        try:
            parsed = parse_statutory_time(text)
        except TimeParseError as exc:
            out.time_failures.append(RowError(number, TIME_COLUMN, f"{exc.reason} (text: {text!r})"))
            continue
        record = _procedure(number, row, parsed.primary.value, parsed.primary.unit.value, out)
        if record is None:
            continue
        if record.code in seen:
            out.other_skips.append(
                RowError(number, "ma_thu_tuc", f"{record.code} is already in row {seen[record.code]}")
            )
            continue
        seen[record.code] = number
        out.procedures.append((number, record))
    return out


def _procedure(
    number: int, row: Mapping[str, str], value: object, unit: str, out: CatalogRows
) -> ProcedureRecord | None:
    def text(column: str) -> str | None:
        return (row.get(column) or "").strip() or None

    try:
        return ProcedureRecord.model_validate(
            {
                "code": text("ma_thu_tuc") or "",
                "name": " ".join((row.get("ten_thu_tuc") or "").split()),
                "field": text("linh_vuc"),
                "level": text("cap_thuc_hien"),
                "statutory_time": {"value": value, "unit": unit},
                "legal_basis": text("so_quyet_dinh"),
            }
        )
    except ValidationError as exc:
        for e in exc.errors():
            name = str(e["loc"][0]) if e.get("loc") else "(row)"
            out.other_skips.append(RowError(number, _MODEL_TO_COLUMN.get(name, name), str(e.get("msg"))))
        return None
