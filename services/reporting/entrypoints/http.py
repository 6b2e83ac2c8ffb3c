"""Reporting HTTP API under /api/v1: parse, scope, build, render. Thin."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse

from services.reporting import reports
from services.reporting.adapters import exports
from services.reporting.domain.periods import PeriodError, parse_period
from services.reporting.entrypoints.access import Caller, caller
from shared.contracts.registry import Role
from shared.http import Offset

router = APIRouter(prefix="/api/v1")

Format = Literal["json", "csv", "xlsx"]
PeriodQuery = Annotated[str, Query(description="2025-03, 2025-Q1, 2021-H1 or 2025")]
AgencyQuery = Annotated[
    str | None, Query(description="agency code: that agency and its subtree; every agency when absent")
]
CalendarQuery = Annotated[
    Literal["calendar", "statutory"],
    Query(description="statutory: reporting periods from the 15th of the previous month to the 14th"),
]
FormatQuery = Annotated[Format, Query(description="json, csv or xlsx")]


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.resources.pool
    return pool


def _now(request: Request) -> datetime:
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


def bounds_of(request: Request, period: str, calendar: str) -> reports.Bounds:
    settings = request.app.state.settings
    try:
        p = parse_period(
            period,
            "statutory" if calendar == "statutory" else "calendar",
            settings.statutory_period_start_day,
        )
    except PeriodError as exc:
        raise HTTPException(422, str(exc)) from exc
    return reports.bounds(p, request.app.state.tz, _now(request))


async def scoped(conn: Any, who: Caller, agency: str | None) -> list[str] | None:
    """The agencies the caller asked for, restricted to an officer's subtree (403 outside it)."""
    root = who.agency_code if who is not None and who.role is Role.OFFICER else None
    try:
        return await reports.scope(conn, agency, root)
    except reports.ScopeError as exc:
        raise HTTPException(403, str(exc)) from exc


def _file(body: bytes, media_type: str, name: str) -> Response:
    return Response(
        body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def _table_answer(
    doc: dict[str, Any],
    format: str,
    *,
    columns: exports.Columns,
    rows: Sequence[dict[str, Any]],
    filename: str,
    title: str,
    subtitle: str,
    more: Sequence[tuple[str, exports.Columns, Sequence[dict[str, Any]]]] = (),
) -> Response:
    """A one-table report as JSON (``doc``), CSV or XLSX (``rows`` under Vietnamese ``columns``)."""
    if format == "csv":
        return _file(exports.table_csv(columns, rows), exports.CSV_MEDIA_TYPE, f"{filename}.csv")
    if format == "xlsx":
        body = exports.table_xlsx(title, subtitle, columns, rows, more=more)
        return _file(body, exports.XLSX_MEDIA_TYPE, f"{filename}.xlsx")
    return JSONResponse(doc)


@router.get("/reports/form06", tags=["reports"])
async def form06(
    request: Request,
    period: PeriodQuery,
    who: Annotated[Caller, Depends(caller)],
    agency: AgencyQuery = None,
    calendar: CalendarQuery = "calendar",
    format: FormatQuery = "json",
) -> Response:
    """Biểu 06/VPCP/KSTT: dossiers received, resolved and pending per agency, by level and field."""
    b = bounds_of(request, period, calendar)
    async with _pool(request).acquire() as conn:
        agencies = await scoped(conn, who, agency)
        doc = await reports.form06(conn, b, agency, agencies)
    name = f"bieu06_{b.period.label}{'_statutory' if calendar == 'statutory' else ''}"
    if format == "csv":
        return _file(exports.form06_csv(doc), exports.CSV_MEDIA_TYPE, f"{name}.csv")
    if format == "xlsx":
        return _file(exports.form06_xlsx(doc), exports.XLSX_MEDIA_TYPE, f"{name}.xlsx")
    return JSONResponse(doc)


QMS_COLUMNS = (
    ("agencies_total", "Tổng số cơ quan"),
    ("announced", "Đã công bố HTQLCL"),
    ("mandatory", "Thuộc diện bắt buộc"),
    ("mandatory_announced", "Bắt buộc — đã công bố"),
    ("encouraged", "Khuyến khích áp dụng"),
    ("encouraged_announced", "Khuyến khích — đã công bố"),
    ("updating_or_expanding", "Đang cập nhật, mở rộng"),
    ("reannounced", "Đã công bố lại"),
    ("reviewing", "Đang rà soát"),
    ("internal_audits", "Số cuộc đánh giá nội bộ"),
    ("management_reviews", "Số cuộc họp xem xét của lãnh đạo"),
    ("quality_policies", "Đã ban hành chính sách chất lượng"),
)
OBJECTIVE_COLUMNS = (
    ("agency_code", "Mã cơ quan"),
    ("name", "Tên cơ quan"),
    ("year", "Năm"),
    ("target", "Mục tiêu tỷ lệ đúng hạn"),
    ("measured", "Tỷ lệ đúng hạn đạt được"),
    ("attained", "Đạt mục tiêu"),
)


@router.get("/reports/qms-status", tags=["reports"])
async def qms_status(
    request: Request,
    period: PeriodQuery,
    who: Annotated[Caller, Depends(caller)],
    agency: AgencyQuery = None,
    calendar: CalendarQuery = "calendar",
    format: FormatQuery = "json",
) -> Response:
    """ISO QMS status: agencies announced, mandatory / encouraged, updating, audits, objectives."""
    b = bounds_of(request, period, calendar)
    async with _pool(request).acquire() as conn:
        agencies = await scoped(conn, who, agency)
        doc = await reports.qms(conn, b, agency, agencies)
    return _table_answer(
        doc,
        format,
        columns=QMS_COLUMNS,
        rows=[doc],
        filename=f"qms_{b.period.label}",
        title=f"Tình hình áp dụng HTQLCL TCVN ISO 9001:2015 — kỳ {b.period.label}",
        subtitle=f"Từ ngày {b.period.first} đến ngày {b.period.last}",
        more=[("Mục tiêu chất lượng", OBJECTIVE_COLUMNS, doc["quality_objectives"]["agencies"])],
    )


INDICATOR_COLUMNS = (
    ("agency_code", "Mã cơ quan"),
    ("name", "Tên cơ quan"),
    ("received", "Số hồ sơ tiếp nhận"),
    ("received_online", "Tiếp nhận trực tuyến"),
    ("online_rate", "Tỷ lệ trực tuyến"),
    ("resolved", "Số hồ sơ đã giải quyết"),
    ("on_time_rate", "Tỷ lệ đúng hạn (thời hạn pháp lý)"),
    ("on_time_rate_index", "Tỷ lệ đúng hạn (cách tính Bộ chỉ số)"),
    ("average_processing_working_days", "Thời gian giải quyết trung bình (ngày làm việc)"),
)


@router.get("/reports/indicators", tags=["reports"])
async def indicators(
    request: Request,
    period: PeriodQuery,
    who: Annotated[Caller, Depends(caller)],
    agency: AgencyQuery = None,
    calendar: CalendarQuery = "calendar",
    format: FormatQuery = "json",
) -> Response:
    """Decision 766/QĐ-TTg progress indicators per agency, per level and in total."""
    b = bounds_of(request, period, calendar)
    async with _pool(request).acquire() as conn:
        agencies = await scoped(conn, who, agency)
        doc = await reports.indicators_766(conn, b, agency, agencies)
    rows = [*doc["rows"], {"agency_code": "", "name": "Tổng cộng", **doc["totals"]}]
    return _table_answer(
        doc,
        format,
        columns=INDICATOR_COLUMNS,
        rows=rows,
        filename=f"qd766_{b.period.label}",
        title="Chỉ số theo Quyết định 766/QĐ-TTg",
        subtitle=f"Kỳ {b.period.label}",
    )


NC_COLUMNS = (
    ("detected_at", "Thời điểm phát hiện"),
    ("dossier_code", "Mã hồ sơ"),
    ("agency_code", "Mã cơ quan"),
    ("procedure_code", "Mã thủ tục"),
    ("code", "Loại không phù hợp"),
    ("clause", "Điều khoản ISO 9001:2015"),
    ("status", "Trạng thái khắc phục"),
    ("corrective_action", "Hành động khắc phục"),
    ("detail", "Mô tả"),
)


@router.get("/reports/nonconformities", tags=["reports"])
async def nonconformities(
    request: Request,
    period: PeriodQuery,
    who: Annotated[Caller, Depends(caller)],
    agency: AgencyQuery = None,
    procedure: str | None = None,
    code: Annotated[str | None, Query(description="rule code, e.g. LATE")] = None,
    status: Annotated[
        Literal["open", "corrective_action", "closed"] | None, Query(description="corrective-action status")
    ] = None,
    calendar: CalendarQuery = "calendar",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Offset = 0,
    format: FormatQuery = "json",
) -> Response:
    """The nonconformity register (sổ theo dõi sự không phù hợp) with corrective-action status."""
    b = bounds_of(request, period, calendar)
    async with _pool(request).acquire() as conn:
        agencies = await scoped(conn, who, agency)
        doc = await reports.nonconformities(
            conn, b, agencies, procedure=procedure, code=code, status=status, limit=limit, offset=offset
        )
    return _table_answer(
        doc,
        format,
        columns=NC_COLUMNS,
        rows=doc["items"],
        filename=f"khong_phu_hop_{b.period.label}",
        title="Sổ theo dõi sự không phù hợp",
        subtitle=f"Kỳ {b.period.label}",
    )
