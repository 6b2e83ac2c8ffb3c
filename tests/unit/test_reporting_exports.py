"""Export rendering without a database: formula neutralisation, the form frame, sheet names."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from services.reporting.adapters import exports
from services.reporting.domain import forms
from services.reporting.domain.periods import parse_period, period_name

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
HOSTILE = ["=1+1", "+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("http://x","y")']
COLUMNS = (forms.Column("text", "Văn bản", "text"), forms.Column("n", "Số", "integer"))


@pytest.mark.parametrize("text", HOSTILE)
def test_csv_cells_that_would_be_formulas_get_an_apostrophe(text: str) -> None:
    body = exports.table_csv(COLUMNS, [{"text": text, "n": -5}], TZ)
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert rows[1] == ["'" + text, "-5"]  # numbers stay numbers, negative ones too


def test_harmless_text_is_left_as_written() -> None:
    body = exports.table_csv(COLUMNS, [{"text": "Sở Tư pháp (1+1)", "n": 3}], TZ)
    assert body.decode("utf-8-sig").splitlines()[1] == "Sở Tư pháp (1+1),3"


def test_xlsx_cells_that_would_be_formulas_are_quoted_strings() -> None:
    body = exports.table_xlsx("Sổ", "kỳ", COLUMNS, [{"text": t, "n": 1} for t in HOSTILE], TZ)
    ws = load_workbook(io.BytesIO(body))["Sổ"]
    cells = [ws.cell(row=r, column=1) for r in range(5, 5 + len(HOSTILE))]
    assert [c.data_type for c in cells] == ["s"] * len(HOSTILE)
    assert all(c.quotePrefix for c in cells)
    assert [c.value for c in cells] == [t.replace("\r", "\n") for t in HOSTILE]


def test_sheet_names_are_chosen_not_cut() -> None:
    with pytest.raises(ValueError, match="31 characters"):
        forms.Sheet("Tình hình áp dụng HTQLCL TCVN ISO 9001:2015", (), "x", ())
    with pytest.raises(ValueError, match="31 characters"):
        exports.table_xlsx("Chỉ số theo Quyết định 766/QĐ-TTg của Thủ tướng", "", COLUMNS, [], TZ)


def test_register_dates_are_local_date_cells() -> None:
    when = datetime(2025, 3, 10, 2, 30, tzinfo=UTC)  # 09:30 in Hà Nội
    cols = (forms.Column("at", "Thời điểm", "text"),)
    ws = load_workbook(io.BytesIO(exports.table_xlsx("Sổ", "", cols, [{"at": when}], TZ)))["Sổ"]
    assert ws["A5"].value == datetime(2025, 3, 10, 9, 30)
    assert ws["A5"].number_format == "dd/mm/yyyy hh:mm"
    assert (
        exports.table_csv(cols, [{"at": when}], TZ).decode("utf-8-sig").splitlines()[1] == "10/03/2025 09:30"
    )


@pytest.mark.parametrize(
    ("text", "kind", "name"),
    [
        ("2025-03", "calendar", "tháng 03/2025 (kỳ theo lịch)"),
        ("2025-Q1", "statutory", "quý I năm 2025 (kỳ báo cáo theo quy định)"),
        ("2021-H1", "calendar", "6 tháng đầu năm 2021 (kỳ theo lịch)"),
        ("2025", "calendar", "năm 2025 (kỳ theo lịch)"),
    ],
)
def test_period_names_as_printed(text: str, kind: str, name: str) -> None:
    assert period_name(parse_period(text, "statutory" if kind == "statutory" else "calendar")) == name


def test_frame_lines() -> None:
    f = forms.Frame(
        "Biểu", "T", "tháng 03/2025", date(2025, 3, 1), date(2025, 3, 31), "A", "B", date(2025, 4, 2)
    )
    assert f.period_line == "Kỳ báo cáo: tháng 03/2025 (từ ngày 01/03/2025 đến ngày 31/03/2025)"
    assert f.date_line == "Ngày 02 tháng 04 năm 2025"
    assert forms.Frame(**{**f.__dict__, "place": "Cần Thơ"}).date_line == "Cần Thơ, ngày 02 tháng 04 năm 2025"
