"""The dashboard: server-rendered pages, Vietnamese by default, fully offline.

Charts are drawn by plotly.js, served from the copy inside the ``plotly`` Python package
(no CDN). Drill-down: province overview → agency → procedure → dossier list → control slip.
"""

from __future__ import annotations

import math
from datetime import datetime
from importlib import resources
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.reporting import reports
from services.reporting.adapters import views
from services.reporting.domain.form06 import field_label
from services.reporting.domain.indicators import indicators
from services.reporting.entrypoints.access import Caller, caller
from services.reporting.entrypoints.http import _pool, bounds_of, scoped
from services.reporting.entrypoints.templates import ENV, TEXT
from shared.contracts.registry import Role
from shared.http import PG_BIGINT_MAX

router = APIRouter(prefix="/dashboard", include_in_schema=False)

LANG_COOKIE = "tthc_lang"
PAGE_SIZE = 50
_PLOTLY_JS: bytes | None = None


def _plotly_js() -> bytes:
    global _PLOTLY_JS
    if _PLOTLY_JS is None:
        _PLOTLY_JS = (resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()
    return _PLOTLY_JS


class Page:
    """What every page template needs: language, texts, the period and the query string."""

    def __init__(self, request: Request, period: str | None, calendar: str, lang: str | None) -> None:
        settings = request.app.state.settings
        self.lang = lang or request.cookies.get(LANG_COOKIE) or settings.dashboard_default_language
        if self.lang not in TEXT:
            self.lang = "vi"
        self.t = TEXT[self.lang]
        self.period = period or str(request.app.state.clock().year)
        self.calendar = calendar
        self.bounds = bounds_of(request, self.period, calendar)
        self.tz = request.app.state.tz
        self.remember_lang = lang is not None

    def query(self, lang: str | None = None) -> str:
        return urlencode({"period": self.period, "calendar": self.calendar, "lang": lang or self.lang})

    def when(self, v: Any) -> str:
        if v is None or v == "":
            return ""
        moment = datetime.fromisoformat(v) if isinstance(v, str) else v
        return str(moment.astimezone(self.tz).strftime("%d/%m/%Y %H:%M"))

    def pct(self, v: float | None) -> str:
        return "—" if v is None else f"{v * 100:.1f} %".replace(".", "," if self.lang == "vi" else ".")

    def outcome(self, o: str | None) -> str:
        if o is None:
            return ""
        key = f"{o}_o" if o.startswith("pending_") else o
        return self.t.get(key, o)

    def render(self, template: str, **context: Any) -> HTMLResponse:
        other = "en" if self.lang == "vi" else "vi"
        html = ENV.get_template(template).render(
            lang=self.lang,
            t=self.t,
            period=self.period,
            calendar=self.calendar,
            bounds={
                "first": self.bounds.period.first.isoformat(),
                "last": self.bounds.period.last.isoformat(),
            },
            q=self.query(),
            switch_q=self.query(other),
            pct=self.pct,
            when=self.when,
            outcome=self.outcome,
            **context,
        )
        response = HTMLResponse(html)
        if self.remember_lang:
            response.set_cookie(LANG_COOKIE, self.lang, max_age=365 * 86400, samesite="lax")
        return response


PeriodQ = Annotated[str | None, Query(description="2025, 2025-Q1, 2025-03 …; the current year by default")]
LangQ = Annotated[str | None, Query(pattern="^(vi|en)$")]


def _layout(title: str, **more: Any) -> dict[str, Any]:
    return {
        "title": {"text": title, "font": {"size": 14}},
        "margin": {"l": 50, "r": 10, "t": 40, "b": 80},
        "legend": {"orientation": "h"},
        **more,
    }


@router.get("", response_class=HTMLResponse)
async def overview(
    request: Request,
    who: Annotated[Caller, Depends(caller)],
    period: PeriodQ = None,
    calendar: str = "calendar",
    lang: LangQ = None,
) -> HTMLResponse:
    page = Page(request, period, calendar, lang)
    b, t = page.bounds, page.t
    async with _pool(request).acquire() as conn:
        agencies = await scoped(conn, who, None)
        form = await reports.form06(conn, b, None, agencies)
        ind = await reports.indicators_766(conn, b, None, agencies)
        qms = await reports.qms(conn, b, None, agencies)
        first_month, after = reports.month_starts(b.period.last, 12)
        trend = await views.monthly_flows(conn, first_month, after, agencies)
        ncs = await views.nonconformity_counts(conn, b.period.first, b.period.end_exclusive, agencies)
        by_agency = await views.open_nonconformities_by_agency(conn)
    open_ncs = sum(n for a, n in by_agency.items() if agencies is None or a in agencies)

    months = [m["month"].strftime("%m/%Y") for m in trend]
    legal = [indicators(m)["on_time_rate"] for m in trend]
    index = [indicators(m)["on_time_rate_index"] for m in trend]
    worst = sorted(form["rows"], key=lambda r: -(r["resolved_late"] + r["pending_overdue"]))[:15]
    names = [form["agencies"][r["agency_code"]]["name"] or r["agency_code"] for r in worst]
    codes = sorted({n["code"] for n in ncs})
    statuses = sorted({n["status"] for n in ncs})
    charts = {
        "chart-trend": {
            "data": [
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": t["on_time_rate"],
                    "x": months,
                    "y": legal,
                },
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": t["on_time_rate_index"],
                    "x": months,
                    "y": index,
                },
            ],
            "layout": _layout(t["trend"], yaxis={"tickformat": ".0%", "range": [0, 1.05]}),
        },
        "chart-late": {
            "data": [
                {
                    "type": "bar",
                    "name": t["resolved_late"],
                    "x": names,
                    "y": [r["resolved_late"] for r in worst],
                },
                {
                    "type": "bar",
                    "name": t["pending_overdue"],
                    "x": names,
                    "y": [r["pending_overdue"] for r in worst],
                },
            ],
            "layout": _layout(t["late_overdue"], barmode="group"),
        },
        "chart-ncs": {
            "data": [
                {
                    "type": "bar",
                    "name": t.get(s, s),
                    "x": codes,
                    "y": [sum(n["n"] for n in ncs if n["code"] == c and n["status"] == s) for c in codes],
                }
                for s in statuses
            ],
            "layout": _layout(t["ncs_by_code"], barmode="stack"),
        },
        "chart-qms": {
            "data": [
                {
                    "type": "bar",
                    "name": t["announced"],
                    "x": [t["mandatory"], t["encouraged"]],
                    "y": [qms["mandatory_announced"], qms["encouraged_announced"]],
                },
                {
                    "type": "bar",
                    "name": t["not_announced"],
                    "x": [t["mandatory"], t["encouraged"]],
                    "y": [
                        qms["mandatory"] - qms["mandatory_announced"],
                        qms["encouraged"] - qms["encouraged_announced"],
                    ],
                },
            ],
            "layout": _layout(t["qms_adoption"], barmode="stack"),
        },
    }
    return page.render(
        "overview.html", form=form, ind=ind["totals"], qms=qms, charts=charts, open_ncs=open_ncs
    )


async def _agency_allowed(conn: Any, who: Caller, code: str) -> None:
    if who is not None and who.role is Role.OFFICER:
        await scoped(conn, who, code)  # 403 outside the officer's subtree


@router.get("/agency/{code}", response_class=HTMLResponse)
async def agency(
    request: Request,
    code: str,
    who: Annotated[Caller, Depends(caller)],
    period: PeriodQ = None,
    calendar: str = "calendar",
    lang: LangQ = None,
) -> HTMLResponse:
    page = Page(request, period, calendar, lang)
    b = page.bounds
    async with _pool(request).acquire() as conn:
        await _agency_allowed(conn, who, code)
        infos = await views.agency_infos(conn)
        flows = await views.procedure_flows(conn, code, b.period.first, b.period.end_exclusive)
        pending = await views.pending_by_procedure(conn, code, b.as_of)
    procedures = []
    for p in flows:
        pending_n, overdue = pending.pop(p["procedure_code"], (0, 0))
        procedures.append(
            p
            | indicators(p)
            | {"pending": pending_n, "overdue": overdue, "field_label": field_label(p["field"], page.lang)}
        )
    for pcode, (pending_n, overdue) in sorted(pending.items()):  # pending, but no flow in the period
        procedures.append(
            {
                "procedure_code": pcode,
                "name": None,
                "field_label": "",
                "received": 0,
                "resolved_early": 0,
                "resolved_on_time": 0,
                "resolved_late": 0,
                "on_time_rate": None,
                "pending": pending_n,
                "overdue": overdue,
            }
        )
    t = page.t
    chart = {
        "data": [
            {
                "type": "bar",
                "name": t["resolved_early"],
                "x": [p["procedure_code"] for p in procedures],
                "y": [p["resolved_early"] for p in procedures],
            },
            {
                "type": "bar",
                "name": t["resolved_on_time"],
                "x": [p["procedure_code"] for p in procedures],
                "y": [p["resolved_on_time"] for p in procedures],
            },
            {
                "type": "bar",
                "name": t["late"],
                "x": [p["procedure_code"] for p in procedures],
                "y": [p["resolved_late"] for p in procedures],
            },
        ],
        "layout": _layout(t["procedures"], barmode="stack"),
    }
    name = infos[code].name if code in infos else code
    return page.render("agency.html", code=code, name=name, procedures=procedures, chart=chart)


@router.get("/agency/{code}/procedure/{procedure}", response_class=HTMLResponse)
async def procedure_dossiers(
    request: Request,
    code: str,
    procedure: str,
    who: Annotated[Caller, Depends(caller)],
    period: PeriodQ = None,
    calendar: str = "calendar",
    lang: LangQ = None,
    page_no: Annotated[int, Query(alias="page", ge=1, le=PG_BIGINT_MAX // PAGE_SIZE)] = 1,
) -> HTMLResponse:
    page = Page(request, period, calendar, lang)
    b = page.bounds
    async with _pool(request).acquire() as conn:
        await _agency_allowed(conn, who, code)
        infos = await views.agency_infos(conn)
        items, total = await views.dossiers(
            conn, code, procedure, b.start, b.end, PAGE_SIZE, (page_no - 1) * PAGE_SIZE
        )
        pname = await conn.fetchval("SELECT name FROM reporting.procedures WHERE code = $1", procedure)
    return page.render(
        "procedure.html",
        code=code,
        name=infos[code].name if code in infos else code,
        procedure_code=procedure,
        procedure_name=pname,
        dossiers=items,
        page=page_no,
        pages=max(1, math.ceil(total / PAGE_SIZE)),
    )


@router.get("/dossier/{code}", response_class=HTMLResponse)
async def dossier(
    request: Request,
    code: str,
    who: Annotated[Caller, Depends(caller)],
    period: PeriodQ = None,
    calendar: str = "calendar",
    lang: LangQ = None,
) -> HTMLResponse:
    page = Page(request, period, calendar, lang)
    async with _pool(request).acquire() as conn:
        doc = await views.dossier(conn, code)
        if doc is None:
            raise HTTPException(404, f"no dossier {code!r} has reached reporting; check the code")
        await _agency_allowed(conn, who, doc["agency_code"])
    doc.setdefault("steps", [])
    return page.render("dossier.html", d=doc)


@router.get("/static/plotly.min.js")
async def plotly_js() -> Response:
    return Response(
        _plotly_js(),
        media_type="application/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )


def install_dashboard(app: FastAPI) -> None:
    app.include_router(router)
