"""Reading an uploaded CSV or XLSX file into (header, numbered rows of text).

Row numbers are the file's own: the header is row 1, the first data row is row 2, so an error
message points at the line a person sees in a spreadsheet program.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal

from services.registry.domain.imports import Row


class UnreadableFile(ValueError):
    """The upload is not a CSV or XLSX file we can read; the message says what to send."""


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(Decimal(str(value)))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _is_xlsx(filename: str, data: bytes) -> bool:
    return filename.lower().endswith(".xlsx") or data[:4] == b"PK\x03\x04"


def read_table(filename: str, data: bytes) -> tuple[list[str], list[Row]]:
    """Header (stripped column names) and the non-empty data rows with their row numbers."""
    if _is_xlsx(filename, data):
        return _read_xlsx(data)
    return _read_csv(data)


def _read_csv(data: bytes) -> tuple[list[str], list[Row]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            f"the CSV file is not UTF-8 (byte {exc.start}); save it as 'CSV UTF-8' or send an .xlsx file"
        ) from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise UnreadableFile("the file is empty; row 1 must name the columns") from None
    rows: list[Row] = []
    # numbered by record, as a spreadsheet program shows them (a cell may span several lines)
    for number, values in enumerate(reader, start=2):
        if any(v.strip() for v in values):
            rows.append((number, dict(zip(header, (v.strip() for v in values), strict=False))))
    return header, rows


def _read_xlsx(data: bytes) -> tuple[list[str], list[Row]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise UnreadableFile(f"the file is not a readable .xlsx workbook ({type(exc).__name__})") from exc
    try:
        sheet = workbook.worksheets[0]
        lines: Iterator[tuple[object, ...]] = sheet.iter_rows(values_only=True)
        try:
            header = [_cell(v) for v in next(lines)]
        except StopIteration:
            raise UnreadableFile("the first sheet is empty; row 1 must name the columns") from None
        while header and not header[-1]:
            header.pop()
        rows: list[Row] = []
        for number, values in enumerate(lines, start=2):
            cells = [_cell(v) for v in values[: len(header)]]
            if any(cells):
                rows.append((number, dict(zip(header, cells, strict=False))))
        return header, rows
    finally:
        workbook.close()
