"""Reporting HTTP API under /api/v1: parse, scope, build, render. Thin."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from services.reporting import reports
from services.reporting.adapters import exports, pdf
from services.reporting.adapters import snapshots as snapshot_store
from services.reporting.domain import forms
from services.reporting.domain.form06 import level_label
from services.reporting.domain.forms import Column
from services.reporting.domain.index766 import INDEX766_TITLE, ExternalMeasure, index766_form
from services.reporting.domain.index766 import rules as index766_rules
from services.reporting.domain.periods import PeriodError, parse_period
from services.reporting.domain.snapshots import PROVINCE, Report
from services.reporting.entrypoints.access import Caller, caller
from shared.auth import Forbidden, Unauthorized
from shared.contracts.registry import Role
from shared.http import Offset

router = APIRouter(prefix="/api/v1")
log = logging.getLogger(__name__)

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
AsQuery = Annotated[
    Literal["live", "submitted"],
    Query(
        alias="as",
        description="live: computed now (with the previous period's late events as `adjustments`); "
        "submitted: the snapshot frozen at the period's close or on demand, with the events that arrived after it",
    ),
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


def snapshot_key(who: Caller, agency: str | None) -> str:
    """A snapshot's agency key: the agency asked for, an officer's own agency, else the province."""
    if agency is not None:
        return agency
    if who is not None and who.role is Role.OFFICER and who.agency_code:
        return who.agency_code
    return PROVINCE


async def _report_doc(
    request: Request,
    conn: Any,
    report: Report,
    b: reports.Bounds,
    who: Caller,
    agency: str | None,
    agencies: list[str] | None,
    as_: str,
) -> tuple[dict[str, Any], reports.Bounds]:
    """The live document (with adjustments) or the submitted one (404 when none was made);
    the bounds to print it with (a submitted report is dated the day it was frozen)."""
    key = snapshot_key(who, agency)
    if as_ == "submitted":
        doc = await reports.submitted(conn, report, b, key, agencies)
        if doc is None:
            raise HTTPException(
                404,
                f"no submitted {report} for {b.period.label} ({b.period.kind}) of "
                f"{key or 'the province'}: snapshots are made at the period's close, or on demand "
                "with POST /api/v1/reports/snapshots; ask for as=live meanwhile",
            )
        made_at = datetime.fromisoformat(doc["submission"]["made_at"])
        return doc, reports.Bounds(b.period, b.start, b.end, made_at)
    doc = await reports.document(conn, report, b, agency, agencies)
    tz = request.app.state.tz
    start_day = _settings(request).statutory_period_start_day
    adj = await reports.adjustments(conn, report, b, key, agencies, start_day=start_day, tz=tz)
    if adj is not None:
        doc["adjustments"] = adj
    return doc, b


async def _form_answer(
    request: Request, form: forms.Form, format: str, name: str, csv_body: bytes
) -> Response:
    """A printed form as CSV, XLSX or PDF (JSON is answered before the form is built). The files
    are laid out in a worker thread: a province's PDF takes about a second of CPU."""
    if format == "csv":
        return _file(csv_body, exports.CSV_MEDIA_TYPE, f"{name}.csv")
    if format == "xlsx":
        body = await asyncio.to_thread(exports.form_xlsx, form)
        return _file(body, exports.XLSX_MEDIA_TYPE, f"{name}.xlsx")
    try:
        body = await asyncio.to_thread(pdf.form_pdf, form, _settings(request).reporting_pdf_font_dir)
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
    as_: AsQuery = "live",
) -> Response:
    """Biểu 06/VPCP/KSTT: dossiers received, resolved and pending per agency, by level and field."""
    b = bounds_of(request, period, calendar)
    async with _pool(request).acquire() as conn:
        agencies = await scoped(conn, who, agency)
        doc, b = await _report_doc(request, conn, "form06", b, who, agency, agencies, as_)
        if format == "json":
            return JSONResponse(doc)
        frame = await _frame(
            request, conn, b, agency, form_code="Biểu số 06/VPCP/KSTT", title=forms.FORM06_TITLE,
            receiver=_settings(request).reporting_receiver_form06, measure="Đơn vị tính: số hồ sơ TTHC",
        )  # fmt: skip
    name = f"bieu06_{b.period.label}{'_statutory' if calendar == 'statutory' else ''}"
    return await _form_answer(request, forms.form06_form(doc, frame), format, name, exports.form06_csv(doc))


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
    as_: AsQuery = "live",
) -> Response:
    """ISO QMS annual report: by obligation (mandatory / encouraged) — announced, updating, audits, objectives."""
    b = bounds_of(request, period, calendar)
    async with _pool(request).acquire() as conn:
        agencies = await scoped(conn, who, agency)
        doc, b = await _report_doc(request, conn, "qms-status", b, who, agency, agencies, as_)
        if format == "json":
            return JSONResponse(doc)
        frame = await _frame(
            request, conn, b, agency, form_code="Báo cáo HTQLCL", title=forms.QMS_TITLE,
            receiver=_settings(request).reporting_receiver_qms, measure="Đơn vị tính: cơ quan, đơn vị",
        )  # fmt: skip
    form = forms.qms_form(doc, frame)
    rows = [{"obligation": line.label, **line.values} for line in form.sheets[0].lines]
    csv_body = exports.table_csv(QMS_CSV_COLUMNS, rows, request.app.state.tz)
    return await _form_answer(request, form, format, f"qms_{b.period.label}", csv_body)


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
    as_: AsQuery = "live",
) -> Response:
    """Decision 766/QĐ-TTg progress indicators per agency, per level and in total."""
    b = bounds_of(request, period, calendar)
    async with _pool(request).acquire() as conn:
        agencies = await scoped(conn, who, agency)
        doc, b = await _report_doc(request, conn, "indicators", b, who, agency, agencies, as_)
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
    return await _form_answer(
        request, forms.indicators_form(doc, frame), format, f"qd766_{b.period.label}", csv_body
    )


INDEX766_CSV_COLUMNS = (
    Column("agency_code", "Mã cơ quan", "text"),
    Column("name", "Tên cơ quan", "text"),
    Column("level_name", "Cấp", "text"),
    Column("rank", "Xếp hạng trong cấp", "integer"),
    Column("ranked_among", "Số cơ quan cùng cấp", "integer"),
    Column("total_points", "Tổng điểm", "decimal"),
)


#: the rules version the index is frozen with (``reports.document`` builds it with the default)
INDEX766_SNAPSHOT_VERSION = "2022"


@router.get("/reports/index766", tags=["reports"])
async def index766(
    request: Request,
    period: PeriodQuery,
    who: Annotated[Caller, Depends(caller)],
    agency: AgencyQuery = None,
    calendar: CalendarQuery = "calendar",
    format: FormFormatQuery = "json",
    version: Annotated[
        str, Query(pattern=r"^[0-9A-Za-z_-]{1,20}$", description="version of the Decision 766 data (2022)")
    ] = INDEX766_SNAPSHOT_VERSION,
    as_: AsQuery = "live",
) -> Response:
    """Decision 766/QĐ-TTg scored index: points out of 100 per agency (ranked within its level),
    per level and for the whole scope; the rules (groups, indicators, points, assumptions) with it.
    Frozen at each period's close like the periodic reports (`as=submitted`, rules version 2022)."""
    b = bounds_of(request, period, calendar)
    try:
        index766_rules(version)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    if as_ == "submitted" and version != INDEX766_SNAPSHOT_VERSION:
        raise HTTPException(
            422,
            f"the Decision 766 index is frozen with rules version {INDEX766_SNAPSHOT_VERSION} only: "
            f"ask for version={INDEX766_SNAPSHOT_VERSION} with as=submitted, or as=live for {version}",
        )
    async with _pool(request).acquire() as conn:
        agencies = await scoped(conn, who, agency)
        if version == INDEX766_SNAPSHOT_VERSION:  # the version snapshots and adjustments are made with
            doc, b = await _report_doc(request, conn, "index766", b, who, agency, agencies, as_)
        else:
            doc = await reports.index766_report(conn, b, agency, agencies, version)
        if format == "json":
            return JSONResponse(doc)
        frame = await _frame(
            request, conn, b, agency, form_code="Quyết định 766/QĐ-TTg", title=INDEX766_TITLE,
            receiver=_settings(request).reporting_receiver_766, measure="Đơn vị tính: điểm",
        )  # fmt: skip
    groups = doc["rules"]["groups"]
    columns = (
        *INDEX766_CSV_COLUMNS,
        *[Column(f"g_{g['code']}", f"{g['name']} (điểm)", "decimal") for g in groups],
        *[
            Column(f"i_{i['code']}", f"{i['name']} (điểm)", "decimal")
            for g in groups
            for i in g["indicators"]
        ],
    )

    def flat(item: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in item.items() if k not in ("groups", "measures")}
        for g in item["groups"]:
            out[f"g_{g['code']}"] = g["points"]
            for i in g["indicators"]:
                out[f"i_{i['code']}"] = i["points"] if i["measured"] else None
        return out

    rows = [
        *[{**flat(r), "level_name": level_label(r["level"])} for r in doc["rows"]],
        {"agency_code": "", "name": "Tổng cộng", **flat(doc["totals"])},
    ]
    csv_body = exports.table_csv(columns, rows, request.app.state.tz)
    return await _form_answer(
        request, index766_form(doc, frame), format, f"diem_qd766_{b.period.label}", csv_body
    )


class ExternalFigure(BaseModel):
    """One imported figure of an agency for a month."""

    agency_code: str = Field(min_length=1, max_length=40)
    measure: ExternalMeasure = Field(
        description="procedures_published_on_time or procedures_to_publish (the data file names them)"
    )
    value: int = Field(ge=0, le=10_000_000)


class ExternalImport(BaseModel):
    """Figures the events cannot carry (e.g. procedures published on time), for one month."""

    month: str = Field(
        pattern=r"^(19[7-9]\d|2\d{3})-(0[1-9]|1[0-2])$",
        description="a month of the years 1970–2999, like the report periods: 2025-05",
    )
    rows: list[ExternalFigure] = Field(min_length=1, max_length=10_000)


@router.put("/reports/index766/external", tags=["reports"])
async def import_index766_external(
    request: Request, body: ExternalImport, who: Annotated[Caller, Depends(caller)]
) -> dict[str, Any]:
    """Import the Decision 766 figures that come from outside the events, per agency for a month
    (admin only; a later import of a figure replaces it; logged with the token)."""
    if who is None:
        raise Unauthorized("importing needs a bearer token: send 'Authorization: Bearer <token>'")
    if who.role is not Role.ADMIN:
        raise Forbidden(f"role {who.role.value!r} may read reports but not import figures; ask an admin")
    month = date.fromisoformat(f"{body.month}-01")
    async with _pool(request).acquire() as conn:
        try:
            await reports.import_index766_external(
                conn,
                month,
                [(r.agency_code, r.measure, r.value) for r in body.rows],
                _now(request),
                who.subject,
            )
        except reports.UnknownAgencies as exc:
            raise HTTPException(422, str(exc)) from exc
    log.info(
        "Decision 766 figures imported: %s, %d rows by %s (token %s)",
        body.month,
        len(body.rows),
        who.subject,
        who.token_id,
    )
    return {"month": body.month, "imported": len(body.rows)}


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


class SnapshotRequest(BaseModel):
    """Freeze a report now ("chốt số liệu"): it becomes the submitted report of its period."""

    report: Report
    period: str = Field(description="2025-03, 2025-Q1, 2021-H1 or 2025")
    calendar: Literal["calendar", "statutory"] = "statutory"
    agency: str | None = Field(
        default=None, description="agency code (its subtree); the province when absent"
    )


@router.post("/reports/snapshots", tags=["reports"], status_code=201)
async def make_snapshot(
    request: Request, body: SnapshotRequest, who: Annotated[Caller, Depends(caller)]
) -> dict[str, Any]:
    """Freeze a report now, as its submitted version (admin, or an officer for its own agency subtree).

    Audited: the snapshot records who made it and when, and it cannot be changed afterwards.
    """
    if who is None:
        raise Unauthorized("freezing a report needs a bearer token: send 'Authorization: Bearer <token>'")
    if who.role not in (Role.ADMIN, Role.OFFICER):
        raise Forbidden(
            f"role {who.role.value!r} may read reports but not freeze them; ask an officer or admin"
        )
    if who.role is Role.OFFICER and body.agency is None and not who.agency_code:
        raise Forbidden("an officer without an agency cannot freeze a report")
    b = bounds_of(request, body.period, body.calendar)
    async with _pool(request).acquire() as conn:
        agencies = await scoped(conn, who, body.agency)
        snap = await reports.make_snapshot(
            conn,
            body.report,
            b,
            body.agency,
            snapshot_key(who, body.agency),
            agencies,
            made_by=who.subject,
            reason="on_demand",
        )
    log.info(
        "report frozen on demand: %s %s %s %s by %s (token %s), sha256 %s",
        snap.report, snap.calendar, snap.period, snap.agency_code or "province", who.subject, who.token_id,
        snap.content_sha256,
    )  # fmt: skip
    return snap.describe(request.app.state.tz)


@router.get("/reports/snapshots", tags=["reports"])
async def list_snapshots(
    request: Request,
    period: PeriodQuery,
    who: Annotated[Caller, Depends(caller)],
    calendar: CalendarQuery = "statutory",
) -> dict[str, Any]:
    """The snapshots of a period (who made each, when, why, its hash), within the caller's subtree."""
    bounds_of(request, period, calendar)  # 422 for a period that cannot be read
    async with _pool(request).acquire() as conn:
        allowed = await scoped(conn, who, None)
        found = await snapshot_store.listing(conn, period, calendar, allowed)
    return {
        "period": period,
        "calendar": calendar,
        "snapshots": [s.describe(request.app.state.tz) for s in found],
    }
