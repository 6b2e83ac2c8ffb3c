"""PDF renderings of the printed forms (fpdf2; DejaVu Sans for the Vietnamese glyphs).

The same :class:`~services.reporting.domain.forms.Form` as the XLSX: A4 landscape, the frame
(reporting unit, receiving unit, period, date made) above the table, heading rows repeated on
every page, page numbers in the footer, the signature block under the table. Each sheet of
the form starts on a new page.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fpdf import FPDF

from services.reporting.domain import forms
from shared.formatting import decimal, number, percent

PDF_MEDIA_TYPE = "application/pdf"
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf", "I": "DejaVuSans-Oblique.ttf"}
_FAMILY = "DejaVu"


class FontMissing(Exception):
    """The fonts with Vietnamese glyphs are not where the settings say."""


def _text(col: forms.Column, value: Any) -> str:
    if value is None:
        return "–"
    if col.kind == "integer":
        return number(value)
    if col.kind == "percent":
        return percent(value)
    if col.kind == "decimal":
        return decimal(value)
    return str(value)


class _Document(FPDF):
    def __init__(self, frame: forms.Frame, font_dir: Path) -> None:
        super().__init__(orientation="L", unit="mm", format="A4")
        self.frame = frame
        for style, name in FONT_FILES.items():
            path = font_dir / name
            if not path.is_file():
                raise FontMissing(
                    f"{path} not found: install Debian's fonts-dejavu-core or set "
                    "TTHC_REPORTING_PDF_FONT_DIR to a folder with DejaVuSans.ttf, -Bold and -Oblique"
                )
            self.add_font(_FAMILY, style, str(path))
        self.set_auto_page_break(auto=True, margin=14)
        self.set_margins(10, 10, 10)
        self.set_title(frame.title)
        self.set_author(frame.unit)
        self.set_creator("TTHC Monitor")

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font(_FAMILY, "I", 7)
        self.cell(
            0, 5, f"{self.frame.form_code} — {self.frame.unit} — Trang {self.page_no()}/{{nb}}", align="C"
        )


def _frame_top(pdf: _Document) -> None:
    f = pdf.frame
    half = (pdf.w - pdf.l_margin - pdf.r_margin) / 2
    pdf.set_font(_FAMILY, "B", 9)
    pdf.cell(half, 5, f.form_code)
    pdf.set_font(_FAMILY, "", 9)
    pdf.cell(half, 5, f"Đơn vị báo cáo: {f.unit}", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(half, 5, f.measure)
    pdf.cell(half, 5, f"Đơn vị nhận báo cáo: {f.receiver}", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font(_FAMILY, "B", 12)
    pdf.multi_cell(0, 6, f.title, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FAMILY, "", 10)
    pdf.cell(0, 6, f.period_line, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)


_LINE = 3.4  # mm per text line in the table
_PAD = 0.8  # mm around a cell's text


def _lines(pdf: _Document, text: str, width: float) -> list[str]:
    """``text`` broken into the lines that fit ``width`` (one line when it fits: the common, fast case)."""
    if pdf.get_string_width(text) <= width - 2 * _PAD:
        return [text]
    lines = pdf.multi_cell(width - 2 * _PAD, _LINE, text, dry_run=True, output="LINES")
    assert isinstance(lines, list)  # output="LINES" answers the list of lines
    return lines


def _box(pdf: _Document, x: float, y: float, w: float, h: float, lines: list[str], align: str) -> None:
    """A bordered cell with its lines centred vertically."""
    pdf.rect(x, y, w, h)
    top = y + (h - len(lines) * _LINE) / 2
    for i, text in enumerate(lines):
        pdf.set_xy(x + _PAD, top + i * _LINE)
        pdf.cell(w - 2 * _PAD, _LINE, text, align=align)


class _Table:
    """A bordered table drawn cell by cell (fpdf2's own table lays out every cell with a full line
    breaker, ~2 ms a cell: a province's Biểu 06 took seconds); headings repeated after a page break."""

    def __init__(self, pdf: _Document, sheet: forms.Sheet) -> None:
        self.pdf, self.sheet = pdf, sheet
        raw = [6.0, sheet.label_width, *[c.width for c in sheet.columns]]
        scale = pdf.epw / sum(raw)
        self.widths = [w * scale for w in raw]
        self.left = [pdf.l_margin + sum(self.widths[:i]) for i in range(len(self.widths))]
        heads = sheet.heading_rows()
        self.cells = [(r, c, h) for r, c, h in _grid(heads)]
        self.cells += [(len(heads), c, forms.Head(f"({c})")) for c in range(1, len(self.widths) + 1)]
        self.rows = len(heads) + 1
        pdf.set_font(_FAMILY, "B", 7)
        self.head_lines = {(r, c): _lines(pdf, h.text, self._span(c, h.colspan)) for r, c, h in self.cells}
        heights = [0.0] * self.rows
        for r, c, h in sorted(self.cells, key=lambda rc: rc[2].rowspan):
            need = len(self.head_lines[(r, c)]) * _LINE + 2 * _PAD
            have = sum(heights[r : r + h.rowspan])
            if need > have:
                heights[r + h.rowspan - 1] += need - have
        self.heights = heights

    def _span(self, col: int, colspan: int) -> float:
        return sum(self.widths[col - 1 : col - 1 + colspan])

    def heading(self) -> None:
        pdf, y0 = self.pdf, self.pdf.get_y()
        pdf.set_font(_FAMILY, "B", 7)
        for r, c, h in self.cells:
            y = y0 + sum(self.heights[:r])
            _box(pdf, self.left[c - 1], y, self._span(c, h.colspan), sum(self.heights[r : r + h.rowspan]),
                 self.head_lines[(r, c)], "C")  # fmt: skip
        pdf.set_xy(pdf.l_margin, y0 + sum(self.heights))

    def body(self) -> None:
        pdf = self.pdf
        self.heading()
        for line in self.sheet.lines:
            pdf.set_font(_FAMILY, "B" if line.bold else "", 7)
            label = _lines(pdf, line.label, self.widths[1])
            h = len(label) * _LINE + 2 * _PAD
            if pdf.get_y() + h > pdf.page_break_trigger:
                pdf.add_page()
                self.heading()
                pdf.set_font(_FAMILY, "B" if line.bold else "", 7)
            y = pdf.get_y()
            _box(pdf, self.left[0], y, self.widths[0], h, [line.number], "C")
            _box(pdf, self.left[1], y, self.widths[1], h, label, "L")
            for i, col in enumerate(self.sheet.columns, start=2):
                _box(pdf, self.left[i], y, self.widths[i], h, [_text(col, line.values.get(col.key))],
                     "L" if col.kind == "text" else "R")  # fmt: skip
            pdf.set_xy(pdf.l_margin, y + h)
        if self.sheet.note:
            pdf.ln(1)
            pdf.set_font(_FAMILY, "I", 7)
            pdf.multi_cell(0, 3.5, self.sheet.note, new_x="LMARGIN", new_y="NEXT")


def _grid(heads: Sequence[Sequence[forms.Head]]) -> list[tuple[int, int, forms.Head]]:
    """(row, 1-based column, head) of each heading cell, placed as in an HTML table."""
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


def _signatures(pdf: _Document) -> None:
    f = pdf.frame
    if pdf.will_page_break(28):
        pdf.add_page()
    pdf.ln(4)
    third = (pdf.w - pdf.l_margin - pdf.r_margin) / 3
    right_x = pdf.l_margin + 2 * third
    pdf.set_font(_FAMILY, "I", 9)
    pdf.set_x(right_x)
    pdf.cell(third, 5, f.date_line, align="C", new_x="LMARGIN", new_y="NEXT")
    for style in ("B", "I"):
        pdf.set_font(_FAMILY, style, 9)
        for signer, x in zip(f.signers, (pdf.l_margin, right_x), strict=False):
            pdf.set_x(x)
            pdf.cell(third, 5, signer.title if style == "B" else signer.note, align="C")
        pdf.ln(5)


def form_pdf(form: forms.Form, font_dir: Path, sheets: Sequence[int] | None = None) -> bytes:
    """The form as a PDF; ``sheets`` picks some of its tables (all by default)."""
    pdf = _Document(form.frame, font_dir)
    chosen = [s for i, s in enumerate(form.sheets) if sheets is None or i in sheets]
    for sheet in chosen:
        pdf.add_page()
        _frame_top(pdf)
        _Table(pdf, sheet).body()
        _signatures(pdf)
    return bytes(pdf.output())
