"""At-risk warning (dự báo trễ hạn) on screen and in the API: ``/dashboard/at-risk`` and
``/api/v1/reports/at-risk``, both from :func:`services.reporting.at_risk.at_risk_report`.

Both are scoped like every report: an officer sees its agency subtree (the API answers 403 for an
``agency`` outside it). The page's words live here, beside its template (``at_risk.html``).
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from services.reporting.at_risk import at_risk_report
from services.reporting.entrypoints.access import Caller, caller
from services.reporting.entrypoints.dashboard import PAGE_SIZE, LangQ, Page, PageQ, Who, _visible
from services.reporting.entrypoints.http import AgencyQuery, _now, _pool, scoped
from shared.http import Offset

api = APIRouter(prefix="/api/v1")
pages = APIRouter(prefix="/dashboard", include_in_schema=False)

WORDS: dict[str, dict[str, str]] = {
    "vi": {
        "title": "Dự báo trễ hạn",
        "nav": "Dự báo trễ hạn",
        "intro": "Hồ sơ đang giải quyết, còn trong hạn, mà thời gian dự kiến giải quyết (ước tính từ thời "
        "gian thực tế của các hồ sơ cùng thủ tục, cùng bước đã giải quyết) vượt quá hạn giải quyết.",
        "total": "Số hồ sơ có nguy cơ trễ hạn",
        "by_agency": "Theo đơn vị",
        "agency": "Đơn vị",
        "count": "Số hồ sơ",
        "dossier": "Mã hồ sơ",
        "procedure": "Thủ tục",
        "due": "Hạn giải quyết",
        "estimate": "Dự kiến giải quyết",
        "since": "Cảnh báo từ",
        "none": "Không có hồ sơ nào có nguy cơ trễ hạn.",
        "page": "Trang",
        "previous": "Trang trước",
        "next": "Trang sau",
        "as_of": "Số liệu lúc",
    },
    "en": {
        "title": "At risk of delay",
        "nav": "At risk",
        "intro": "Open dossiers, still within their time limit, whose estimated resolution (from the "
        "durations observed for the same procedure and step) is later than their due date.",
        "total": "Dossiers at risk of delay",
        "by_agency": "By agency",
        "agency": "Agency",
        "count": "Dossiers",
        "dossier": "Dossier code",
        "procedure": "Procedure",
        "due": "Due date",
        "estimate": "Estimated resolution",
        "since": "Warned since",
        "none": "No dossier is at risk of delay.",
        "page": "Page",
        "previous": "Previous",
        "next": "Next",
        "as_of": "As of",
    },
}


@api.get("/reports/at-risk", tags=["reports"])
async def at_risk(
    request: Request,
    who: Annotated[Caller, Depends(caller)],
    agency: AgencyQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="page size")] = 100,
    offset: Offset = 0,
) -> JSONResponse:
    """Open dossiers at risk of delay (dự báo trễ hạn): still within their time limit, with an
    estimated resolution past it. Counts per agency and one page of dossiers, soonest due first."""
    async with _pool(request).acquire() as conn:
        agencies = await scoped(conn, who, agency)
        doc = await at_risk_report(
            conn, _now(request), request.app.state.tz, agencies, limit=limit, offset=offset
        )
    return JSONResponse(doc)


@pages.get("/at-risk", response_class=HTMLResponse)
async def at_risk_page(request: Request, who: Who, lang: LangQ = None, page_no: PageQ = 1) -> HTMLResponse:
    """The at-risk dossiers of the caller's subtree: the same figures as the API."""
    page = Page(request, who, None, "calendar", lang)
    async with _pool(request).acquire() as conn:
        doc = await at_risk_report(
            conn,
            request.app.state.clock(),
            page.tz,
            await _visible(conn, who),
            limit=PAGE_SIZE,
            offset=(page_no - 1) * PAGE_SIZE,
        )

    return page.render(
        "at_risk.html",
        w=WORDS[page.lang],
        doc=doc,
        day_of=lambda iso: page.when(iso)[:10] if iso else "–",  # dd/mm/yyyy in the deployment's zone
        moment_of=lambda iso: page.when(iso) if iso else "–",
        page_no=page_no,
        pages=max(1, math.ceil(doc["total"] / PAGE_SIZE)),
    )
