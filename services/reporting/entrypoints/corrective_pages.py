"""Corrective-action pages (ISO 9001:2015 clause 10.2): the dashboard's forms over processing's API.

Processing owns the workflow (its state machine, tables and audit trail); these pages call
``/api/v1/corrective-actions`` and ``/api/v1/nonconformities`` there with the signed-in
user's own token, so processing applies its rules and its access check to the person
acting, and the audit names them. Every form carries the CSRF field. Why pages call the API
instead of reading processing's tables: docs/decisions.md, "Corrective actions on screen".
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.reporting.adapters import dashboard_views
from services.reporting.entrypoints.dashboard import (
    PAGE_SIZE,
    Page,
    PageError,
    PageQ,
    SizeQ,
    Who,
    _lang_of,
    offset_of,
    pager,
)
from services.reporting.entrypoints.http import _pool
from services.reporting.entrypoints.session import CSRF_FIELD, LoginRequired, Sessions, bearer_token
from shared.contracts.compliance import NonconformityCode

router = APIRouter(prefix="/dashboard/actions", include_in_schema=False)

Csrf = Annotated[str, Form(alias=CSRF_FIELD, max_length=200)]
FormText = Annotated[str, Form(max_length=4000)]


def processing_url(request: Request) -> str:
    s = request.app.state.settings
    return s.reporting_processing_url or f"http://{s.http_host}:{s.processing_port}"


async def _call(request: Request, method: str, path: str, **kwargs: Any) -> httpx.Response:
    token = bearer_token(request)
    if token is None:
        raise LoginRequired("no_session")
    try:
        async with httpx.AsyncClient(base_url=processing_url(request), timeout=15) as client:
            return await client.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)
    except httpx.HTTPError as exc:
        raise PageError(503, "processing_unreachable") from exc


async def _names(request: Request) -> dict[str, str]:
    async with _pool(request).acquire() as conn:
        nodes = await dashboard_views.agency_nodes(conn)
    return {c: n.name for c, n in nodes.items()}


def _answer(r: httpx.Response) -> dict[str, Any]:
    """Processing's answer, or its refusal as a page with the same status and its own words."""
    if r.status_code == 401:
        raise LoginRequired("unknown_token")
    if r.status_code >= 400:
        try:
            detail = str(r.json().get("detail", ""))
        except ValueError:
            detail = r.text[:300]
        raise PageError(r.status_code if r.status_code < 500 else 502, "action_refused", detail=detail)
    body: dict[str, Any] = r.json()
    return body


async def _open_nonconformities(
    request: Request, agency: str | None, code: str | None, page_no: int, size: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of the open nonconformities (processing's register, the caller's subtree) and their total."""
    params = (
        {"status": "open", "limit": size, "offset": offset_of(page_no, size)}
        | ({"agency": agency} if agency else {})
        | ({"code": code} if code else {})
    )
    doc = _answer(await _call(request, "GET", "/api/v1/nonconformities", params=params))
    return list(doc["items"]), int(doc["total"])


async def overdue_count(request: Request) -> int | None:
    """Planned corrective actions past their due date, as the caller may see them; None when unknown
    (anonymous, or processing unreachable: the overview still shows, without this number)."""
    if bearer_token(request) is None:
        return None
    try:
        r = await _call(request, "GET", "/api/v1/corrective-actions", params={"overdue": "true", "limit": 1})
    except PageError:
        return None
    return int(r.json()["total"]) if r.status_code == 200 else None


@router.get("", response_class=HTMLResponse)
async def actions(
    request: Request,
    who: Who,
    lang: Annotated[str | None, Query(pattern="^(vi|en)$")] = None,
    state: Annotated[str | None, Query(pattern="^(planned|verified|closed)?$")] = None,
    overdue: Annotated[str | None, Query(pattern="^1?$")] = None,
    agency: Annotated[str | None, Query(max_length=40)] = None,
    code: Annotated[str | None, Query(max_length=40)] = None,
    page_no: PageQ = 1,
    nc_page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: SizeQ = PAGE_SIZE,
) -> HTMLResponse:
    """The corrective actions, and the open nonconformities from which to start one (each list paged)."""
    page = Page(request, who, None, "calendar", lang)
    params: dict[str, Any] = {"limit": size, "offset": offset_of(page_no, size)}
    if state:
        params["state"] = state
    if overdue == "1":
        params["overdue"] = "true"
    listed = _answer(await _call(request, "GET", "/api/v1/corrective-actions", params=params))
    keep = {"lang": page.lang, "state": state, "overdue": overdue, "agency": agency, "code": code}
    open_ncs, open_total = await _open_nonconformities(request, agency or None, code or None, nc_page, size)
    nc_pager = pager(nc_page, size, open_total, keep | {"page": page_no if page_no > 1 else None})
    nc_pager["param"] = "nc_page"
    names = await _names(request)
    return page.render(
        "actions.html",
        agency_name=lambda c: names.get(c, c),
        rule_codes=[c.value for c in NonconformityCode],
        actions=listed["items"],
        total=listed["total"],
        open_ncs=open_ncs,
        state_filter=state,
        overdue_only=overdue == "1",
        agency_filter=agency or "",
        code_filter=code or "",
        today=request.app.state.clock().date(),
        p=pager(page_no, size, listed["total"], keep | {"nc_page": nc_page if nc_page > 1 else None}),
        nc_p=nc_pager,
    )


def _refs(selected: list[str]) -> list[dict[str, str]]:
    out = []
    for s in selected:
        dossier, _, key = s.partition("|")
        if dossier and key:
            out.append({"dossier_code": dossier, "nc_key": key})
    if not out:
        raise PageError(422, "pick_nonconformities")
    return out


@router.post("")
async def create(
    request: Request,
    who: Who,
    csrf: Csrf = "",
    nc: Annotated[list[str], Form(max_length=1000)] = [],  # noqa: B006 — FastAPI copies defaults
    correction: FormText = "",
    root_cause: FormText = "",
    action: FormText = "",
    responsible: Annotated[str, Form(max_length=200)] = "",
    due_date: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    sessions: Sessions = request.app.state.sessions
    sessions.check_csrf(request, csrf)
    body = {
        "nonconformities": _refs(nc),
        "correction": correction,
        "root_cause": root_cause,
        "action": action,
        "responsible": responsible,
        "due_date": _day(due_date),
    }
    doc = _answer(await _call(request, "POST", "/api/v1/corrective-actions", json=body))
    return RedirectResponse(f"/dashboard/actions/{doc['id']}?lang={_lang_of(request)}", status_code=303)


def _day(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError as exc:
        raise PageError(422, "bad_parameter", field="due_date") from exc


@router.get("/{action_id}", response_class=HTMLResponse)
async def action_page(
    request: Request, action_id: int, who: Who, lang: Annotated[str | None, Query(pattern="^(vi|en)$")] = None
) -> HTMLResponse:
    page = Page(request, who, None, "calendar", lang)
    r = await _call(request, "GET", f"/api/v1/corrective-actions/{action_id}")
    if r.status_code == 404:
        raise PageError(404, "not_found_action", code=str(action_id))
    doc = _answer(r)
    candidates: list[dict[str, Any]] = []
    if doc["state"] != "closed":  # the agency's open findings that may join this action (up to 500)
        found, _ = await _open_nonconformities(request, doc["agency_code"], None, 1, 500)
        candidates = [c for c in found if c["agency_code"] == doc["agency_code"]]
    names = await _names(request)
    return page.render(
        "action.html",
        agency_name=lambda c: names.get(c, c),
        a=doc,
        candidates=candidates,
        today=request.app.state.clock().date(),
    )


@router.post("/{action_id}/nonconformities")
async def add(
    request: Request,
    action_id: int,
    who: Who,
    csrf: Csrf = "",
    nc: Annotated[list[str], Form(max_length=1000)] = [],  # noqa: B006
) -> Response:
    request.app.state.sessions.check_csrf(request, csrf)
    body = {"nonconformities": _refs(nc)}
    _answer(
        await _call(request, "POST", f"/api/v1/corrective-actions/{action_id}/nonconformities", json=body)
    )
    return RedirectResponse(f"/dashboard/actions/{action_id}?lang={_lang_of(request)}", status_code=303)


@router.post("/{action_id}/verification")
async def verify(
    request: Request,
    action_id: int,
    who: Who,
    csrf: Csrf = "",
    effective: Annotated[str, Form(pattern="^(yes|no)$")] = "yes",
    note: FormText = "",
    action: FormText = "",
    due_date: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    request.app.state.sessions.check_csrf(request, csrf)
    body: dict[str, Any] = {"effective": effective == "yes", "note": note}
    if effective == "no":
        body |= {"action": action or None, "due_date": _day(due_date) if due_date else None}
    _answer(await _call(request, "POST", f"/api/v1/corrective-actions/{action_id}/verification", json=body))
    return RedirectResponse(f"/dashboard/actions/{action_id}?lang={_lang_of(request)}", status_code=303)


@router.post("/{action_id}/close")
async def close(request: Request, action_id: int, who: Who, csrf: Csrf = "") -> Response:
    request.app.state.sessions.check_csrf(request, csrf)
    _answer(await _call(request, "POST", f"/api/v1/corrective-actions/{action_id}/close"))
    return RedirectResponse(f"/dashboard/actions/{action_id}?lang={_lang_of(request)}", status_code=303)
