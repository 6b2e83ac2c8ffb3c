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
from fpdf.fonts import FontFace

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


def _table(pdf: _Document, sheet: forms.Sheet) -> None:
    heads = sheet.heading_rows()
    widths: list[float] = [6, sheet.label_width, *[c.width for c in sheet.columns]]
    pdf.set_font(_FAMILY, "", 7.5)
    with pdf.table(
        col_widths=widths,
        num_heading_rows=len(heads) + 1,
        repeat_headings=1,
        text_align="CENTER",
        line_height=3.6,
        headings_style=FontFace(emphasis="BOLD"),
        padding=0.8,
    ) as table:
        for head_row in heads:
            row = table.row()
            for h in head_row:
                row.cell(h.text, colspan=h.colspan, rowspan=h.rowspan, align="C")
        numbering = table.row()
        for c in range(1, len(widths) + 1):
            numbering.cell(f"({c})", align="C")
        for line in sheet.lines:
            style = FontFace(emphasis="BOLD") if line.bold else None
            row = table.row(style=style)
            row.cell(line.number, align="C")
            row.cell(line.label, align="L")
            for col in sheet.columns:
                row.cell(_text(col, line.values.get(col.key)), align="L" if col.kind == "text" else "R")
    if sheet.note:
        pdf.ln(1)
        pdf.set_font(_FAMILY, "I", 7)
        pdf.multi_cell(0, 3.5, sheet.note, new_x="LMARGIN", new_y="NEXT")


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
        _table(pdf, sheet)
        _signatures(pdf)
    return bytes(pdf.output())
