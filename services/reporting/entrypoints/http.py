"""Reporting HTTP API under /api/v1: parse, scope, build, render. Thin."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from services.reporting import reports
from services.reporting.adapters import exports, pdf
from services.reporting.domain import forms
from services.reporting.domain.form06 import level_label
from services.reporting.domain.forms import Column
from services.reporting.domain.periods import PeriodError, parse_period
from services.reporting.entrypoints.access import Caller, caller
from shared.contracts.registry import Role
from shared.http import Offset

router = APIRouter(prefix="/api/v1")

Format = Literal["json", "csv", "xlsx"]
FormFormat = Literal["json", "csv", "xlsx", "pdf"]
PeriodQuery = Annotated[str, Query(description="2025-03, 2025-Q1, 2021-H1 or 2025")]
AgencyQuery = Annotated[
    str | None, Query(description="agency code: that agency and its subtree; every agency when absent")
]
CalendarQuery = Annotated[
    Literal["calendar", "statutory"],
    Query(description="statutory: reporting periods from the 15th of the previous month to the 14th"),
]
FormatQuery = Annotated[
    Format, Query(description="json (paged), csv or xlsx (every row of the filter, streamed)")
]
FormFormatQuery = Annotated[
    FormFormat,
    Query(description="json, csv, xlsx (the printed form) or pdf (the printed form, A4 landscape)"),
]


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
    return Response(body, media_type=media_type, headers=_attachment(name))


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


def _settings(request: Request) -> Any:
    return request.app.state.settings


async def _frame(
    request: Request,
    conn: Any,
    b: reports.Bounds,
    agency: str | None,
    *,
    form_code: str,
    title: str,
    receiver: str,
    measure: str = "",
) -> forms.Frame:
    s = _settings(request)
    unit = await reports.unit_name(conn, agency, s.reporting_unit_name)
    return reports.frame(
        b, form_code=form_code, title=title, unit=unit, receiver=receiver, place=s.reporting_place, measure=measure
    )  # fmt: skip


def _form_answer(request: Request, form: forms.Form, format: str, name: str, csv_body: bytes) -> Response:
    """A printed form as CSV, XLSX or PDF (JSON is answered before the form is built)."""
    if format == "csv":
        return _file(csv_body, exports.CSV_MEDIA_TYPE, f"{name}.csv")
    if format == "xlsx":
        return _file(exports.form_xlsx(form), exports.XLSX_MEDIA_TYPE, f"{name}.xlsx")
    try:
        body = pdf.form_pdf(form, _settings(request).reporting_pdf_font_dir)
    except pdf.FontMissing as exc:
        raise HTTPException(503, str(exc)) from exc
    return _file(body, pdf.PDF_MEDIA_TYPE, f"{name}.pdf")


@router.get("/reports/form06", tags=["reports"])
async def form06(
    request: Request,
    period: PeriodQuery,
    who: Annotated[Caller, Depends(caller)],
    agency: AgencyQuery = None,
    calendar: CalendarQuery = "calendar",
    format: FormFormatQuery = "json",
) -> Response:
    """Biểu 06/VPCP/KSTT: dossiers received, resolved and pending per agency, by level and field."""
    b = bounds_of(request, period, calendar)
    async with _pool(request).acquire() as conn:
        agencies = await scoped(conn, who, agency)
        doc = await reports.form06(conn, b, agency, agencies)
        if format == "json":
            return JSONResponse(doc)
        frame = await _frame(
            request, conn, b, agency, form_code="Biểu số 06/VPCP/KSTT", title=forms.FORM06_TITLE,
            receiver=_settings(request).reporting_receiver_form06, measure="Đơn vị tính: số hồ sơ TTHC",
        )  # fmt: skip
    name = f"bieu06_{b.period.label}{'_statutory' if calendar == 'statutory' else ''}"
    return _form_answer(request, forms.form06_form(doc, frame), format, name, exports.form06_csv(doc))


QMS_CSV_COLUMNS = (
    Column("obligation", "Nhóm cơ quan", "text"),
    *forms.QMS_COLUMNS,
)


@router.get("/reports/qms-status", tags=["reports"])
async def qms_status(
    request: Request,
    period: PeriodQuery,
    who: Annotated[Caller, Depends(caller)],
    agency: AgencyQuery = None,
    calendar: CalendarQuery = "calendar",
    format: FormFormatQuery = "json",
) -> Response:
    """ISO QMS annual report: by obligation (mandatory / encouraged) — announced, updating, audits, objectives."""
    b = bounds_of(request, period, calendar)
    async with _pool(request).acquire() as conn:
        agencies = await scoped(conn, who, agency)
        doc = await reports.qms(conn, b, agency, agencies)
        if format == "json":
            return JSONResponse(doc)
        frame = await _frame(
            request, conn, b, agency, form_code="Báo cáo HTQLCL", title=forms.QMS_TITLE,
            receiver=_settings(request).reporting_receiver_qms, measure="Đơn vị tính: cơ quan, đơn vị",
        )  # fmt: skip
    form = forms.qms_form(doc, frame)
    rows = [{"obligation": line.label, **line.values} for line in form.sheets[0].lines]
    csv_body = exports.table_csv(QMS_CSV_COLUMNS, rows, request.app.state.tz)
    return _form_answer(request, form, format, f"qms_{b.period.label}", csv_body)


INDICATOR_CSV_COLUMNS = (
    Column("agency_code", "Mã cơ quan", "text"),
    Column("name", "Tên cơ quan", "text"),
    Column("level_name", "Cấp", "text"),
    *forms.INDICATOR_COLUMNS,
)


@router.get("/reports/indicators", tags=["reports"])
async def indicators(
    request: Request,
    period: PeriodQuery,
    who: Annotated[Caller, Depends(caller)],
    agency: AgencyQuery = None,
    calendar: CalendarQuery = "calendar",
    format: FormFormatQuery = "json",
) -> Response:
    """Decision 766/QĐ-TTg progress indicators per agency, per level and in total."""
    b = bounds_of(request, period, calendar)
    async with _pool(request).acquire() as conn:
        agencies = await scoped(conn, who, agency)
        doc = await reports.indicators_766(conn, b, agency, agencies)
        if format == "json":
            return JSONResponse(doc)
        frame = await _frame(
            request, conn, b, agency, form_code="Quyết định 766/QĐ-TTg", title=forms.INDICATORS_TITLE,
            receiver=_settings(request).reporting_receiver_766,
        )  # fmt: skip
    rows = [
        *[{**r, "level_name": level_label(r["level"])} for r in doc["rows"]],
        {"agency_code": "", "name": "Tổng cộng", **doc["totals"]},
    ]
    csv_body = exports.table_csv(INDICATOR_CSV_COLUMNS, rows, request.app.state.tz)
    return _form_answer(
        request, forms.indicators_form(doc, frame), format, f"qd766_{b.period.label}", csv_body
    )


NC_COLUMNS = (
    Column("detected_at", "Thời điểm phát hiện", "text", 17),
    Column("dossier_code", "Mã hồ sơ", "text", 26),
    Column("agency_name", "Cơ quan", "text", 30),
    Column("agency_code", "Mã cơ quan", "text", 15),
    Column("procedure_name", "Thủ tục", "text", 36),
    Column("procedure_code", "Mã thủ tục", "text", 12),
    Column("code", "Loại không phù hợp", "text", 14),
    Column("clause", "Điều khoản ISO 9001:2015", "text", 12),
    Column("status", "Trạng thái khắc phục", "text", 16),
    Column("corrective_action", "Hành động khắc phục", "text", 30),
    Column("detail", "Mô tả", "text", 40),
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
    limit: Annotated[
        int, Query(ge=1, le=10_000, description="JSON page size; CSV and XLSX hold every row")
    ] = 100,
    offset: Offset = 0,
    format: FormatQuery = "json",
) -> Response:
    """The nonconformity register (sổ theo dõi sự không phù hợp) with corrective-action status.

    JSON is paged (``limit``, ``offset``, ``total``); CSV and XLSX hold every row of the filter,
    streamed from a server-side cursor whatever ``limit`` and ``offset`` say.
    """
    b = bounds_of(request, period, calendar)
    pool = _pool(request)
    async with pool.acquire() as conn:
        agencies = await scoped(conn, who, agency)
        if format == "json":
            doc = await reports.nonconformities(
                conn, b, agencies, procedure=procedure, code=code, status=status, limit=limit, offset=offset
            )
            return JSONResponse(doc)

    async def batches() -> AsyncIterator[list[dict[str, Any]]]:
        async with pool.acquire() as stream_conn:
            async for rows in reports.nonconformity_rows(
                stream_conn, b, agencies, procedure=procedure, code=code, status=status
            ):
                yield rows

    tz = request.app.state.tz
    name = f"khong_phu_hop_{b.period.label}"
    if format == "csv":
        body = exports.table_csv_stream(NC_COLUMNS, batches(), tz)
        return StreamingResponse(body, media_type=exports.CSV_MEDIA_TYPE, headers=_attachment(f"{name}.csv"))
    body = exports.table_xlsx_stream(
        "Sổ theo dõi sự không phù hợp",
        f"Kỳ {b.period.label}: từ ngày {b.period.first:%d/%m/%Y} đến ngày {b.period.last:%d/%m/%Y}",
        NC_COLUMNS,
        batches(),
        tz,
    )
    return StreamingResponse(body, media_type=exports.XLSX_MEDIA_TYPE, headers=_attachment(f"{name}.xlsx"))
