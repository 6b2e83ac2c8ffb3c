"""Streaming CSV event-log reader: one row per event, rows of a case next to each other.

Row 1 names the columns. Every column is an event attribute; a case's attributes are, per
column, the first non-empty value among its rows (exports repeat case attributes on every
row). Rows must be grouped by case — a case id that comes back after another case is refused
with a message, since regrouping would need the whole file in memory. UTF-8 (a BOM is fine);
``.gz`` is read transparently.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from services.replay.adapters.xes import UnreadableLog, open_log
from services.replay.domain.log import LogCase, LogEvent


def read_csv(path: Path, case_id_column: str, delimiter: str = ",") -> Iterator[LogCase]:
    """The cases of a CSV event log in file order."""
    try:
        yield from _cases(path, case_id_column, delimiter)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise UnreadableLog(f"{path}: not a readable UTF-8 CSV file ({exc})") from exc


def _cases(path: Path, case_id_column: str, delimiter: str) -> Iterator[LogCase]:
    with open_log(path) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
        reader = csv.DictReader(text, delimiter=delimiter)
        if reader.fieldnames is None or case_id_column not in reader.fieldnames:
            raise UnreadableLog(
                f"{path}: no column {case_id_column!r} (columns: {', '.join(reader.fieldnames or [])}); "
                "set [log] case_id in the mapping"
            )
        finished: set[str] = set()
        current: str | None = None
        attributes: dict[str, str] = {}
        events: list[LogEvent] = []
        for row in reader:
            values = {k: v for k, v in row.items() if k is not None and v is not None}
            case_id = values.get(case_id_column, "").strip()
            if case_id != current:
                if current is not None:
                    finished.add(current)
                    yield LogCase(current, attributes, tuple(events))
                if case_id in finished:
                    raise UnreadableLog(
                        f"{path}, line {reader.line_num}: case {case_id!r} appears again after other cases; "
                        f"sort the file by {case_id_column} (keeping each case's rows in time order)"
                    )
                current, attributes, events = case_id, {}, []
            for k, v in values.items():
                if v.strip() and k not in attributes:
                    attributes[k] = v
            events.append(LogEvent(len(events), values))
        if current is not None:
            yield LogCase(current, attributes, tuple(events))
