"""Reading import rows (CSV or XLSX, header in row 1) into registry records.

Pure: rows arrive as (row number, column → text) and leave as records plus every row error
(row number, column, reason). Nothing is applied while any error exists; the service layer adds
the errors that need the database (unknown parent, unknown procedure, budgets too long).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from services.registry.domain.agencies import default_obligation
from services.registry.domain.statutory_time import TimeParseError, parse_statutory_time
from shared.calendar import DurationUnit
from shared.contracts.registry import AgencyLevel, AgencyRecord, IsoProcessRecord, ProcedureRecord

Row = tuple[int, Mapping[str, str]]
T = TypeVar("T")
Coded = TypeVar("Coded", AgencyRecord, ProcedureRecord)  # records identified by a code


@dataclass(frozen=True, order=True)
class RowError:
    row: int
    column: str
    reason: str


@dataclass
class Parsed(Generic[T]):
    """Records with the row each came from (the first row, for a multi-row record) and the errors."""

    items: list[tuple[int, T]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


@dataclass(frozen=True)
class Columns:
    required: tuple[str, ...]
    optional: tuple[str, ...]

    def check(self, header: Sequence[str]) -> list[RowError]:
        known = set(self.required) | set(self.optional)
        errors = [RowError(1, c, "required column is missing") for c in self.required if c not in header]
        errors += [
            RowError(1, c, f"unknown column; the columns are {', '.join(self.required + self.optional)}")
            for c in header
            if c and c not in known
        ]
        return errors


AGENCY_COLUMNS = Columns(
    ("code", "name", "level"),
    (
        "parent_code",
        "iso_obligation",
        "valid_from",
        "valid_to",
        "predecessor_codes",
        "successor_code",
        "reorganisation_basis",
    ),
)
PROCEDURE_COLUMNS = Columns(
    ("code", "name", "statutory_time"),
    ("field", "level", "online_time", "legal_basis", "legal_basis_changed_on", "valid_from", "valid_to"),
)
PROCESS_COLUMNS = Columns(
    (
        "agency_code",
        "procedure_code",
        "version",
        "effective_from",
        "step_code",
        "step_name",
        "responsible_unit",
        "budget_value",
        "budget_unit",
    ),
    ("optional",),
)

_BUDGET_UNITS = {
    "working_hours": DurationUnit.WORKING_HOURS,
    "working_days": DurationUnit.WORKING_DAYS,
    "giờ làm việc": DurationUnit.WORKING_HOURS,
    "giờ": DurationUnit.WORKING_HOURS,
    "ngày làm việc": DurationUnit.WORKING_DAYS,
}
_TRUE = {"1", "true", "yes", "x", "có", "co"}
_FALSE = {"", "0", "false", "no", "không", "khong"}


def _blank_to_none(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _codes(value: str | None) -> list[str]:
    return [c.strip() for c in (value or "").replace(",", ";").split(";") if c.strip()]


def _errors_of(row: int, exc: ValidationError, columns: Mapping[str, str] | None = None) -> list[RowError]:
    """Pydantic errors as row errors; ``columns`` maps a model field to the column it came from."""
    out = []
    for e in exc.errors():
        loc = [str(p) for p in e.get("loc", ())]
        name = loc[0] if loc else "(row)"
        column = (columns or {}).get(name, name)
        out.append(RowError(row, column, str(e.get("msg", "invalid"))))
    return out


def _validate(
    model: type[BaseModel], data: dict[str, Any], row: int, columns: Mapping[str, str] | None = None
) -> tuple[BaseModel | None, list[RowError]]:
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, _errors_of(row, exc, columns)


def agency_from_row(number: int, row: Mapping[str, str]) -> tuple[AgencyRecord | None, list[RowError]]:
    level_text = (row.get("level") or "").strip()
    try:
        level = AgencyLevel(level_text)
    except ValueError:
        choices = ", ".join(v.value for v in AgencyLevel)
        return None, [RowError(number, "level", f"{level_text!r} is not a level; use one of {choices}")]
    data: dict[str, Any] = {
        "code": (row.get("code") or "").strip(),
        "name": (row.get("name") or "").strip(),
        "level": level,
        "parent_code": _blank_to_none(row.get("parent_code")),
        "iso_obligation": _blank_to_none(row.get("iso_obligation")) or default_obligation(level),
        "valid_from": _blank_to_none(row.get("valid_from")),
        "valid_to": _blank_to_none(row.get("valid_to")),
        "predecessor_codes": _codes(row.get("predecessor_codes")),
        "successor_code": _blank_to_none(row.get("successor_code")),
        "reorganisation_basis": _blank_to_none(row.get("reorganisation_basis")),
    }
    record, errors = _validate(AgencyRecord, data, number)
    assert record is None or isinstance(record, AgencyRecord)
    return record, errors


def _parse_by_code(
    columns: Columns,
    header: Sequence[str],
    rows: Iterable[Row],
    from_row: Callable[[int, Mapping[str, str]], tuple[Coded | None, list[RowError]]],
) -> Parsed[Coded]:
    """Every row through ``from_row``; a code seen in an earlier row is an error of its own."""
    result: Parsed[Coded] = Parsed(errors=columns.check(header))
    if result.errors:
        return result
    seen: dict[str, int] = {}
    for number, row in rows:
        record, errors = from_row(number, row)
        result.errors += errors
        if record is None:
            continue
        if record.code in seen:
            result.errors.append(
                RowError(number, "code", f"{record.code} is already in row {seen[record.code]}")
            )
            continue
        seen[record.code] = number
        result.items.append((number, record))
    return result


def parse_agencies(header: Sequence[str], rows: Iterable[Row]) -> Parsed[AgencyRecord]:
    return _parse_by_code(AGENCY_COLUMNS, header, rows, agency_from_row)


def _time(number: int, column: str, text: str) -> tuple[dict[str, Any] | None, list[RowError]]:
    try:
        parsed = parse_statutory_time(text)
    except TimeParseError as exc:
        return None, [RowError(number, column, exc.reason)]
    return {"value": parsed.primary.value, "unit": parsed.primary.unit}, []


def procedure_from_row(number: int, row: Mapping[str, str]) -> tuple[ProcedureRecord | None, list[RowError]]:
    statutory, errors = _time(number, "statutory_time", row.get("statutory_time") or "")
    channel_times = []
    online_text = _blank_to_none(row.get("online_time"))
    if online_text:
        online, online_errors = _time(number, "online_time", online_text)
        errors += online_errors
        if online is not None:
            channel_times.append({"channel": 2, "statutory_time": online})
    if errors:
        return None, errors
    data: dict[str, Any] = {
        "code": (row.get("code") or "").strip(),
        "name": (row.get("name") or "").strip(),
        "field": _blank_to_none(row.get("field")),
        "level": _blank_to_none(row.get("level")),
        "statutory_time": statutory,
        "channel_times": channel_times,
        "legal_basis": _blank_to_none(row.get("legal_basis")),
        "legal_basis_changed_on": _blank_to_none(row.get("legal_basis_changed_on")),
        "valid_from": _blank_to_none(row.get("valid_from")),
        "valid_to": _blank_to_none(row.get("valid_to")),
    }
    record, errors = _validate(ProcedureRecord, data, number, {"channel_times": "online_time"})
    assert record is None or isinstance(record, ProcedureRecord)
    return record, errors


def parse_procedures(header: Sequence[str], rows: Iterable[Row]) -> Parsed[ProcedureRecord]:
    return _parse_by_code(PROCEDURE_COLUMNS, header, rows, procedure_from_row)


@dataclass
class _ProcessDraft:
    first_row: int
    agency_code: str
    procedure_code: str
    version: str
    effective_from: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    step_rows: list[int] = field(default_factory=list)


def _step(number: int, row: Mapping[str, str]) -> tuple[dict[str, Any] | None, list[RowError]]:
    errors: list[RowError] = []
    unit_text = (row.get("budget_unit") or "").strip().lower()
    unit = _BUDGET_UNITS.get(unit_text)
    if unit is None:
        errors.append(
            RowError(
                number,
                "budget_unit",
                f"{unit_text!r} is not a step budget unit; use working_hours or working_days "
                "(giờ làm việc, ngày làm việc)",
            )
        )
    optional_text = (row.get("optional") or "").strip().lower()
    if optional_text not in _TRUE | _FALSE:
        errors.append(RowError(number, "optional", f"{optional_text!r} is not yes/no; leave it empty for no"))
    if errors:
        return None, errors
    return {
        "code": (row.get("step_code") or "").strip(),
        "name": (row.get("step_name") or "").strip(),
        "responsible_unit": (row.get("responsible_unit") or "").strip(),
        "budget": {"value": (row.get("budget_value") or "").strip().replace(",", "."), "unit": unit},
        "optional": optional_text in _TRUE,
    }, []


_STEP_COLUMNS = {"code": "step_code", "name": "step_name", "responsible_unit": "responsible_unit"}


def parse_processes(header: Sequence[str], rows: Iterable[Row]) -> Parsed[IsoProcessRecord]:
    """One row per step; the rows of one (agency, procedure, version) make one process version."""
    result: Parsed[IsoProcessRecord] = Parsed(errors=PROCESS_COLUMNS.check(header))
    if result.errors:
        return result
    drafts: dict[tuple[str, str, str], _ProcessDraft] = {}
    for number, row in rows:
        key = (
            (row.get("agency_code") or "").strip(),
            (row.get("procedure_code") or "").strip(),
            (row.get("version") or "").strip(),
        )
        effective = (row.get("effective_from") or "").strip()
        draft = drafts.get(key)
        if draft is None:
            draft = drafts[key] = _ProcessDraft(number, *key, effective)
        elif effective != draft.effective_from:
            result.errors.append(
                RowError(
                    number,
                    "effective_from",
                    f"{effective} differs from {draft.effective_from} in row {draft.first_row} "
                    "for the same process version",
                )
            )
            continue
        step, errors = _step(number, row)
        result.errors += errors
        if step is not None:
            draft.steps.append(step)
            draft.step_rows.append(number)
    for draft in drafts.values():
        data = {
            "agency_code": draft.agency_code,
            "procedure_code": draft.procedure_code,
            "version": draft.version,
            "effective_from": draft.effective_from,
            "steps": draft.steps,
        }
        try:
            record = IsoProcessRecord.model_validate(data)
        except ValidationError as exc:
            for e in exc.errors():
                loc = [str(p) for p in e.get("loc", ())]
                if (
                    len(loc) >= 3
                    and loc[0] == "steps"
                    and loc[1].isdigit()
                    and int(loc[1]) < len(draft.step_rows)
                ):
                    column = "budget_value" if loc[2] == "budget" else _STEP_COLUMNS.get(loc[2], loc[2])
                    result.errors.append(RowError(draft.step_rows[int(loc[1])], column, str(e.get("msg"))))
                else:
                    result.errors.append(
                        RowError(draft.first_row, loc[0] if loc else "(row)", str(e.get("msg")))
                    )
            continue
        if record.agency_code and record.procedure_code:
            result.items.append((draft.first_row, record))
    for draft in drafts.values():
        for column, value in (("agency_code", draft.agency_code), ("procedure_code", draft.procedure_code)):
            if not value:
                result.errors.append(RowError(draft.first_row, column, "required"))
    result.errors.sort()
    return result
