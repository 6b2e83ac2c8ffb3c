"""CSV and XLSX renderings of the reports (Vietnamese headings, the official form's layout).

CSV is UTF-8 with a byte-order mark so that Excel shows Vietnamese correctly; XLSX is
written by openpyxl with merged two-level headings like the printed Biểu 06.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from services.reporting.domain.form06 import field_label, level_label
from shared.contracts.reports import FORM06_KEYS

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"

#: Biểu 06 columns in the printed form's order, with their Vietnamese headings.
FORM06_COLUMNS: tuple[tuple[str, str], ...] = (
    ("received_total", "Tổng số hồ sơ nhận giải quyết"),
    ("carried_over", "Số từ kỳ trước chuyển qua"),
    ("received_online", "Số mới tiếp nhận trực tuyến"),
    ("received_offline", "Số mới tiếp nhận trực tiếp, qua dịch vụ bưu chính công ích"),
    ("resolved_total", "Tổng số đã giải quyết"),
    ("resolved_early", "Trả trước hạn"),
    ("resolved_on_time", "Trả đúng thời hạn"),
    ("resolved_late", "Trả quá hạn"),
    ("pending_total", "Tổng số đang giải quyết"),
    ("pending_within", "Chưa đến hạn"),
    ("pending_overdue", "Quá hạn"),
)
assert {k for k, _ in FORM06_COLUMNS} == set(FORM06_KEYS)

_THIN = Side(style="thin")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
_ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII")


def _csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


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


def _form06_heading(ws: Worksheet, doc: dict[str, Any], first_label: str) -> int:
    """The title block and the three heading rows; returns the first data row."""
    last_col = 2 + len(FORM06_COLUMNS)
    p = doc["period"]
    ws["A1"] = "Biểu số 06/VPCP/KSTT"
    ws["A1"].font = Font(bold=True)
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=last_col)
    ws["A2"] = "TÌNH HÌNH, KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH TẠI CƠ QUAN, ĐƠN VỊ TRỰC TIẾP GIẢI QUYẾT"
    ws["A2"].font = Font(bold=True, size=13)
    ws["A2"].alignment = _CENTER
    ws.merge_cells(start_row=3, start_column=1, end_row=3, end_column=last_col)
    kind = "kỳ báo cáo theo quy định" if p["calendar"] == "statutory" else "kỳ theo lịch"
    ws["A3"] = f"Kỳ báo cáo: {p['label']} ({kind}) — từ ngày {p['first']} đến ngày {p['last']}"
    ws["A3"].alignment = _CENTER
    ws["A4"] = f"Đơn vị báo cáo: {doc.get('agency') or 'toàn tỉnh'}"
    ws.cell(row=4, column=last_col, value="Đơn vị tính: số hồ sơ TTHC").alignment = Alignment(
        horizontal="right"
    )
    top = 6
    heads = [
        (top, 1, top + 2, 1, "STT"),
        (top, 2, top + 2, 2, first_label),
        (top, 3, top, 6, "Số hồ sơ nhận giải quyết"),
        (top, 7, top, 13, "Kết quả giải quyết"),
        (top + 1, 3, top + 2, 3, FORM06_COLUMNS[0][1]),
        (top + 1, 4, top + 1, 6, "Trong đó"),
        (top + 1, 7, top + 1, 10, "Số hồ sơ đã giải quyết"),
        (top + 1, 11, top + 1, 13, "Số hồ sơ đang giải quyết"),
    ]
    for r1, c1, r2, c2, text in heads:
        if (r1, c1) != (r2, c2):
            ws.merge_cells(start_row=r1, start_column=c1, end_row=r2, end_column=c2)
        ws.cell(row=r1, column=c1, value=text)
    for i, (_, text) in enumerate(FORM06_COLUMNS[1:], start=4):
        ws.cell(row=top + 2, column=i, value=text)
    for col in range(1, last_col + 1):  # the printed form numbers its columns (1), (2), …
        ws.cell(row=top + 3, column=col, value=f"({col})")
    for row in ws.iter_rows(min_row=top, max_row=top + 3, max_col=last_col):
        for cell in row:
            cell.font = Font(bold=True)
            cell.alignment = _CENTER
            cell.border = _BOX
    ws.column_dimensions["A"].width = 6
    ws.column_dimensions["B"].width = 48
    for col in range(3, last_col + 1):
        ws.column_dimensions[get_column_letter(col)].width = 14
    ws.row_dimensions[top + 2].height = 60
    ws.freeze_panes = ws.cell(row=top + 4, column=3)
    return top + 4


def _put(ws: Worksheet, r: int, number: str, label: str, counts: dict[str, Any], bold: bool = False) -> None:
    ws.cell(row=r, column=1, value=number)
    ws.cell(row=r, column=2, value=label)
    for i, (key, _) in enumerate(FORM06_COLUMNS, start=3):
        ws.cell(row=r, column=i, value=int(counts[key]))
    for col in range(1, 3 + len(FORM06_COLUMNS)):
        cell = ws.cell(row=r, column=col)
        cell.border = _BOX
        if bold:
            cell.font = Font(bold=True)
    ws.cell(row=r, column=1).alignment = Alignment(horizontal="center")
    ws.cell(row=r, column=2).alignment = Alignment(wrap_text=True)


def form06_xlsx(doc: dict[str, Any]) -> bytes:
    """Sheet "Biểu 06": levels (I, II, …) and their fields, as printed; sheet "Theo cơ quan": per agency."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Biểu 06"
    r = _form06_heading(ws, doc, "Lĩnh vực, công việc giải quyết theo cấp")
    _put(ws, r, "", "TỔNG CỘNG", doc["totals"], bold=True)
    r += 1
    for gi, group in enumerate(doc["groups"]):
        _put(
            ws,
            r,
            _ROMAN[gi] if gi < len(_ROMAN) else str(gi + 1),
            level_label(group["level"]),
            group["totals"],
            True,
        )
        r += 1
        for fi, fld in enumerate(group["fields"], start=1):
            _put(ws, r, str(fi), f"Lĩnh vực {field_label(fld['field'])}", fld)
            r += 1

    by_agency = wb.create_sheet("Theo cơ quan")
    r = _form06_heading(by_agency, doc, "Cơ quan, đơn vị")
    _put(by_agency, r, "", "TỔNG CỘNG", doc["totals"], bold=True)
    r += 1
    rows = {row["agency_code"]: row for row in doc["rows"]}
    agencies = doc.get("agencies", {})
    for gi, group in enumerate(doc["groups"]):
        _put(
            by_agency,
            r,
            _ROMAN[gi] if gi < len(_ROMAN) else str(gi + 1),
            level_label(group["level"]),
            group["totals"],
            True,
        )
        r += 1
        for ai, code in enumerate(group["agencies"], start=1):
            name = agencies.get(code, {}).get("name")
            _put(by_agency, r, str(ai), f"{name} ({code})" if name else code, rows[code])
            r += 1
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


Columns = Sequence[tuple[str, str]]  # (key, Vietnamese heading)


def table_csv(columns: Columns, rows: Sequence[dict[str, Any]]) -> bytes:
    return _csv([h for _, h in columns], [[_cell(r.get(k)) for k, _ in columns] for r in rows])


def table_xlsx(
    title: str,
    subtitle: str,
    columns: Columns,
    rows: Sequence[dict[str, Any]],
    more: Sequence[tuple[str, Columns, Sequence[dict[str, Any]]]] = (),
) -> bytes:
    """A titled table with bordered, bold headings (registers, indicators); ``more`` adds sheets."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    _table(ws, title, subtitle, columns, rows)
    for sheet_title, cols, sheet_rows in more:
        _table(wb.create_sheet(), sheet_title, subtitle, cols, sheet_rows)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _table(
    ws: Worksheet, title: str, subtitle: str, columns: Columns, rows: Sequence[dict[str, Any]]
) -> None:
    ws.title = re.sub(r"[\\/*?:\[\]]", " ", title)[:31].strip()
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=max(1, len(columns)))
    ws["A1"] = title
    ws["A1"].font = Font(bold=True, size=13)
    ws["A2"] = subtitle
    for i, (_, heading) in enumerate(columns, start=1):
        c = ws.cell(row=4, column=i, value=heading)
        c.font = Font(bold=True)
        c.alignment = _CENTER
        c.border = _BOX
        ws.column_dimensions[get_column_letter(i)].width = max(12, min(40, len(heading) + 2))
    for ri, row in enumerate(rows, start=5):
        for ci, (key, _) in enumerate(columns, start=1):
            ws.cell(row=ri, column=ci, value=_cell(row.get(key))).border = _BOX
    ws.freeze_panes = "A5"


def _cell(v: Any) -> Any:
    if isinstance(v, bool):
        return "có" if v else "không"
    if v is None or isinstance(v, int | float | str):
        return v
    if isinstance(v, datetime):
        return v.isoformat()
    return str(v)
