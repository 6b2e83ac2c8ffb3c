"""Printed report forms (biểu mẫu) as data: the frame around the table, the headings, the lines.

One description per form, rendered to XLSX (``adapters/exports.py``) and PDF
(``adapters/pdf.py``) alike, so the two files of one report always say the same thing.

The frame is what an office signs: the reporting unit by name (đơn vị báo cáo), the unit it
reports to (đơn vị nhận báo cáo), the period "từ ngày … đến ngày …", the date it was made and
the signature block (người lập biểu; thủ trưởng đơn vị, ký tên, đóng dấu).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from services.reporting.domain.form06 import LEVELS, field_label, level_label
from shared.formatting import day

Kind = Literal["text", "integer", "percent", "decimal"]


@dataclass(frozen=True)
class Signer:
    title: str  # NGƯỜI LẬP BIỂU
    note: str  # (Ký, ghi rõ họ tên)


SIGNERS = (
    Signer("NGƯỜI LẬP BIỂU", "(Ký, ghi rõ họ tên)"),
    Signer("THỦ TRƯỞNG ĐƠN VỊ", "(Ký tên, đóng dấu)"),
)


@dataclass(frozen=True)
class Frame:
    """Who reports what to whom, for which period, made when (the header and footer of a form)."""

    form_code: str  # "Biểu số 06/VPCP/KSTT"
    title: str
    period_name: str  # "tháng 03/2025 (kỳ theo lịch)"
    first: date
    last: date
    unit: str  # reporting unit, by name
    receiver: str  # receiving unit, by name
    made_on: date
    place: str = ""  # "Cần Thơ" → "Cần Thơ, ngày 10 tháng 04 năm 2025"
    measure: str = ""  # "Đơn vị tính: hồ sơ"
    signers: tuple[Signer, ...] = SIGNERS

    @property
    def period_line(self) -> str:
        return f"Kỳ báo cáo: {self.period_name} (từ ngày {day(self.first)} đến ngày {day(self.last)})"

    @property
    def date_line(self) -> str:
        d = self.made_on
        when = f"ngày {d.day:02d} tháng {d.month:02d} năm {d.year}"
        return f"{self.place}, {when}" if self.place else when.capitalize()


@dataclass(frozen=True)
class Column:
    key: str
    heading: str
    kind: Kind = "integer"
    width: float = 14  # spreadsheet characters; the PDF scales the widths to the page


@dataclass(frozen=True)
class Head:
    """One heading cell, HTML-table style: placed left to right in its row, skipping cells taken
    by a ``rowspan`` from above."""

    text: str
    colspan: int = 1
    rowspan: int = 1


@dataclass(frozen=True)
class Line:
    number: str  # STT: "I", "1", "" for a total
    label: str
    values: Mapping[str, Any]
    bold: bool = False


@dataclass(frozen=True)
class Sheet:
    """One table of a form: a sheet in XLSX, a section (starting on a new page) in the PDF."""

    name: str  # ≤ 31 characters (Excel's limit), chosen, not cut
    columns: Sequence[Column]  # the value columns, after STT and the label
    label_heading: str
    lines: Sequence[Line]
    heads: Sequence[Sequence[Head]] = ()  # heading rows; one row of the column headings when empty
    label_width: float = 44
    note: str = ""  # a line under the table (how a figure is computed)

    def __post_init__(self) -> None:
        if len(self.name) > 31:
            raise ValueError(
                f"sheet name {self.name!r} is longer than Excel's 31 characters; choose a shorter one"
            )

    def heading_rows(self) -> list[list[Head]]:
        if self.heads:
            return [list(r) for r in self.heads]
        return [[Head("STT"), Head(self.label_heading), *[Head(c.heading) for c in self.columns]]]


@dataclass(frozen=True)
class Form:
    frame: Frame
    sheets: Sequence[Sheet]
    extra: dict[str, Any] = field(default_factory=dict)


ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X")


def roman(i: int) -> str:
    return ROMAN[i] if i < len(ROMAN) else str(i + 1)


# --- Biểu 06/VPCP/KSTT ------------------------------------------------------------------------

#: Biểu 06 columns in the printed form's order, with their Vietnamese headings.
FORM06_COLUMNS: tuple[Column, ...] = (
    Column("received_total", "Tổng số hồ sơ nhận giải quyết"),
    Column("carried_over", "Số từ kỳ trước chuyển qua"),
    Column("received_online", "Số mới tiếp nhận trực tuyến"),
    Column("received_offline", "Số mới tiếp nhận trực tiếp, qua dịch vụ bưu chính công ích"),
    Column("resolved_total", "Tổng số đã giải quyết"),
    Column("resolved_early", "Trả trước hạn"),
    Column("resolved_on_time", "Trả đúng thời hạn"),
    Column("resolved_late", "Trả quá hạn"),
    Column("pending_total", "Tổng số đang giải quyết"),
    Column("pending_within", "Chưa đến hạn"),
    Column("pending_overdue", "Quá hạn"),
)

FORM06_TITLE = "TÌNH HÌNH, KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH TẠI CƠ QUAN, ĐƠN VỊ TRỰC TIẾP GIẢI QUYẾT"


def _form06_heads(label: str) -> list[list[Head]]:
    c = FORM06_COLUMNS
    return [
        [Head("STT", rowspan=3), Head(label, rowspan=3), Head("Số hồ sơ nhận giải quyết", 4),
         Head("Kết quả giải quyết", 7)],
        [Head(c[0].heading, rowspan=2), Head("Trong đó", 3), Head("Số hồ sơ đã giải quyết", 4),
         Head("Số hồ sơ đang giải quyết", 3)],
        [Head(col.heading) for col in c[1:]],
    ]  # fmt: skip


def form06_form(doc: Mapping[str, Any], frame: Frame) -> Form:
    """Sheet "Biểu 06": levels (I, II, …) and their fields, as printed; sheet "Theo cơ quan": per agency."""
    by_field = [Line("", "TỔNG CỘNG", doc["totals"], bold=True)]
    by_agency = [Line("", "TỔNG CỘNG", doc["totals"], bold=True)]
    rows = {row["agency_code"]: row for row in doc["rows"]}
    agencies = doc.get("agencies", {})
    for gi, group in enumerate(doc["groups"]):
        head = Line(roman(gi), level_label(group["level"]), group["totals"], bold=True)
        by_field.append(head)
        by_agency.append(head)
        for fi, fld in enumerate(group["fields"], start=1):
            by_field.append(Line(str(fi), f"Lĩnh vực {field_label(fld['field'])}", fld))
        for ai, code in enumerate(group["agencies"], start=1):
            name = agencies.get(code, {}).get("name")
            by_agency.append(Line(str(ai), name or code, rows[code]))
    return Form(
        frame,
        [
            Sheet("Biểu 06", FORM06_COLUMNS, "Lĩnh vực, công việc giải quyết theo cấp", by_field,
                  _form06_heads("Lĩnh vực, công việc giải quyết theo cấp")),
            Sheet("Theo cơ quan", FORM06_COLUMNS, "Cơ quan, đơn vị", by_agency,
                  _form06_heads("Cơ quan, đơn vị")),
        ],
    )  # fmt: skip


# --- ISO QMS annual report --------------------------------------------------------------------

QMS_TITLE = "BÁO CÁO TÌNH HÌNH XÂY DỰNG, ÁP DỤNG, DUY TRÌ VÀ CẢI TIẾN HỆ THỐNG QUẢN LÝ CHẤT LƯỢNG THEO TIÊU CHUẨN QUỐC GIA TCVN ISO 9001:2015"

QMS_COLUMNS: tuple[Column, ...] = (
    Column("total", "Tổng số cơ quan, đơn vị", width=12),
    Column("announced", "Đã công bố HTQLCL", width=12),
    Column("announced_rate", "Tỷ lệ đã công bố", "percent", 11),
    Column("updating_or_expanding", "Đang cập nhật, mở rộng", width=12),
    Column("reannounced", "Đã công bố lại", width=11),
    Column("reviewing", "Đang rà soát", width=11),
    Column("internal_audits", "Số cuộc đánh giá nội bộ", width=12),
    Column("management_reviews", "Số cuộc họp xem xét của lãnh đạo", width=13),
    Column("objectives_set", "Số mục tiêu chất lượng đặt ra", width=12),
    Column("objectives_attained", "Số mục tiêu đạt", width=11),
)
OBLIGATIONS = {
    "mandatory": "Cơ quan thuộc diện bắt buộc áp dụng",
    "encouraged": "Cơ quan khuyến khích áp dụng",
}
OBJECTIVE_COLUMNS: tuple[Column, ...] = (
    Column("year", "Năm", "text", 8),
    Column("target", "Mục tiêu tỷ lệ đúng hạn", "percent", 14),
    Column("measured", "Tỷ lệ đúng hạn đạt được", "percent", 14),
    Column("attained_text", "Đạt mục tiêu", "text", 12),
)


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


def qms_form(doc: Mapping[str, Any], frame: Frame) -> Form:
    """By obligation (mandatory / encouraged) and in total; the quality objectives per agency."""
    lines = []
    total = dict.fromkeys((c.key for c in QMS_COLUMNS), 0)
    for i, (key, label) in enumerate(OBLIGATIONS.items()):
        v = dict(doc["by_obligation"][key])
        for k in total:
            if k != "announced_rate":
                total[k] += v.get(k, 0)
        v["announced_rate"] = _rate(v["announced"], v["total"])
        lines.append(Line(roman(i), label, v))
    total["announced_rate"] = _rate(total["announced"], total["total"])  # type: ignore[assignment]
    lines.insert(0, Line("", "TỔNG CỘNG", total, bold=True))
    objectives = [
        Line(str(i), o.get("name") or o["agency_code"],
             {**o, "year": str(o["year"]), "attained_text": {True: "Đạt", False: "Không đạt"}.get(o["attained"], "–")})
        for i, o in enumerate(doc["quality_objectives"]["agencies"], start=1)
    ]  # fmt: skip
    return Form(
        frame,
        [
            Sheet("Tình hình áp dụng HTQLCL", QMS_COLUMNS, "Nhóm cơ quan, đơn vị", lines, label_width=36),
            Sheet("Mục tiêu chất lượng", OBJECTIVE_COLUMNS, "Cơ quan, đơn vị", objectives, label_width=48),
        ],
    )


# --- Decision 766 indicators ------------------------------------------------------------------

INDICATORS_TITLE = "KẾT QUẢ CÁC CHỈ SỐ CHỈ ĐẠO, ĐIỀU HÀNH VÀ ĐÁNH GIÁ CHẤT LƯỢNG PHỤC VỤ NGƯỜI DÂN, DOANH NGHIỆP (QUYẾT ĐỊNH 766/QĐ-TTg)"

INDICATOR_COLUMNS: tuple[Column, ...] = (
    Column("received", "Số hồ sơ tiếp nhận"),
    Column("received_online", "Tiếp nhận trực tuyến"),
    Column("online_rate", "Tỷ lệ trực tuyến", "percent", 12),
    Column("resolved", "Số hồ sơ đã giải quyết"),
    Column("on_time_rate", "Tỷ lệ đúng hạn (thời hạn pháp lý)", "percent"),
    Column("on_time_rate_index", "Tỷ lệ đúng hạn (cách tính Bộ chỉ số)", "percent"),
    Column(
        "average_processing_working_days", "Thời gian giải quyết trung bình (ngày làm việc)", "decimal", 16
    ),
)


def indicators_form(doc: Mapping[str, Any], frame: Frame) -> Form:
    """Per agency grouped by level (with the level's figures), then the whole scope."""
    order = list(LEVELS)
    levels = {lv["level"]: lv for lv in doc["levels"]}
    lines = [Line("", "TỔNG CỘNG", doc["totals"], bold=True)]
    for gi, level in enumerate(sorted(levels, key=lambda lv: order.index(lv) if lv in order else len(order))):
        lines.append(Line(roman(gi), level_label(level), levels[level], bold=True))
        members = [r for r in doc["rows"] if r["level"] == level]
        for i, r in enumerate(members, start=1):
            lines.append(Line(str(i), r.get("name") or r["agency_code"], r))
    return Form(
        frame,
        [
            Sheet(
                "Chỉ số QĐ 766",
                INDICATOR_COLUMNS,
                "Cơ quan, đơn vị",
                lines,
                note="Tỷ lệ đúng hạn = (trước hạn + đúng hạn) / đã giải quyết; tỷ lệ trực tuyến = tiếp nhận "
                "trực tuyến / mới tiếp nhận; “–”: không có hồ sơ để tính.",
            )
        ],
    )
