"""CSV and XLSX renderings of the reports (Vietnamese headings, the official form's layout).

CSV is UTF-8 with a byte-order mark so that Excel shows Vietnamese correctly; XLSX is
written by openpyxl with merged two-level headings like the printed Biểu 06.

Every text cell is *neutralised* (issue #12): a spreadsheet would run a cell that starts with
``= + - @`` (or a tab / carriage return that some importers strip first) as a formula, so an
agency named ``=HYPERLINK(…)`` could put a live link or a DDE call in an officer's report.
CSV cells get a leading apostrophe (the OWASP advice: Excel and LibreOffice show the text
after it); XLSX cells keep their text but are written as strings (never a formula) with the
"quote prefix" style, so editing the cell does not turn it into one either.

Tables whose rows have no bound (the nonconformity register) are streamed: CSV batch by
batch, XLSX through openpyxl's write-only mode (rows go to a temporary file, memory stays
flat) and then sent from that file in chunks.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from copy import copy
from datetime import datetime, tzinfo
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter

from services.reporting.domain import forms
from services.reporting.domain.form06 import level_label
from shared.contracts.reports import FORM06_KEYS
from shared.formatting import XLSX_FORMATS, day, decimal, moment, percent

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"

#: Biểu 06 columns as (key, Vietnamese heading), in the printed form's order.
FORM06_COLUMNS: tuple[tuple[str, str], ...] = tuple((c.key, c.heading) for c in forms.FORM06_COLUMNS)
assert {k for k, _ in FORM06_COLUMNS} == set(FORM06_KEYS)

_THIN = Side(style="thin")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
_WRAP = Alignment(vertical="center", wrap_text=True)
_BOLD = Font(bold=True)
_NUMBER_FORMATS = {
    "integer": XLSX_FORMATS["integer"],
    "percent": XLSX_FORMATS["percent"],
    "decimal": XLSX_FORMATS["decimal"],
}

#: first characters that make a spreadsheet read a cell as a formula (or that importers strip
#: before looking again): ``= + - @``, tab, carriage return (and line feed: XML turns a stored
#: carriage return into one)
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")

#: bytes sent per chunk when a streamed XLSX leaves its temporary file
_CHUNK = 64 * 1024


def dangerous(text: str) -> bool:
    """Would a spreadsheet take this text for a formula?"""
    return text.startswith(FORMULA_TRIGGERS)


def csv_text(value: Any) -> Any:
    """A CSV cell's value, text that would start a formula behind an apostrophe (numbers untouched)."""
    if isinstance(value, str) and dangerous(value):
        return "'" + value
    return value


def line_feeds(text: str) -> str:
    """Line breaks as XML reads them back (CR LF and CR become LF), so an XLSX cell holds the same text
    whichever XML library openpyxl writes with: its standard-library writer stores a CR that readers
    turn into a LF, lxml (installed beside it by the ``[bench]`` extra) keeps it as ``&#13;``."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def put(cell: Cell | WriteOnlyCell, value: Any) -> Cell | WriteOnlyCell:
    """Write ``value`` in an XLSX cell; text is always a string cell, quote-prefixed when it looks like a formula."""
    if isinstance(value, str):
        value = line_feeds(value)
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"  # openpyxl would store "=…" as a formula
        if dangerous(value):
            cell.quotePrefix = True
    return cell


def _csv_lines(rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerows([csv_text(v) for v in row] for row in rows)
    return buf.getvalue()


def _csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    return ("\ufeff" + _csv_lines([header, *rows])).encode("utf-8")


def form06_csv(doc: dict[str, Any]) -> bytes:
    """One line per agency (grouped by level), then the total line."""
    header = ["Cấp", "Mã cơ quan", "Tên cơ quan", *[h for _, h in FORM06_COLUMNS]]
    lines: list[list[Any]] = []
    agencies = doc.get("agencies", {})
    for row in doc["rows"]:
        info = agencies.get(row["agency_code"], {})
        lines.append(
            [
                level_label(info.get("level", "other")),
                row["agency_code"],
                info.get("name") or "",
                *[row[k] for k, _ in FORM06_COLUMNS],
            ]
        )
    lines.append(["", "", "Tổng cộng", *[doc["totals"][k] for k, _ in FORM06_COLUMNS]])
    return _csv(header, lines)


def _grid(heads: Sequence[Sequence[forms.Head]]) -> list[tuple[int, int, forms.Head]]:
    """(row offset, column, head) of each heading cell, HTML-table placement (1-based columns)."""
    taken: set[tuple[int, int]] = set()
    placed = []
    for r, row in enumerate(heads):
        c = 1
        for h in row:
            while (r, c) in taken:
                c += 1
            placed.append((r, c, h))
            taken.update((r + i, c + j) for i in range(h.rowspan) for j in range(h.colspan))
            c += h.colspan
    return placed


def _styled(
    ws: Any,
    value: Any,
    *,
    font: Font | None = None,
    align: Alignment | None = None,
    box: bool = False,
    number_format: str | None = None,
) -> WriteOnlyCell:
    cell = put(WriteOnlyCell(ws), value)
    if font is not None:
        cell.font = font
    if align is not None:
        cell.alignment = align
    if box:
        cell.border = _BOX
    if number_format is not None:
        cell.number_format = number_format
    return cell


def _row(width: int, placed: dict[int, WriteOnlyCell]) -> list[Any]:
    return [placed.get(c) for c in range(1, width + 1)]


def _page_setup(ws: Any, title_rows: tuple[int, int]) -> None:
    """A4 landscape, one page wide (as many pages tall as needed), heading rows on every page."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = "9"  # A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"{title_rows[0]}:{title_rows[1]}"
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.oddFooter.center.text = "Trang &P/&N"


def _value_cell(ws: Any, col: forms.Column, value: Any, bold: bool) -> WriteOnlyCell:
    font = _BOLD if bold else None
    if value is None and col.kind != "text":
        return _styled(ws, "–", font=font, align=Alignment(horizontal="center"), box=True)
    if col.kind in _NUMBER_FORMATS:
        v = int(value) if col.kind == "integer" else float(value)
        return _styled(ws, v, font=font, box=True, number_format=_NUMBER_FORMATS[col.kind])
    return _styled(ws, _plain(value), font=font, align=_WRAP, box=True)


def _form_sheet(wb: Workbook, frame: forms.Frame, sheet: forms.Sheet) -> None:
    ws = wb.create_sheet(sheet.name)
    width = 2 + len(sheet.columns)
    last = get_column_letter(width)
    ws.column_dimensions["A"].width = 6
    ws.column_dimensions["B"].width = sheet.label_width
    for i, col in enumerate(sheet.columns, start=3):
        ws.column_dimensions[get_column_letter(i)].width = col.width
    right = max(3, width - 3)  # first column of the right-hand blocks (dates, signature)
    right_letter = get_column_letter(right)

    # a write-only sheet writes its view and properties with the first row: set them up first
    top = 6
    heads = sheet.heading_rows()
    numbering = top + len(heads)
    ws.freeze_panes = f"C{numbering + 1}"
    _page_setup(ws, (top, numbering))
    ws.row_dimensions[2].height = 36
    if len(heads) > 1:
        ws.row_dimensions[numbering - 1].height = 60

    def at(col: int, value: Any, **style: Any) -> dict[int, WriteOnlyCell]:
        return {col: _styled(ws, value, **style)}

    ws.append(_row(width, at(1, frame.form_code, font=_BOLD)))
    ws.append(_row(width, at(1, frame.title, font=Font(bold=True, size=13), align=_CENTER)))
    ws.merged_cells.add(f"A2:{last}2")
    ws.append(_row(width, at(1, frame.period_line, align=_CENTER)))
    ws.merged_cells.add(f"A3:{last}3")
    ws.append(_row(width, {1: _styled(ws, f"Đơn vị báo cáo: {frame.unit}", font=_BOLD),
                           right: _styled(ws, frame.measure, align=Alignment(horizontal="right"))}))  # fmt: skip
    ws.append(_row(width, {1: _styled(ws, f"Đơn vị nhận báo cáo: {frame.receiver}", font=_BOLD),
                           right: _styled(ws, f"Ngày lập báo cáo: {day(frame.made_on)}",
                                          align=Alignment(horizontal="right"))}))  # fmt: skip
    ws.merged_cells.add(f"{right_letter}4:{last}4")
    ws.merged_cells.add(f"{right_letter}5:{last}5")

    grid: dict[int, dict[int, WriteOnlyCell]] = {r: {} for r in range(len(heads))}
    for r, c, h in _grid(heads):
        grid[r][c] = _styled(ws, h.text, font=_BOLD, align=_CENTER, box=True)
        if h.rowspan > 1 or h.colspan > 1:
            ws.merged_cells.add(
                f"{get_column_letter(c)}{top + r}:{get_column_letter(c + h.colspan - 1)}{top + r + h.rowspan - 1}"
            )
    for r in range(len(heads)):
        for c in range(1, width + 1):  # borders on the covered cells of merged headings too
            grid[r].setdefault(c, _styled(ws, None, box=True))
        ws.append(_row(width, grid[r]))
    ws.append([_styled(ws, f"({c})", font=_BOLD, align=_CENTER, box=True) for c in range(1, width + 1)])

    for line in sheet.lines:
        font = _BOLD if line.bold else None
        ws.append(
            [
                _styled(ws, line.number, font=font, align=Alignment(horizontal="center"), box=True),
                _styled(ws, line.label, font=font, align=_WRAP, box=True),
                *[_value_cell(ws, col, line.values.get(col.key), line.bold) for col in sheet.columns],
            ]
        )
    ws.append([])
    if sheet.note:
        ws.append([_styled(ws, sheet.note, font=Font(italic=True, size=9))])
        ws.append([])
    # signature block: the maker on the left, the head of the unit on the right, under the date
    italic_center = Alignment(horizontal="center")
    ws.append(_row(width, {right: _styled(ws, frame.date_line, font=Font(italic=True), align=italic_center)}))
    for bold in (True, False):
        cells: dict[int, WriteOnlyCell] = {}
        for signer, at_col in zip(frame.signers, (2, right), strict=False):
            text, font = (signer.title, _BOLD) if bold else (signer.note, Font(italic=True))
            cells[at_col] = _styled(ws, text, font=font, align=italic_center)
        ws.append(_row(width, cells))
    ws.oddFooter.left.text = frame.form_code


def form_xlsx(form: forms.Form) -> bytes:
    """A printed form as a workbook: one sheet per table, with the frame, page set-up and formats."""
    wb = Workbook(write_only=True)
    for sheet in form.sheets:
        _form_sheet(wb, form.frame, sheet)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def form06_xlsx(doc: dict[str, Any], frame: forms.Frame) -> bytes:
    """Biểu 06 as printed: sheet "Biểu 06" by level and field, sheet "Theo cơ quan" per agency."""
    return form_xlsx(forms.form06_form(doc, frame))


# --- plain tables (registers): CSV and XLSX, streamed -----------------------------------------

Columns = Sequence[forms.Column]


def _plain(v: Any) -> Any:
    if isinstance(v, bool):
        return "có" if v else "không"
    if v is None or isinstance(v, int | float | str):
        return v
    return str(v)


def _csv_value(col: forms.Column, v: Any, tz: tzinfo) -> Any:
    if v is None:
        return ""
    if isinstance(v, datetime):
        return moment(v, tz)
    if col.kind == "percent":
        return percent(v)
    if col.kind == "decimal":
        return decimal(v)
    return _plain(v)


def _csv_rows(columns: Columns, rows: Iterable[Mapping[str, Any]], tz: tzinfo) -> list[list[Any]]:
    return [[_csv_value(c, r.get(c.key), tz) for c in columns] for r in rows]


def table_csv(columns: Columns, rows: Sequence[Mapping[str, Any]], tz: tzinfo) -> bytes:
    return _csv([c.heading for c in columns], _csv_rows(columns, rows, tz))


async def table_csv_stream(
    columns: Columns, batches: AsyncIterable[Sequence[Mapping[str, Any]]], tz: tzinfo
) -> AsyncIterator[bytes]:
    """The CSV of every row ``batches`` yields, one chunk per batch."""
    yield ("\ufeff" + _csv_lines([[c.heading for c in columns]])).encode("utf-8")
    async for batch in batches:
        yield _csv_lines(_csv_rows(columns, batch, tz)).encode("utf-8")


class _TableSheet:
    """A titled table on a write-only sheet: bordered bold headings, rows appended as they come."""

    def __init__(
        self, wb: Workbook, title: str, subtitle: str, columns: Columns, tz: tzinfo, sheet: str | None
    ):
        name = sheet or title
        if len(name) > 31 or re.search(r"[\\/*?:\[\]]", name):
            raise ValueError(f"sheet name {name!r}: at most 31 characters, none of \\ / * ? : [ ]")
        self.ws = ws = wb.create_sheet(name)
        self.columns, self.tz = columns, tz
        for i, c in enumerate(columns, start=1):
            ws.column_dimensions[get_column_letter(i)].width = c.width
        ws.freeze_panes = "A5"
        _page_setup(ws, (4, 4))
        ws.append([_styled(ws, title, font=Font(bold=True, size=13))])
        ws.merged_cells.add(f"A1:{get_column_letter(max(1, len(columns)))}1")
        ws.append([_styled(ws, subtitle)])
        ws.append([])
        ws.append([_styled(ws, c.heading, font=_BOLD, align=_CENTER, box=True) for c in columns])

        # a register has tens of thousands of cells: style each from a prepared one (openpyxl
        # would look every font / border / format up again, ~1 ms a cell)
        self._styles = {
            kind: _styled(ws, None, box=True, number_format=fmt)._style
            for kind, fmt in (
                ("text", None),
                ("datetime", XLSX_FORMATS["datetime"]),
                *_NUMBER_FORMATS.items(),
            )
        }
        self._styles["quoted"] = put(_styled(ws, None, box=True), "=")._style

    def _cell(self, value: Any, style: str) -> Any:
        if isinstance(value, str):
            value = line_feeds(value)
        if style == "text" and (value is None or (isinstance(value, str) and not dangerous(value))):
            return value  # a plain cell: the cheapest openpyxl writes
        cell = WriteOnlyCell(self.ws, value)
        if isinstance(value, str):
            cell.data_type = "s"  # never a formula
            if dangerous(value):
                style = "quoted"
        cell._style = copy(self._styles[style])
        return cell

    def add(self, row: Mapping[str, Any]) -> None:
        cells = []
        for c in self.columns:
            v = row.get(c.key)
            if isinstance(v, datetime):
                naive = v.astimezone(self.tz).replace(tzinfo=None)  # a spreadsheet has no time zones
                cells.append(self._cell(naive, "datetime"))
            elif v is None or c.kind == "text" or c.kind not in _NUMBER_FORMATS:
                cells.append(self._cell(_plain(v), "text"))
            else:
                cells.append(self._cell(int(v) if c.kind == "integer" else float(v), c.kind))
        self.ws.append(cells)


def table_xlsx(
    title: str,
    subtitle: str,
    columns: Columns,
    rows: Iterable[Mapping[str, Any]],
    tz: tzinfo,
    *,
    sheet: str | None = None,
) -> bytes:
    """A titled table (registers) as a workbook."""
    wb = Workbook(write_only=True)
    t = _TableSheet(wb, title, subtitle, columns, tz, sheet)
    for row in rows:
        t.add(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


async def table_xlsx_stream(
    title: str,
    subtitle: str,
    columns: Columns,
    batches: AsyncIterable[Sequence[Mapping[str, Any]]],
    tz: tzinfo,
    *,
    sheet: str | None = None,
) -> AsyncIterator[bytes]:
    """The workbook of every row ``batches`` yields: rows go to openpyxl's temporary files as they
    come, the zip is written to a temporary file (spilled to disk past 1 MiB) and sent in chunks."""
    wb = Workbook(write_only=True)
    t = _TableSheet(wb, title, subtitle, columns, tz, sheet)
    async for batch in batches:
        for row in batch:
            t.add(row)
    with tempfile.SpooledTemporaryFile(max_size=1 << 20) as out:
        await asyncio.to_thread(wb.save, out)
        out.seek(0)
        while chunk := out.read(_CHUNK):
            yield chunk
