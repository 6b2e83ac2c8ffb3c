"""The dashboard: server-rendered pages, Vietnamese by default, live, behind a login, fully offline.

Drill-down: province overview (agency tree) → agency → procedure → dossier list → control
slip; the nonconformity register beside it. Every number comes from
:mod:`services.reporting.dashboard_data` (the API's report functions) and is refreshed by
``static/dashboard.js`` from the page's ``/dashboard/live/…`` twin. Charts are drawn by
plotly.js, served from the copy inside the ``plotly`` Python package (no CDN).

Errors are pages in the reader's language with the right status (422 for a bad parameter,
404 for an unknown agency, procedure or dossier — and for one outside the officer's
subtree, so that a code's existence does not leak), never JSON.
"""

from __future__ import annotations

import inspect
import math
from datetime import date, datetime
from importlib import resources
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.reporting import dashboard_data, reports
from services.reporting.adapters import dashboard_views, views
from services.reporting.domain.periods import PeriodError, parse_period
from services.reporting.entrypoints.http import _pool
from services.reporting.entrypoints.session import (
    CSRF_FIELD,
    CsrfRejected,
    LoginFailure,
    LoginRequired,
    Sessions,
    bearer_token,
    dashboard_caller,
    end_password_session,
    password_login,
)
from services.reporting.entrypoints.templates import ENV, STATIC, TEXT
from shared import formatting, vocabulary
from shared.auth import Principal, hash_token
from shared.contracts.compliance import NonconformityCode
from shared.contracts.registry import Role
from shared.formatting import Lang
from shared.http import PG_BIGINT_MAX

router = APIRouter(prefix="/dashboard", include_in_schema=False)

LANG_COOKIE = "tthc_lang"
PAGE_SIZE = 50
_PLOTLY_JS: bytes | None = None

Who = Annotated[Principal | None, Depends(dashboard_caller)]
PeriodQ = Annotated[str | None, Query(max_length=20)]
CalendarQ = Annotated[str, Query(pattern="^(calendar|statutory)$")]
LangQ = Annotated[str | None, Query(pattern="^(vi|en)$")]
MAX_PAGE_SIZE = 500
PageQ = Annotated[int, Query(alias="page", ge=1, le=PG_BIGINT_MAX // PAGE_SIZE)]
SizeQ = Annotated[int, Query(alias="size", ge=1, le=MAX_PAGE_SIZE)]
FindQ = Annotated[str | None, Query(max_length=100)]
OnlyQ = Annotated[str | None, Query(pattern="^1?$")]


class PageError(Exception):
    """An error the reader sees as a page: status and the text key of its message."""

    def __init__(self, status: int, key: str, **args: str) -> None:
        super().__init__(key)
        self.status, self.key, self.args_ = status, key, args


def _plotly_js() -> bytes:
    global _PLOTLY_JS
    if _PLOTLY_JS is None:
        _PLOTLY_JS = (resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()
    return _PLOTLY_JS


def _lang_of(request: Request) -> Lang:
    asked = request.query_params.get("lang")
    for value in (
        asked,
        request.cookies.get(LANG_COOKIE),
        request.app.state.settings.dashboard_default_language,
    ):
        if value in ("vi", "en"):
            return "vi" if value == "vi" else "en"
    return "vi"


class Page:
    """What every template needs: language, texts, period, formatting, the caller."""

    def __init__(
        self,
        request: Request,
        who: Principal | None,
        period: str | None = None,
        calendar: str = "calendar",
        lang: str | None = None,
    ) -> None:
        self.request = request
        self.who = who
        settings = request.app.state.settings
        self.lang: Lang = _lang_of(request)
        self.t = TEXT[self.lang]
        self.period = period or str(request.app.state.clock().year)
        self.calendar = calendar
        try:
            p = parse_period(
                self.period,
                "statutory" if calendar == "statutory" else "calendar",
                settings.statutory_period_start_day,
            )
        except PeriodError as exc:
            raise PageError(422, "bad_period", value=self.period) from exc
        self.bounds = reports.bounds(p, request.app.state.tz, request.app.state.clock())
        self.tz = request.app.state.tz
        self.remember_lang = lang is not None

    def query(self, lang: str | None = None) -> str:
        return urlencode({"period": self.period, "calendar": self.calendar, "lang": lang or self.lang})

    def when(self, v: Any) -> str:
        if v is None or v == "":
            return ""
        moment = datetime.fromisoformat(v) if isinstance(v, str) else v
        return formatting.moment(moment, self.tz)

    def updated(self) -> str:
        return str(self.request.app.state.clock().astimezone(self.tz).strftime("%H:%M:%S %d/%m/%Y"))

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        lang = self.lang
        sessions: Sessions = self.request.app.state.sessions
        csrf_cookie = sessions.csrf_cookie(self.request)
        settings = self.request.app.state.settings
        html = ENV.get_template(template).render(
            lang=lang,
            t=self.t,
            period=self.period,
            calendar=self.calendar,
            bounds={
                "first": formatting.day(self.bounds.period.first),
                "last": formatting.day(self.bounds.period.last),
            },
            q=self.query(),
            switch_q=self.query("en" if lang == "vi" else "vi"),
            who=self.who,
            csrf=sessions.csrf_field(csrf_cookie),
            show_login=self.who is None,
            updated=self.updated(),
            when=self.when,
            fmt_number=lambda n: formatting.number(n, lang),
            outcome=lambda o: vocabulary.outcome(o, lang),
            channel=lambda c: vocabulary.channel(c, lang),
            status=lambda s: vocabulary.dossier_status(s, lang),
            rule=lambda c: vocabulary.rule_name(c, lang),
            explain=lambda c: vocabulary.rule_explanation(c, lang),
            nc_status=lambda s: vocabulary.nc_status(s, lang),
            ca_state=lambda s: vocabulary.ca_state(s, lang),
            ca_change=lambda s: vocabulary.ca_change(s, lang),
            day=lambda d: formatting.day(date.fromisoformat(d) if isinstance(d, str) else d),
            level=lambda lv: vocabulary.level(lv, lang),
            duration=lambda v, u: vocabulary.duration(v, u, lang),
            live_url=context.pop("live_url", None),
            live_interval_ms=int(settings.dashboard_live_interval_s * 1000),
            w766=dashboard_data.INDEX766_WORDS[lang],
            charts=context.pop("charts", {}),
            v=context.pop("v", {}),
            **context,
        )
        response = HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})
        sessions.keep_csrf(response, csrf_cookie)
        if self.remember_lang:
            response.set_cookie(LANG_COOKIE, self.lang, max_age=365 * 86400, samesite="lax")
        return response


def _root(who: Principal | None) -> str | None:
    return who.agency_code if who is not None and who.role is Role.OFFICER else None


async def _visible(conn: Any, who: Principal | None) -> list[str] | None:
    """The agencies the caller may see (None: all)."""
    root = _root(who)
    return await views.subtree(conn, root) if root is not None else None


async def _agency_scope(conn: Any, who: Principal | None, code: str) -> list[str]:
    """``code``'s subtree; 404 if unknown or outside the caller's subtree (the same answer)."""
    nodes = await dashboard_views.agency_nodes(conn)
    visible = await _visible(conn, who)
    if code not in nodes or (visible is not None and code not in visible):
        raise PageError(404, "not_found_agency", code=code)
    return await views.subtree(conn, code)


def _live(request: Request, path: str) -> str:
    return f"/dashboard/live{path}?{request.url.query}" if request.url.query else f"/dashboard/live{path}"


def _live_answer(
    page: Page, figures: dashboard_data.Figures, charts: dict[str, Any], lists: dict[str, int] | None = None
) -> JSONResponse:
    """A page's live twin: its numbers, its charts, and the length of each of its lists (the page
    shows "có N mục mới — tải lại" when a list grew since it was drawn)."""
    return JSONResponse(
        {"values": figures.values, "charts": charts, "lists": lists or {}, "updated": page.updated()},
        headers={"Cache-Control": "no-store"},
    )


def offset_of(page_no: int, size: int) -> int:
    """The first row of a page; 422 when it lies past what PostgreSQL can count (bigint)."""
    if page_no * size > PG_BIGINT_MAX:  # the page's last row, too (the open register reads up to it)
        raise PageError(422, "bad_parameter", field="page")
    return (page_no - 1) * size


def pager(page_no: int, size: int, total: int, keep: dict[str, Any]) -> dict[str, Any]:
    """What a list's pager shows: "Trang 2/7", and links that keep the list's filters and size."""
    kept = {k: v for k, v in keep.items() if v not in (None, "", False)}
    if size != PAGE_SIZE:
        kept["size"] = size
    return {
        "page": page_no,
        "pages": max(1, math.ceil(total / size)),
        "total": total,
        "keep_q": urlencode(kept),
        "size": size,
        "default_size": PAGE_SIZE,
    }


def tree_page(
    rows: list[dashboard_data.TreeRow],
    sums: dict[str, dict[str, int]],
    find: str | None,
    overdue_only: bool,
    page_no: int,
    size: int,
) -> tuple[list[dashboard_data.TreeRow], int]:
    """One page of the agency tree after its filters (name or code; overdue in the subtree)."""
    needle = (find or "").strip().casefold()
    kept = [
        r
        for r in rows
        if (not needle or needle in r.name.casefold() or needle in r.code.casefold())
        and (not overdue_only or sums[r.code]["pending_overdue"] > 0)
    ]
    return kept[(page_no - 1) * size : page_no * size], len(kept)


def procedure_page(
    procedures: list[dict[str, Any]], find: str | None, overdue_only: bool, page_no: int, size: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of an agency's own procedures after its filters (code or name; pending overdue)."""
    needle = (find or "").strip().casefold()
    kept = [
        p
        for p in procedures
        if (not needle or needle in p["procedure_code"].casefold() or needle in (p["name"] or "").casefold())
        and (not overdue_only or p["pending_overdue"] > 0)
    ]
    return kept[(page_no - 1) * size : page_no * size], len(kept)


@router.get("", response_class=HTMLResponse)
async def overview(
    request: Request,
    who: Who,
    period: PeriodQ = None,
    calendar: CalendarQ = "calendar",
    lang: LangQ = None,
    page_no: PageQ = 1,
    size: SizeQ = PAGE_SIZE,
    find: FindQ = None,
    overdue: OnlyQ = None,
) -> HTMLResponse:
    from services.reporting.entrypoints.corrective_pages import overdue_count

    page = Page(request, who, period, calendar, lang)
    async with _pool(request).acquire() as conn:
        figures, ctx = await dashboard_data.overview(conn, page.bounds, await _visible(conn, who), page.lang)
    overdue_actions = await overdue_count(request)
    shown, total = tree_page(ctx.pop("rows"), ctx["sums"], find, overdue == "1", page_no, size)
    return page.render(
        "overview.html",
        overdue_actions=formatting.number(overdue_actions, page.lang),
        v=figures.values,
        live_url=_live(request, ""),
        table_keys=dashboard_data.TABLE_KEYS,
        rows=shown,
        tree=_tree_context(page, find, overdue == "1", page_no, size, total),
        **ctx,
    )


def _tree_context(
    page: Page, find: str | None, overdue_only: bool, page_no: int, size: int, total: int
) -> dict[str, Any]:
    keep: dict[str, Any] = {"period": page.period, "calendar": page.calendar, "lang": page.lang}
    keep |= {"find": (find or "").strip(), "overdue": "1" if overdue_only else None}
    return {"find": (find or "").strip(), "overdue_only": overdue_only, **pager(page_no, size, total, keep)}


@router.get("/live")
async def overview_live(
    request: Request,
    who: Who,
    period: PeriodQ = None,
    calendar: CalendarQ = "calendar",
    lang: LangQ = None,
    find: FindQ = None,
    overdue: OnlyQ = None,
) -> JSONResponse:
    page = Page(request, who, period, calendar, lang)
    async with _pool(request).acquire() as conn:
        figures, ctx = await dashboard_data.overview(conn, page.bounds, await _visible(conn, who), page.lang)
    _, tree_total = tree_page(ctx["rows"], ctx["sums"], find, overdue == "1", 1, 1)
    return _live_answer(page, figures, ctx["charts"], {"tree": tree_total})


async def _agency(
    request: Request, who: Principal | None, page: Page, code: str
) -> tuple[Any, Any, str, str]:
    async with _pool(request).acquire() as conn:
        scope = await _agency_scope(conn, who, code)
        figures, ctx = await dashboard_data.agency(conn, page.bounds, code, scope, page.lang)
        node = (await dashboard_views.agency_nodes(conn))[code]
    return figures, ctx, node.name, node.level


@router.get("/index766", response_class=HTMLResponse)
async def index766(
    request: Request, who: Who, period: PeriodQ = None, calendar: CalendarQ = "calendar", lang: LangQ = None
) -> HTMLResponse:
    """Decision 766 points of the caller's subtree: :func:`reports.index766_report`, as the API."""
    page = Page(request, who, period, calendar, lang)
    async with _pool(request).acquire() as conn:
        figures, ctx = await dashboard_data.index766(conn, page.bounds, await _visible(conn, who), page.lang)
        root = _root(who)
        node = (await dashboard_views.agency_nodes(conn)).get(root) if root is not None else None
    scope_name = node.name if node is not None else dashboard_data.INDEX766_WORDS[page.lang]["province"]
    return page.render(
        "index766.html", v=figures.values, scope_name=scope_name, live_url=_live(request, "/index766"), **ctx
    )


@router.get("/live/index766")
async def index766_live(
    request: Request, who: Who, period: PeriodQ = None, calendar: CalendarQ = "calendar", lang: LangQ = None
) -> JSONResponse:
    page = Page(request, who, period, calendar, lang)
    async with _pool(request).acquire() as conn:
        figures, _ = await dashboard_data.index766(conn, page.bounds, await _visible(conn, who), page.lang)
    return _live_answer(page, figures, {})


@router.get("/agency/{code}", response_class=HTMLResponse)
async def agency(
    request: Request,
    code: str,
    who: Who,
    period: PeriodQ = None,
    calendar: CalendarQ = "calendar",
    lang: LangQ = None,
    page_no: PageQ = 1,
    size: SizeQ = PAGE_SIZE,
    find: FindQ = None,
    overdue: OnlyQ = None,
    proc_page: Annotated[int, Query(ge=1, le=PG_BIGINT_MAX // PAGE_SIZE)] = 1,
    pfind: FindQ = None,
    poverdue: OnlyQ = None,
) -> HTMLResponse:
    """One agency; its tree (``page``, ``find``, ``overdue``) and its own procedures (``proc_page``,
    ``pfind``, ``poverdue``) are paged and filtered apart, each link keeping the other's state."""
    page = Page(request, who, period, calendar, lang)
    figures, ctx, name, level = await _agency(request, who, page, code)
    all_rows = ctx.pop("rows")
    shown, total = tree_page(all_rows, ctx["sums"], find, overdue == "1", page_no, size)
    procs, procs_total = procedure_page(ctx["procedures"], pfind, poverdue == "1", proc_page, size)
    keep: dict[str, Any] = {"period": page.period, "calendar": page.calendar, "lang": page.lang}
    tree_keep = {"find": (find or "").strip(), "overdue": overdue, "page": page_no if page_no > 1 else None}
    proc_keep = {"pfind": (pfind or "").strip(), "poverdue": poverdue}
    proc_pager = pager(proc_page, size, procs_total, keep | tree_keep | proc_keep)
    proc_pager |= {"param": "proc_page", "find": proc_keep["pfind"], "overdue_only": poverdue == "1"}
    tree = _tree_context(page, find, overdue == "1", page_no, size, total)
    tree["keep_q"] = urlencode(
        {k: v for k, v in parse_qsl(tree["keep_q"])}
        | {k: v for k, v in proc_keep.items() if v}
        | ({"proc_page": proc_page} if proc_page > 1 else {})
    )
    return page.render(
        "agency.html",
        v=figures.values,
        live_url=_live(request, f"/agency/{quote(code)}"),
        code=code,
        name=name,
        agency_level=level,
        table_keys=dashboard_data.TABLE_KEYS,
        procedure_keys=dashboard_data.PROCEDURE_KEYS,
        rows=shown,
        subtree_size=len(all_rows),
        tree=tree,
        procedures_shown=procs,
        proc_p=proc_pager,
        **ctx,
    )


@router.get("/live/agency/{code}")
async def agency_live(
    request: Request,
    code: str,
    who: Who,
    period: PeriodQ = None,
    calendar: CalendarQ = "calendar",
    lang: LangQ = None,
    find: FindQ = None,
    overdue: OnlyQ = None,
    pfind: FindQ = None,
    poverdue: OnlyQ = None,
) -> JSONResponse:
    page = Page(request, who, period, calendar, lang)
    figures, ctx, _, _ = await _agency(request, who, page, code)
    _, tree_total = tree_page(ctx["rows"], ctx["sums"], find, overdue == "1", 1, 1)
    _, procs_total = procedure_page(ctx["procedures"], pfind, poverdue == "1", 1, 1)
    return _live_answer(page, figures, ctx["charts"], {"tree": tree_total, "procedures": procs_total})


async def _procedure(
    request: Request,
    who: Principal | None,
    page: Page,
    code: str,
    procedure: str,
    overdue_only: bool,
    page_no: int,
    size: int,
) -> tuple[dashboard_data.Figures, dict[str, Any]]:
    """The numbers and one page of the dossier list of one agency's procedure."""
    b = page.bounds
    async with _pool(request).acquire() as conn:
        await _agency_scope(conn, who, code)
        if not await dashboard_views.procedure_known(conn, code, procedure):
            raise PageError(404, "not_found_procedure", code=procedure)
        node = (await dashboard_views.agency_nodes(conn))[code]
        rows = await dashboard_data.procedure_rows(conn, b, code, page.lang)
        items, total = await dashboard_views.dossiers(
            conn,
            code,
            procedure,
            b.start,
            b.end,
            overdue_only=overdue_only,
            limit=size,
            offset=offset_of(page_no, size),
        )
        pname = (await dashboard_views.procedure_names(conn)).get(procedure)
    summary = next((r for r in rows if r["procedure_code"] == procedure), None)
    figures = dashboard_data.Figures(page.lang)
    if summary is not None:
        for k in dashboard_data.PROCEDURE_KEYS:
            figures.count(f"proc.{procedure}.{k}", summary[k])
        figures.rate(f"proc.{procedure}.on_time_rate", summary["on_time_rate"])
    figures.count("list.dossiers.total", total)
    return figures, {"name": node.name, "pname": pname, "summary": summary, "items": items, "total": total}


@router.get("/agency/{code}/procedure/{procedure}", response_class=HTMLResponse)
async def procedure_dossiers(
    request: Request,
    code: str,
    procedure: str,
    who: Who,
    period: PeriodQ = None,
    calendar: CalendarQ = "calendar",
    lang: LangQ = None,
    page_no: PageQ = 1,
    size: SizeQ = PAGE_SIZE,
    overdue: OnlyQ = None,
) -> HTMLResponse:
    page = Page(request, who, period, calendar, lang)
    figures, ctx = await _procedure(request, who, page, code, procedure, overdue == "1", page_no, size)
    return page.render(
        "procedure.html",
        v=figures.values,
        live_url=_live(request, f"/agency/{quote(code)}/procedure/{quote(procedure)}"),
        code=code,
        name=ctx["name"],
        procedure_code=procedure,
        procedure_name=ctx["pname"],
        summary=ctx["summary"],
        procedure_keys=dashboard_data.PROCEDURE_KEYS,
        dossiers=ctx["items"],
        total=ctx["total"],
        overdue_only=overdue == "1",
        p=pager(
            page_no,
            size,
            ctx["total"],
            {"period": page.period, "calendar": page.calendar, "lang": page.lang, "overdue": overdue},
        ),
    )


@router.get("/live/agency/{code}/procedure/{procedure}")
async def procedure_live(
    request: Request,
    code: str,
    procedure: str,
    who: Who,
    period: PeriodQ = None,
    calendar: CalendarQ = "calendar",
    lang: LangQ = None,
    overdue: OnlyQ = None,
) -> JSONResponse:
    page = Page(request, who, period, calendar, lang)
    figures, ctx = await _procedure(request, who, page, code, procedure, overdue == "1", 1, 1)
    return _live_answer(page, figures, {}, {"dossiers": ctx["total"]})


@router.get("/dossier/{code}", response_class=HTMLResponse)
async def dossier(
    request: Request,
    code: str,
    who: Who,
    period: PeriodQ = None,
    calendar: CalendarQ = "calendar",
    lang: LangQ = None,
) -> HTMLResponse:
    page = Page(request, who, period, calendar, lang)
    async with _pool(request).acquire() as conn:
        doc = await views.dossier(conn, code)
        visible = await _visible(conn, who)
        if doc is None or (visible is not None and doc["agency_code"] not in visible):
            raise PageError(404, "not_found_dossier", code=code)
        nodes = await dashboard_views.agency_nodes(conn)
        pname = (await dashboard_views.procedure_names(conn)).get(doc["procedure_code"])
        steps = await dashboard_views.step_names(
            conn, doc["agency_code"], doc["procedure_code"], doc.get("iso_process_version")
        )
    doc.setdefault("steps", [])
    node = nodes.get(doc["agency_code"])
    return page.render(
        "dossier.html",
        d=doc,
        agency_name=node.name if node else doc["agency_code"],
        procedure_name=pname,
        step_name=lambda code: steps.get(code, code),
        unit_name=lambda code: dashboard_data.unit_name(code, page.lang),
    )


@router.get("/search")
async def search(
    request: Request, who: Who, code: Annotated[str, Query(min_length=1, max_length=100)], lang: LangQ = None
) -> Response:
    """Find a dossier by its code: straight to its control slip, or a 404 page."""
    code = code.strip()
    async with _pool(request).acquire() as conn:
        agency_code = await dashboard_views.dossier_agency(conn, code)
        visible = await _visible(conn, who)
    if agency_code is None or (visible is not None and agency_code not in visible):
        raise PageError(404, "not_found_dossier", code=code)
    suffix = f"?lang={lang}" if lang else ""
    return RedirectResponse(f"/dashboard/dossier/{quote(code, safe='')}{suffix}", status_code=303)


async def _register(
    request: Request,
    who: Principal | None,
    page: Page,
    code: str | None,
    status: str | None,
    open_only: bool,
    page_no: int,
    size: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    if code is not None and code not in vocabulary.RULES:
        raise PageError(422, "bad_parameter", field="code")
    async with _pool(request).acquire() as conn:
        agencies = await _visible(conn, who)
        if open_only and not status:
            doc = await _open_register(conn, page.bounds, agencies, code, page_no, size)
        else:
            doc = await reports.nonconformities(
                conn,
                page.bounds,
                agencies,
                procedure=None,
                code=code,
                status=status or None,
                limit=size,
                offset=offset_of(page_no, size),
            )
        nodes = await dashboard_views.agency_nodes(conn)
    return doc, {c: n.name for c, n in nodes.items()}


RuleQ = Annotated[str | None, Query(max_length=40)]
NcStatusQ = Annotated[str | None, Query(pattern="^(open|corrective_action|closed)?$")]
OpenQ = Annotated[str | None, Query(alias="open", pattern="^1?$")]


@router.get("/register", response_class=HTMLResponse)
async def register(
    request: Request,
    who: Who,
    period: PeriodQ = None,
    calendar: CalendarQ = "calendar",
    lang: LangQ = None,
    code: RuleQ = None,
    status: NcStatusQ = None,
    open_: OpenQ = None,
    page_no: PageQ = 1,
    size: SizeQ = PAGE_SIZE,
) -> HTMLResponse:
    """The nonconformity register with filters, from the API's register report."""
    page = Page(request, who, period, calendar, lang)
    code = code or None
    open_only = open_ == "1"
    doc, names = await _register(request, who, page, code, status, open_only, page_no, size)
    keep: dict[str, Any] = {"period": page.period, "calendar": page.calendar, "lang": page.lang}
    keep |= {"code": code, "status": status, "open": "1" if open_only else None}
    figures = dashboard_data.Figures(page.lang)
    figures.count("list.register.total", doc["total"])
    return page.render(
        "register.html",
        v=figures.values,
        live_url=_live(request, "/register"),
        items=doc["items"],
        total=doc["total"],
        p=pager(page_no, size, doc["total"], keep),
        rule_codes=[c.value for c in NonconformityCode],
        nc_statuses=list(vocabulary.NC_STATUS),
        code=code,
        status_filter=status,
        open_only=open_only,
        agency_names=names,
    )


@router.get("/live/register")
async def register_live(
    request: Request,
    who: Who,
    period: PeriodQ = None,
    calendar: CalendarQ = "calendar",
    lang: LangQ = None,
    code: RuleQ = None,
    status: NcStatusQ = None,
    open_: OpenQ = None,
) -> JSONResponse:
    page = Page(request, who, period, calendar, lang)
    doc, _ = await _register(request, who, page, code or None, status, open_ == "1", 1, 1)
    figures = dashboard_data.Figures(page.lang)
    figures.count("list.register.total", doc["total"])
    return _live_answer(page, figures, {}, {"register": doc["total"]})


async def _open_register(
    conn: Any, b: reports.Bounds, agencies: list[str] | None, code: str | None, page_no: int, size: int
) -> dict[str, Any]:
    """Open and in-corrective-action nonconformities: the register report of each status, merged."""
    offset_of(page_no, size)
    items: list[dict[str, Any]] = []
    total = 0
    for status in ("open", "corrective_action"):
        doc = await reports.nonconformities(
            conn, b, agencies, procedure=None, code=code, status=status, limit=page_no * size, offset=0
        )
        items += doc["items"]
        total += doc["total"]
    items.sort(key=lambda i: (i["detected_at"], i["dossier_code"]), reverse=True)
    return {"items": items[(page_no - 1) * size : page_no * size], "total": total}


# --- login and sessions ---------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Only a dashboard path of this site: never an open redirect."""
    if not target:
        return "/dashboard"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/dashboard") or "\\" in target:
        return "/dashboard"
    return target


def _login_form(
    page: Page,
    request: Request,
    next_url: str | None,
    notice: str | None = None,
    status_code: int = 200,
    **more: Any,
) -> HTMLResponse:
    minutes = request.app.state.settings.dashboard_session_minutes
    return page.render(
        "login.html",
        status_code=status_code,
        next_url=_safe_next(next_url),
        help=page.t["password_help"].format(minutes=minutes),
        notice=notice,
        **more,
    )


@router.get("/login", response_class=HTMLResponse)
async def login_page(
    request: Request,
    lang: LangQ = None,
    next_url: Annotated[str | None, Query(alias="next", max_length=2000)] = None,
    reason: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    page = Page(request, None, None, "calendar", lang)
    notice = page.t["session_expired"] if reason == "expired" else None
    return _login_form(page, request, next_url, notice)


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    token: Annotated[str, Form(max_length=500)] = "",
    name: Annotated[str, Form(max_length=100)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "",
    next_url: Annotated[str, Form(alias="next", max_length=2000)] = "/dashboard",
    lang: Annotated[str, Form(pattern="^(vi|en)?$")] = "",
) -> Response:
    """A user name and password (checked by the registry), or an access token."""
    sessions: Sessions = request.app.state.sessions
    sessions.check_csrf(request, csrf)
    page = Page(request, None, None, "calendar", lang or None)
    if name.strip():
        outcome = await password_login(request, name.strip(), password)
        if isinstance(outcome, LoginFailure):
            notice = page.t[outcome.key].format(minutes=outcome.minutes)
            return _login_form(page, request, next_url, notice, outcome.status, name=name.strip())
        token = outcome
    elif not token.strip():
        return _login_form(page, request, next_url, page.t["login_missing"], 422)
    elif await request.app.state.auth.lookup(hash_token(token.strip())) is None:
        return _login_form(page, request, next_url, page.t["login_failed"], 401, token_open=True)
    response = RedirectResponse(_safe_next(next_url), status_code=303)
    sessions.set_session(response, token.strip(), request.app.state.clock())
    return response


@router.post("/logout")
async def logout(
    request: Request, csrf: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = ""
) -> Response:
    sessions: Sessions = request.app.state.sessions
    sessions.check_csrf(request, csrf)
    token = bearer_token(request)
    if token is not None:
        await end_password_session(request, token)
    response = RedirectResponse(f"/dashboard/login?lang={_lang_of(request)}", status_code=303)
    sessions.clear(response)
    return response


@router.get("/static/plotly.min.js")
async def plotly_js() -> Response:
    return Response(
        _plotly_js(),
        media_type="application/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )


# --- errors as pages --------------------------------------------------------------------


def _error_page(request: Request, status: int, message_key: str, **args: str) -> HTMLResponse:
    lang = _lang_of(request)
    t = TEXT[lang]
    heading = t.get(f"error_{status}", t["error"])
    page = Page(request, None, None, "calendar", None)  # the current year: the asked period may be the error
    return page.render(
        "error.html",
        status_code=status,
        heading=heading,
        message=t[message_key].format(**args),
        http_status=status,
    )


async def _delegate(handler: Any, request: Request, exc: Exception) -> Response:
    """The handler another module installed, for the requests that are not dashboard pages."""
    assert handler is not None
    answer = handler(request, exc)
    if inspect.isawaitable(answer):
        answer = await answer
    assert isinstance(answer, Response)
    return answer


def _is_dashboard(request: Request) -> bool:
    return request.url.path == "/dashboard" or request.url.path.startswith("/dashboard/")


def install_dashboard(app: FastAPI) -> None:
    """Mount the pages and their static files; errors on /dashboard become pages."""
    settings = app.state.settings
    app.state.sessions = Sessions.from_settings(
        settings.dashboard_session_secret,
        settings.dashboard_session_minutes,
        settings.dashboard_secure_cookies,
    )
    from services.reporting.entrypoints.at_risk import pages as at_risk_pages
    from services.reporting.entrypoints.corrective_pages import router as actions_router

    app.include_router(router)
    app.include_router(actions_router)
    app.include_router(at_risk_pages)
    app.mount("/dashboard/static", StaticFiles(directory=STATIC), name="dashboard-static")

    async def page_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageError)
        return _error_page(request, exc.status, exc.key, **exc.args_)

    async def login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        if request.url.path.startswith("/dashboard/live"):
            return JSONResponse({"detail": "session ended"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":  # a form sent after the session ended: start again from the overview
            target = "/dashboard"
        query = urlencode({"next": target, "lang": _lang_of(request), "reason": exc.reason})
        return RedirectResponse(f"/dashboard/login?{query}", status_code=303)

    async def csrf_rejected(request: Request, exc: Exception) -> Response:
        return _error_page(request, 403, "csrf_failed")

    app.add_exception_handler(PageError, page_error)
    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(CsrfRejected, csrf_rejected)

    # a parameter FastAPI refuses before our code runs: a 422 page on /dashboard, the API's
    # problem+json elsewhere (the handler installed by shared.http stays in charge there)
    api_handler = app.exception_handlers.get(RequestValidationError)

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if _is_dashboard(request) and not request.url.path.startswith("/dashboard/live"):
            fields = [str(e.get("loc", ("", ""))[-1]) for e in exc.errors()]
            return _error_page(request, 422, "bad_parameter", field=", ".join(fields))
        return await _delegate(api_handler, request, exc)

    app.add_exception_handler(RequestValidationError, invalid)

    http_handler = app.exception_handlers.get(StarletteHTTPException)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if (
            _is_dashboard(request)
            and exc.status_code in (404, 405)
            and not request.url.path.startswith("/dashboard/live")
        ):
            return _error_page(request, exc.status_code, "not_found_page")
        return await _delegate(http_handler, request, exc)

    app.add_exception_handler(StarletteHTTPException, http_error)
