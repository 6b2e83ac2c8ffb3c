"""The dashboard in headless Chromium (Debian's, driven by playwright; no browser download).

The reporting service runs under uvicorn on a free port with its consumers on the real
broker and its tables in a real PostgreSQL, behind the Content-Security-Policy of the
security headers (``script-src 'self'``: no inline script may run). Charts must render with
data; the drill-down province → agency → procedure → dossier must work by clicking; the
English switch must translate; errors are pages; numbers change without a reload; the login
guards every page. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import asyncpg
import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response

from services.reporting.bootstrap import create_app
from services.reporting.entrypoints.session import Sessions
from services.reporting.handlers import ReportingContext, handle_assessments, handle_registry_changes
from services.reporting.settings import ReportingSettings
from shared.auth import hash_token
from shared.contracts.compliance import NonconformityCode, Outcome
from shared.db import create_pool
from shared.devstack import free_port
from shared.settings import Topics
from tests.conftest import Infra, create_database
from tests.integration.test_reporting_service import (
    COMMUNE_A,
    COMPLIANCE,
    DEPARTMENT,
    LATE_PROCEDURE,
    PROVINCE,
    REGISTRY_FIRST,
    TZ,
    assessment,
    change,
    nc,
    t,
)

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
#: the policy of the security headers (shared/http.py on main): only our own scripts run
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
NOW = datetime(2025, 4, 10, 12, tzinfo=TZ)
ADMIN = "tthc_dashboard-admin-token-0123456789abc"
OFFICER_A = "tthc_dashboard-officer-commune-a-012345"
SESSION_SECRET = "dashboard-test-session-secret"
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium is missing: run `make browser`"
)


#: the department's ISO process of 1.004845: the control slip names its steps (TN, XL) from it
ISO_PROCESS = change(
    "iso_process",
    f"{DEPARTMENT}|1.004845|1",
    1,
    {
        "agency_code": DEPARTMENT,
        "procedure_code": "1.004845",
        "version": 1,
        "effective_from": "2020-01-01",
        "steps": [
            {
                "code": "TN",
                "name": "Tiếp nhận hồ sơ",
                "responsible_unit": "BP.MC",
                "budget": {"value": "4", "unit": "working_hours"},
            },
            {
                "code": "XL",
                "name": "Thẩm định, xử lý hồ sơ",
                "responsible_unit": "TP-HT",
                "budget": {"value": "1", "unit": "working_days"},
            },
        ],
    },
)


def token_change(token: str, role: str, agency: str | None = None) -> bytes:
    data: dict[str, Any] = {"token_hash": hash_token(token), "subject": f"{role}@cantho.gov.vn", "role": role}
    if agency:
        data["agency_code"] = agency
    return change("api_token", hash_token(token), 1, data)


@dataclass
class Dashboard:
    url: str
    pool: asyncpg.Pool
    ctx: ReportingContext


async def _serve(database: str, infra: Infra, unique: str, **settings: Any) -> AsyncIterator[Dashboard]:
    pool = await create_pool(database)
    ctx = ReportingContext(pool, TZ)
    qms = [
        change(
            "qms",
            code,
            1,
            {
                "agency_code": code,
                "state": "announced",
                "transitions": [{"state": "announced", "on": "2020-01-01"}],
            },
        )
        for code in (PROVINCE, DEPARTMENT, COMMUNE_A)
    ]
    tokens = [token_change(ADMIN, "admin"), token_change(OFFICER_A, "officer", COMMUNE_A)]
    await handle_registry_changes(ctx, [*REGISTRY_FIRST, LATE_PROCEDURE, *qms, *tokens, ISO_PROCESS])
    await handle_assessments(ctx, COMPLIANCE)
    config = ReportingSettings(
        database_url=database,
        kafka_bootstrap_servers=infra.bootstrap_servers,
        topics=Topics(
            compliance=f"test.dash.c.{unique}",
            registry=f"test.dash.r.{unique}",
            dossier_events=f"test.dash.e.{unique}",  # reporting's Decision 766 consumer: not the shared default
        ),
        reporting_group_id=f"dash-{unique}",
        reporting_registry_group_id=f"dash-r-{unique}",
        reporting_events_group_id=f"dash-e-{unique}",
        kafka_session_timeout_ms=3000,
        kafka_heartbeat_interval_ms=1000,
        dashboard_live_interval_s=0.5,
        reporting_processing_url=f"http://127.0.0.1:{free_port()}",  # no processing: its numbers show "–"
        # anonymous unless a test asks; no registry (password logins) unless a test brings one
        **(
            {"reporting_require_token": False, "reporting_registry_url": f"http://127.0.0.1:{free_port()}"}
            | settings
        ),
    )
    port = free_port()
    app = create_app(config, clock=lambda: NOW)
    with_csp(app)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    for _ in range(300):
        if server.started:
            break
        await asyncio.sleep(0.05)
    assert server.started, "the reporting app did not start"
    try:
        yield Dashboard(f"http://127.0.0.1:{port}", pool, ctx)
    finally:
        server.should_exit = True
        await task
        await pool.close()


def with_csp(app: FastAPI) -> None:
    @app.middleware("http")
    async def csp(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        return response


# One server and one browser per module (a server start joins two consumer groups; a browser
# context keeps plotly.js in its cache): the tests below only read, except the live test,
# which adds dossiers to February, a period no other test looks at.
@pytest.fixture(scope="module")
async def dashboard(infra: Infra) -> AsyncIterator[Dashboard]:
    async for d in _serve(await create_database(infra), infra, uuid.uuid4().hex[:8]):
        yield d


@pytest.fixture(scope="module")
async def guarded(infra: Infra) -> AsyncIterator[Dashboard]:
    """The dashboard with ``TTHC_REPORTING_REQUIRE_TOKEN=true`` and a 1-minute session."""
    async for d in _serve(
        await create_database(infra),
        infra,
        uuid.uuid4().hex[:8],
        reporting_require_token=True,
        dashboard_session_minutes=1,
        dashboard_session_secret=SESSION_SECRET,
    ):
        yield d


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture(scope="module")
async def shared_context(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    yield context
    await context.close()


@pytest.fixture
async def page(shared_context: Any) -> AsyncIterator[Any]:
    """A fresh tab without cookies (no language choice, no session), sharing the HTTP cache."""
    await shared_context.clear_cookies()
    tab = await shared_context.new_page()
    yield tab
    await tab.close()


def watch(page: Any, base: str) -> list[str]:
    """Collect what would break the page: requests elsewhere, CSP refusals, script errors."""
    problems: list[str] = []
    page.on("request", lambda r: problems.append(f"external {r.url}") if not r.url.startswith(base) else None)
    page.on("console", lambda m: problems.append(f"console {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"script {e}"))
    return problems


async def whole_ticks(page: Any, selector: str) -> None:
    ticks = await page.locator(selector).evaluate_all("els => els.map(e => e.textContent)")
    assert len(ticks) >= 2 and all(re.fullmatch(r"\d{1,3}(\.\d{3})*", x) for x in ticks), (selector, ticks)


@needs_chromium
async def test_overview_charts_and_drill_down_to_the_control_slip(dashboard: Dashboard, page: Any) -> None:
    base = dashboard.url
    problems = watch(page, base)
    await page.goto(f"{base}/dashboard?period=2025-03")
    assert await page.title() == "Giám sát giải quyết TTHC — Tổng quan toàn tỉnh"
    for chart in ("chart-trend", "chart-late", "chart-ncs", "chart-qms"):
        await page.wait_for_selector(f"#{chart}[data-rendered='1'] .main-svg", timeout=15_000)
    # the charts carry data: bars for late / overdue agencies and nonconformity kinds
    assert await page.locator("#chart-late .point").count() >= 2
    assert await page.locator("#chart-ncs .point").count() >= 2
    assert await page.locator("#chart-trend .scatterlayer .point").count() >= 1
    # agency names on the late chart's category axis, not codes or numbers
    ticks = await page.locator("#chart-late .ytick text").evaluate_all("els => els.map(e => e.textContent)")
    assert set(ticks) == {"UBND phường An Hòa", "UBND xã Mỹ Khánh"}
    # count axes have whole-number ticks only (a chart of 1 to 3 dossiers showed 0,5 before)
    for axis in ("#chart-late .xtick text", "#chart-ncs .xtick text", "#chart-qms .ytick text"):
        await whole_ticks(page, axis)
    assert await page.inner_text("#kpi-received") == "6"  # new in March: D1 D2 D8, D3 D4, D6
    assert await page.inner_text("#kpi-pending_overdue") == "1"  # D4
    # the tree: the province row sums its own dossiers and the three agencies below it
    assert await page.inner_text(f"[data-k='row.{PROVINCE}.received_total']") == "7"
    assert await page.inner_text(f"[data-k='row.{PROVINCE}.resolved_late']") == "2"
    await page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"), full_page=True)

    await page.click(f"a.agency-link[href^='/dashboard/agency/{DEPARTMENT}']")
    await page.wait_for_selector("#chart-procedures[data-rendered='1'] .main-svg")
    assert "Sở Tư pháp" in await page.inner_text("h2")
    # early and on time apart (D1, D8 early; D2 on time), as in Biểu 06
    row = "proc.1.004845"
    assert await page.inner_text(f"#procedures [data-k='{row}.resolved_early']") == "2"
    assert await page.inner_text(f"#procedures [data-k='{row}.resolved_on_time']") == "1"
    assert await page.inner_text(f"#procedures [data-k='{row}.on_time_rate']") == "100,0 %"
    await whole_ticks(page, "#chart-procedures .xtick text")
    await page.screenshot(path=str(ARTIFACTS / "dashboard-agency.png"), full_page=True)

    await page.click("a.procedure-link")
    await page.wait_for_selector("#dossiers")
    assert await page.locator("a.dossier-link").count() == 3
    await page.screenshot(path=str(ARTIFACTS / "dashboard-dossiers.png"), full_page=True)

    await page.click(f"a.dossier-link:text('{DEPARTMENT}-2')")
    await page.wait_for_selector("#control-slip")
    slip = await page.inner_text("#control-slip")
    assert "Phòng Hộ tịch" in slip and "Quá hạn" in slip  # step XL overran its budget
    # step names from the ISO process on the registry feed, the code only as the cell's title
    steps = page.locator("#control-slip tbody tr td:nth-child(2)")
    assert await steps.all_inner_texts() == ["Tiếp nhận hồ sơ", "Thẩm định, xử lý hồ sơ"]
    assert await steps.first.get_attribute("title") == "TN"
    assert "1 ngày làm việc" in slip and "4 giờ làm việc" in slip
    assert "Trực tiếp" in await page.inner_text("#summary")  # channel 1, in words
    await page.screenshot(path=str(ARTIFACTS / "dashboard-control-slip.png"), full_page=True)

    await page.click("#lang-switch")
    await page.wait_for_selector("text=Control slip")
    assert "1 working day" in await page.inner_text("#control-slip")
    await page.goto(f"{base}/dashboard?period=2025-03")  # the choice is remembered
    assert await page.title() == "TTHC dossier monitoring — Province overview"
    await page.wait_for_selector("#chart-trend[data-rendered='1'] .main-svg")
    await page.screenshot(path=str(ARTIFACTS / "dashboard-overview-en.png"), full_page=True)
    assert problems == []  # offline, and nothing refused by the CSP


@needs_chromium
async def test_tables_sort_and_filter_and_the_search_finds_a_dossier(dashboard: Dashboard, page: Any) -> None:
    problems = watch(page, dashboard.url)
    await page.goto(f"{dashboard.url}/dashboard?period=2025-03")
    names = page.locator("#agency-tree tbody tr td.name a")
    assert await names.count() == 4
    # sort by "received" descending: the province (7, its whole tree) first, then 3, 2, 2
    head = page.locator("#agency-tree thead tr:last-child th").first
    await head.click()
    await head.click()
    col = page.locator("#agency-tree tbody tr td[data-col='received_total']")
    assert await col.all_inner_texts() == ["7", "3", "2", "2"]
    # the filters are the server's (the tree is paged): a checkbox applies at once, the period stays
    await page.check("#tree-filters input[name=overdue]")  # only the branches with overdue dossiers
    await page.wait_for_url(re.compile(r".*overdue=1.*"))
    assert await names.all_inner_texts() == ["UBND thành phố Cần Thơ", "UBND phường An Hòa"]
    assert "period=2025-03" in page.url
    await page.uncheck("#tree-filters input[name=overdue]")
    await page.wait_for_url(re.compile(r"^(?!.*overdue=1).*$"))
    await page.fill("#tree-filters input[name=find]", "tư pháp")
    await page.press("#tree-filters input[name=find]", "Enter")
    await page.wait_for_url(re.compile(r".*find=.*"))
    assert await names.all_inner_texts() == ["Sở Tư pháp"]
    # two rows a page: "Trang 1/2", and the next page's link keeps the period and the size
    await page.goto(f"{dashboard.url}/dashboard?period=2025-03&size=2")
    assert await page.inner_text("#tree-pager .page-of") == "Trang 1/2"
    assert await names.all_inner_texts() == ["UBND thành phố Cần Thơ", "Sở Tư pháp"]
    await page.click("#tree-pager a[rel=next]")
    await page.wait_for_url(re.compile(r".*page=2.*"))
    assert await page.inner_text("#tree-pager .page-of") == "Trang 2/2"
    assert await names.all_inner_texts() == ["UBND phường An Hòa", "UBND xã Mỹ Khánh"]
    assert "period=2025-03" in page.url and "size=2" in page.url
    assert await page.inner_text(f"[data-k='row.{COMMUNE_A}.received_total']") == "2"  # its subtree's sum

    # the header's search box, from any page
    await page.fill("header input[name=code]", f"{COMMUNE_A}-4")
    await page.press("header input[name=code]", "Enter")
    await page.wait_for_selector("#summary")
    assert page.url.endswith(f"/dashboard/dossier/{COMMUNE_A}-4") or f"/dossier/{COMMUNE_A}-4" in page.url
    assert "Đang giải quyết, quá hạn" in await page.inner_text("#summary")
    assert problems == []


VISIBLE_CODE = re.compile(
    r"\b(" + "|".join(c.value for c in NonconformityCode) + r")\b"
    r"|\b("
    + "|".join(o.value for o in Outcome)
    + r"|open|closed|corrective_action|working_days|working_hours)\b"
    r"|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}"
)


@needs_chromium
async def test_vietnamese_pages_show_words_not_codes(dashboard: Dashboard, page: Any) -> None:
    """No rule code, enum value or ISO timestamp as visible text on any ``lang=vi`` page."""
    base = f"{dashboard.url}/dashboard"
    q = "period=2025-03&lang=vi"
    pages = [
        f"{base}?{q}",
        f"{base}/agency/{PROVINCE}?{q}",
        f"{base}/agency/{DEPARTMENT}?{q}",
        f"{base}/agency/{COMMUNE_A}?{q}",
        f"{base}/agency/{COMMUNE_A}/procedure/1.001612?{q}",
        f"{base}/agency/{DEPARTMENT}/procedure/1.004845?{q}",
        f"{base}/dossier/{DEPARTMENT}-2?{q}",
        f"{base}/dossier/{COMMUNE_A}-3?{q}",
        f"{base}/dossier/{COMMUNE_A}-4?{q}",
        f"{base}/register?{q}",
        f"{base}/register?{q}&open=1",
        f"{base}/index766?{q}",
        f"{base}/agency/NOPE?{q}",
        f"{base}?period=abc&lang=vi",
    ]
    seen = []
    for url in pages:
        await page.goto(url)
        text = await page.inner_text("body")
        found = VISIBLE_CODE.findall(text)
        assert not found, f"{url} shows codes: {found}"
        seen.append(text)
    register = seen[9]
    assert "Trả kết quả quá hạn" in register and "Đang khắc phục" in register  # LATE, corrective_action
    assert "Đang giải quyết quá hạn" in seen[8]  # OVERDUE on D4's page, with its explanation
    assert "Trực tuyến" in seen[4] and "Được tiếp nhận" in seen[4]  # channel 2, status 2
    assert "60,0 %" in seen[0]  # 3 of 5 resolved on time (D1 D2 D8 of D1 D2 D8 D3 D5), with a comma


async def test_errors_are_pages_with_the_right_status(dashboard: Dashboard) -> None:
    base = dashboard.url
    cases = [
        ("/dashboard?period=abc", 422, "Kỳ báo cáo “abc” không hợp lệ"),
        ("/dashboard?calendar=lunar", 422, "Tham số “calendar” không hợp lệ"),
        ("/dashboard?lang=fr", 422, "Tham số “lang” không hợp lệ"),
        (f"/dashboard/agency/{DEPARTMENT}/procedure/1.004845?page=0", 422, "Tham số “page”"),
        ("/dashboard/register?code=NOT_A_RULE", 422, "Tham số “code”"),
        ("/dashboard?size=0", 422, "Tham số “size”"),
        (f"/dashboard/register?page={(2**63 - 1) // 50}&size=500", 422, "Tham số “page”"),  # past bigint
        ("/dashboard/agency/NOPE", 404, "Không có cơ quan mã NOPE"),
        (f"/dashboard/agency/{DEPARTMENT}/procedure/9.999999", 404, "không có thủ tục mã 9.999999"),
        ("/dashboard/dossier/NOPE-1", 404, "Không có hồ sơ mã NOPE-1"),
        ("/dashboard/search?code=NOPE-1", 404, "Không có hồ sơ mã NOPE-1"),
        ("/dashboard/nothing-here", 404, "Trang này không tồn tại"),
        ("/dashboard/logout", 405, "Trang này không tồn tại"),  # a form's address, opened as a page
        ("/dashboard/agency/NOPE?lang=en", 404, "There is no agency NOPE"),
        ("/dashboard/index766?period=abc", 422, "Kỳ báo cáo “abc” không hợp lệ"),
        ("/dashboard/index766?calendar=lunar", 422, "Tham số “calendar” không hợp lệ"),
    ]
    async with httpx.AsyncClient(base_url=base) as client:
        for path, status, text in cases:
            r = await client.get(path)
            assert r.status_code == status, (path, r.status_code, r.text[:300])
            assert r.headers["content-type"].startswith("text/html"), path
            assert text in r.text, (path, r.text[:2000])
            assert "<!doctype html>" in r.text
        # the API keeps its problem+json answers
        api = await client.get("/api/v1/reports/form06", params={"period": "abc"})
        assert api.status_code == 422 and api.headers["content-type"] == "application/problem+json"


def next_link(page_html: str) -> dict[str, list[str]]:
    found = re.search(r'<a href="\?([^"]+)" rel="next"', page_html)
    assert found is not None, "no link to the next page"
    return parse_qs(html.unescape(found.group(1)))


async def test_long_lists_are_paged_and_the_pages_keep_their_filters(dashboard: Dashboard) -> None:
    async with httpx.AsyncClient(base_url=dashboard.url) as c:
        # the register, open findings only, one a page
        first = await c.get("/dashboard/register", params={"period": "2025-03", "open": "1", "size": 1})
        total = int(re.search(r'id="register-total"[^>]*>(\d+)<', first.text).group(1))  # type: ignore[union-attr]
        assert total >= 2 and f"Trang 1/{total}" in first.text
        link = next_link(first.text)
        assert link == {
            "period": ["2025-03"],
            "calendar": ["calendar"],
            "lang": ["vi"],
            "open": ["1"],
            "size": ["1"],
            "page": ["2"],
        }
        assert '<input type="hidden" name="size" value="1">' in first.text  # the filter form keeps it too
        second = await c.get("/dashboard/register", params={k: v[0] for k, v in link.items()})
        assert f"Trang 2/{total}" in second.text
        dossier = re.compile(r'<a href="/dashboard/dossier/([^?"]+)')
        assert dossier.findall(first.text) != dossier.findall(second.text)
        # an agency's own procedures, one a page; the tree's filter stays when paging them. December
        # 2024, a month no other test reads: the department resolves dossiers of two procedures
        december = [
            assessment(
                f"{DEPARTMENT}-dec-{pc}",
                DEPARTMENT,
                pc,
                1,
                "early",
                accepted="2024-12-02T09:00:00+07:00",
                due="2024-12-06T09:00:00+07:00",
                resolved="2024-12-03T09:00:00+07:00",
                status=9,
            )
            for pc in ("1.004845", "1.001612")
        ]
        await handle_assessments(dashboard.ctx, december)
        first = await c.get(
            f"/dashboard/agency/{DEPARTMENT}", params={"period": "2024-12", "size": 1, "find": "tư"}
        )
        procs = re.search(r'id="procedures-pager"><span class="page-of">Trang 1/(\d+)<', first.text)
        assert procs is not None and int(procs.group(1)) >= 2, first.text[-3000:]
        link = parse_qs(
            html.unescape(
                re.search(r'id="procedures-pager">.*?<a href="\?([^"]+)" rel="next"', first.text, re.S).group(
                    1
                )
            )
        )  # type: ignore[union-attr]
        assert link["proc_page"] == ["2"] and link["size"] == ["1"] and link["find"] == ["tư"], link
        second = await c.get(f"/dashboard/agency/{DEPARTMENT}", params={k: v[0] for k, v in link.items()})
        shown = re.compile(r'<tr data-code="(\d\.\d+)">')
        assert shown.findall(first.text) != shown.findall(second.text)
        assert len(shown.findall(second.text)) == 1
        # the dossiers of a procedure: 3 in March, 2 a page
        path = f"/dashboard/agency/{DEPARTMENT}/procedure/1.004845"
        first = await c.get(path, params={"period": "2025-03", "size": 2})
        assert "Trang 1/2" in first.text and first.text.count('class="dossier-link"') == 2
        second = await c.get(path, params={k: v[0] for k, v in next_link(first.text).items()})
        assert "Trang 2/2" in second.text and second.text.count('class="dossier-link"') == 1
        assert 'rel="next"' not in second.text


async def test_an_officer_gets_404_outside_its_subtree_exactly_like_a_missing_code(
    dashboard: Dashboard,
) -> None:
    async with httpx.AsyncClient(
        base_url=dashboard.url, headers={"Authorization": f"Bearer {OFFICER_A}"}
    ) as c:
        mine = await c.get(f"/dashboard/agency/{COMMUNE_A}", params={"period": "2025-03"})
        assert mine.status_code == 200 and "UBND phường An Hòa" in mine.text
        for (path, asked), (missing, unknown) in (
            (
                (f"/dashboard/agency/{DEPARTMENT}", DEPARTMENT),
                ("/dashboard/agency/000.99.99.H13", "000.99.99.H13"),
            ),
            (
                (f"/dashboard/dossier/{DEPARTMENT}-2", f"{DEPARTMENT}-2"),
                (f"/dashboard/dossier/{COMMUNE_A}-999", f"{COMMUNE_A}-999"),
            ),
            (
                (f"/dashboard/search?code={DEPARTMENT}-2", f"{DEPARTMENT}-2"),
                (f"/dashboard/search?code={COMMUNE_A}-999", f"{COMMUNE_A}-999"),
            ),
            (
                (f"/dashboard/agency/{DEPARTMENT}/procedure/1.004845", DEPARTMENT),
                ("/dashboard/agency/000.99.99.H13/procedure/1.004845", "000.99.99.H13"),
            ),
        ):
            other, absent = await c.get(path), await c.get(missing)
            assert other.status_code == absent.status_code == 404, path
            # the same page, word for word, but for the code that was asked for
            assert other.text.replace(asked, "{code}") == absent.text.replace(unknown, "{code}"), path
        overview = await c.get("/dashboard", params={"period": "2025-03"})
        assert "Sở Tư pháp" not in overview.text and "UBND phường An Hòa" in overview.text
        live = (await c.get("/dashboard/live", params={"period": "2025-03"})).json()["values"]
        assert live["kpi.received"] == "2"  # D3, D4: the commune's own dossiers only
        assert not any(DEPARTMENT in k for k in live)


@needs_chromium
async def test_numbers_change_on_an_open_page_without_reload(dashboard: Dashboard, page: Any) -> None:
    """Time from an assessment stored in reporting to the number changing on the open page.

    February: the only period this module changes (D5, accepted on 25/02, is its one dossier).
    """
    problems = watch(page, dashboard.url)
    await page.goto(f"{dashboard.url}/dashboard?period=2025-02")
    await page.wait_for_selector("body[data-live-version]")  # the live refresh is running
    assert await page.inner_text("#kpi-received") == "1"
    assert "cập nhật lúc 12:00:00 10/04/2025" in await page.inner_text("form.period")
    version = int(await page.get_attribute("body", "data-live-version") or 0)
    delays = []
    for n in range(3):
        await handle_assessments(
            dashboard.ctx,
            [
                assessment(
                    f"{DEPARTMENT}-live-{n}",
                    DEPARTMENT,
                    "1.004845",
                    1,
                    "early",
                    accepted=t(3, month=2),
                    due=t(6, month=2),
                    resolved=t(4, month=2),
                    status=9,
                )
            ],
        )
        stored = time.monotonic()
        # poll from outside the page: the CSP forbids the string evaluation wait_for_function uses
        while await page.inner_text("#kpi-received") != str(2 + n):
            assert time.monotonic() - stored < 10, "the number did not change within 10 s"
            await asyncio.sleep(0.02)
        delays.append(time.monotonic() - stored)
    # the department's tree row moved too, and the page was never reloaded (its counter kept growing)
    assert await page.inner_text(f"[data-k='row.{DEPARTMENT}.resolved_early']") == "3"
    assert int(await page.get_attribute("body", "data-live-version") or 0) > version
    print(f"live delay (stored → shown), s: {[round(d, 2) for d in delays]}")
    (ARTIFACTS / "live-delay.json").write_text(json.dumps({"delays_s": delays}))
    # the target is < 2 s; the worst of three may be slower on a loaded CI machine
    assert sorted(delays)[1] < 2.0 and max(delays) < 5.0, delays
    assert problems == []


@needs_chromium
async def test_rows_new_since_the_page_was_drawn_are_announced_live(dashboard: Dashboard, page: Any) -> None:
    """A dossier and its finding arrive while the dossier list and the register are open: each says
    "Có 1 … mới — tải lại" without a reload, and the link shows the new row. January: only this
    test adds dossiers to it."""
    base = dashboard.url
    problems = watch(page, base)
    await page.goto(f"{base}/dashboard/agency/{DEPARTMENT}/procedure/1.004845?period=2025-01")
    register = await page.context.new_page()
    await register.goto(f"{base}/dashboard/register?period=2025-01")
    for tab in (page, register):
        await tab.wait_for_selector("body[data-live-version]")
    assert await page.locator("a.dossier-link").count() == 0
    assert await page.is_hidden("#new-dossiers") and await register.is_hidden("#new-register")
    before = int(await register.inner_text("#register-total"))
    await handle_assessments(
        dashboard.ctx,
        [
            assessment(
                f"{DEPARTMENT}-jan-1",
                DEPARTMENT,
                "1.004845",
                1,
                "late",
                accepted=t(6, month=1),
                due=t(8, month=1),
                resolved=t(9, month=1),
                status=9,
                ncs=(nc("LATE", t(9, month=1)),),
            )
        ],
    )
    stored = time.monotonic()
    delays = {}
    for name, tab, banner in ((("dossiers", page, "#new-dossiers")), ("register", register, "#new-register")):
        while await tab.is_hidden(banner):
            assert time.monotonic() - stored < 10, f"no banner on the {name} page within 10 s"
            await asyncio.sleep(0.02)
        delays[name] = time.monotonic() - stored
    assert await page.inner_text("#new-dossiers .msg") == "Có 1 hồ sơ mới"
    assert await register.inner_text("#new-register .msg") == "Có 1 sự không phù hợp mới"
    assert await register.inner_text("#register-total") == str(before + 1)  # the count moved too
    await page.screenshot(path=str(ARTIFACTS / "dashboard-new-rows.png"), full_page=True)
    await page.click("#new-dossiers a.reload")
    await page.wait_for_selector("a.dossier-link")
    assert await page.locator("a.dossier-link").all_inner_texts() == [f"{DEPARTMENT}-jan-1"]
    assert "period=2025-01" in page.url
    await page.wait_for_selector("body[data-live-version]")
    assert await page.is_hidden("#new-dossiers")  # drawn with the row: nothing new any more
    await register.close()
    print(f"new-row banner delay (stored → shown), s: { {k: round(v, 2) for k, v in delays.items()} }")
    assert max(delays.values()) < 5.0, delays
    assert problems == []


@needs_chromium
async def test_the_whole_dashboard_works_through_the_login(guarded: Dashboard, browser: Any) -> None:
    base = guarded.url
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    page = await context.new_page()
    problems = watch(page, base)
    await page.goto(f"{base}/dashboard/agency/{COMMUNE_A}?period=2025-03")
    assert "/dashboard/login" in page.url  # sent to the login page, and back after it
    await page.click("#login-form summary")  # the token is the second way in, after name and password
    await page.fill("#token", "tthc_wrong-token-0123456789abcdefghij")
    await page.click("#login-submit")
    assert "Mã truy cập không đúng" in await page.inner_text("#login-notice")
    await page.fill("#token", OFFICER_A)
    await page.click("#login-submit")
    await page.wait_for_selector("#agency-name")
    assert page.url.endswith(f"/dashboard/agency/{COMMUNE_A}?period=2025-03")
    cookie = next(c for c in await context.cookies() if c["name"] == "tthc_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert OFFICER_A not in cookie["value"]  # the token is encoded and signed, never shown as-is
    assert await page.inner_text("#user") == "officer@cantho.gov.vn"
    await page.goto(f"{base}/dashboard/agency/{DEPARTMENT}?period=2025-03")
    assert (
        await page.inner_text("#error-message")
        == "Không có cơ quan mã 000.00.13.H13 trong phạm vi bạn được xem."
    )
    await page.goto(f"{base}/dashboard?period=2025-03")
    await page.wait_for_selector("body[data-live-version]")  # the live refresh works in the session
    assert await page.inner_text("#kpi-received") == "2"
    await page.screenshot(path=str(ARTIFACTS / "dashboard-officer.png"), full_page=True)
    await page.click("#logout")
    await page.wait_for_selector("#login-form")
    assert not [c for c in await context.cookies() if c["name"] == "tthc_session"]
    await page.goto(f"{base}/dashboard")
    assert "/dashboard/login" in page.url
    # the refused login (401) and the other agency (404) are pages with their status; nothing else failed
    assert [p for p in problems if "Failed to load resource" not in p] == [], problems


async def test_login_refuses_forged_expired_and_cross_site_requests(guarded: Dashboard) -> None:
    async with httpx.AsyncClient(base_url=guarded.url) as c:
        r = await c.get("/dashboard")
        assert r.status_code == 303 and r.headers["location"].startswith("/dashboard/login?")
        assert (await c.get("/dashboard/live")).status_code == 401
        form = await c.get("/dashboard/login")
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form.text)
        assert csrf is not None
        # without the CSRF field, or with another browser's: 403, no session
        for bad in ("", "0" * 64):
            r = await c.post("/dashboard/login", data={"token": ADMIN, "csrf": bad})
            assert r.status_code == 403 and "tthc_session" not in r.headers.get("set-cookie", "")
        # the registry (which checks passwords) away: a page that says so; nothing typed: 422
        r = await c.post(
            "/dashboard/login", data={"name": "ai.do", "password": "x" * 12, "csrf": csrf.group(1)}
        )
        assert r.status_code == 503 and "Không kết nối được dịch vụ danh mục" in r.text
        r = await c.post("/dashboard/login", data={"csrf": csrf.group(1)})
        assert r.status_code == 422 and "Hãy nhập tên đăng nhập và mật khẩu, hoặc mã truy cập" in r.text
        r = await c.post(
            "/dashboard/login", data={"token": ADMIN, "csrf": csrf.group(1), "next": "https://evil.example/"}
        )
        assert r.status_code == 303 and r.headers["location"] == "/dashboard"  # no open redirect
        assert (await c.get("/dashboard", params={"period": "2025-03"})).status_code == 200
        session = c.cookies["tthc_session"]
        # a session whose moment was changed is forged; logout without the CSRF field is refused
        encoded, issued, mac = session.split(".")
        c.cookies.set("tthc_session", f"{encoded}.{int(issued) + 3600}.{mac}")
        assert (await c.get("/dashboard")).status_code == 303
        c.cookies.set("tthc_session", session)
        assert (await c.post("/dashboard/logout", data={})).status_code == 403
        assert (await c.get("/dashboard", params={"period": "2025-03"})).status_code == 200
    # a genuine session older than its lifetime (1 minute here) sends the browser back to the login
    signer = Sessions.from_settings(SESSION_SECRET, 1, False)
    fresh = signer.issue(ADMIN, NOW - timedelta(seconds=50))
    old = signer.issue(ADMIN, NOW - timedelta(seconds=70))
    async with httpx.AsyncClient(base_url=guarded.url) as later:
        later.cookies.set("tthc_session", fresh)
        assert (await later.get("/dashboard", params={"period": "2025-03"})).status_code == 200
        later.cookies.set("tthc_session", old)
        r = await later.get("/dashboard")
        assert r.status_code == 303 and "reason=expired" in r.headers["location"]


@needs_chromium
async def test_pages_are_usable_on_a_390_px_phone(dashboard: Dashboard, browser: Any) -> None:
    page = await browser.new_page(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    )
    for name, path in (
        ("overview", "/dashboard?period=2025-03"),
        ("agency", f"/dashboard/agency/{COMMUNE_A}?period=2025-03"),
        ("control-slip", f"/dashboard/dossier/{DEPARTMENT}-2?period=2025-03"),
        ("dossiers", f"/dashboard/agency/{DEPARTMENT}/procedure/1.004845?period=2025-03"),
        ("register", "/dashboard/register?period=2025-03"),
        ("index766", "/dashboard/index766?period=2025-03"),
        ("login", "/dashboard/login"),
        ("error", "/dashboard/agency/NOPE"),
    ):
        await page.goto(f"{dashboard.url}{path}")
        if name in ("overview", "agency"):
            await page.wait_for_selector(".chart[data-rendered='1'] .main-svg")
        # nothing wider than the screen but the tables, which scroll in their own box
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{name} is {width} px wide"
        await page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}-phone.png"), full_page=True)


def points_text(value: float, lang: str = "vi") -> str:
    """Points as the page must show them: two decimals, half up; a decimal comma in Vietnamese."""
    text = str(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    return text.replace(".", ",") if lang == "vi" else text


def expected_766(doc: dict[str, Any], missing: str, lang: str = "vi") -> dict[str, str]:
    """key → text of every number of the 766 page, from the JSON report (a group none of whose
    indicators has a denominator is ``missing``)."""

    def item(prefix: str, x: dict[str, Any]) -> dict[str, str]:
        out = {f"{prefix}.total_points": points_text(x["total_points"], lang)}
        for g in x["groups"]:
            measured = any(i["measured"] for i in g["indicators"])
            out[f"{prefix}.g.{g['code']}"] = points_text(g["points"], lang) if measured else missing
        return out

    want = item("i766.total", doc["totals"])
    for lv in doc["levels"]:
        want |= item(f"i766.level.{lv['level']}", lv) | {
            f"i766.level.{lv['level']}.agencies": str(lv["agencies"])
        }
    for r in doc["rows"]:
        code = r["agency_code"]
        want |= item(f"i766.row.{code}", r)
        want |= {
            f"i766.row.{code}.rank": str(r["rank"]),
            f"i766.row.{code}.ranked_among": str(r["ranked_among"]),
        }
    return want


RAW_766 = re.compile(
    r"\b(cong_khai|tien_do|truc_tuyen|hai_long|so_hoa|province|department|district|commune"
    r"|public_service_unit|total_points|measured|None)\b"
)


@needs_chromium
async def test_the_766_score_page_shows_the_json_report(dashboard: Dashboard, page: Any) -> None:
    """Reached from the overview's navigation; every number is the API's; groups with no figures
    say so; sortable; exports; English; an officer sees its subtree only."""
    base = dashboard.url
    problems = watch(page, base)
    await page.goto(f"{base}/dashboard?period=2025-03")
    await page.click("#index766-link")
    await page.wait_for_selector("#index766-agencies")
    assert await page.inner_text("h2") == "Điểm Bộ chỉ số QĐ 766"
    async with httpx.AsyncClient(base_url=base) as c:
        doc = (await c.get("/api/v1/reports/index766", params={"period": "2025-03"})).json()
        shown = dict(
            await page.locator("[data-k]").evaluate_all("els => els.map(e => [e.dataset.k, e.textContent])")
        )
        assert shown == expected_766(doc, "chưa có số liệu")
        # the page's live twin sends the same figures (the refresh of an open page)
        await page.wait_for_selector("body[data-live-version]")
        live = (await c.get("/dashboard/live/index766", params={"period": "2025-03"})).json()["values"]
        assert live == shown
        # the three agencies with dossiers of their own in March (3 + 2 + 2; the province has none)
        assert len(doc["rows"]) == 3
        # no disclosure figures imported, no 766 events: those groups are "no data", not a silent 0
        assert shown["i766.total.g.cong_khai"] == "chưa có số liệu"
        assert shown["i766.total.g.tien_do"] != "chưa có số liệu"
        text = await page.inner_text("body")
        assert not RAW_766.findall(text), RAW_766.findall(text)
        assert "Sở, ban, ngành" in text and "Công khai, minh bạch" in text  # level and group names

        # sort by total points, descending (second click): the agencies' totals in falling order
        head = page.locator("#index766-agencies thead th", has_text="Tổng điểm")
        await head.click()
        await head.click()
        totals = await page.locator("#index766-agencies tbody td.total").all_inner_texts()
        values = [Decimal(x.replace(",", ".")) for x in totals]
        assert values == sorted(values, reverse=True) and len(values) == 3
        # by rank: the rank's number, not the text "1/2" (ranks 1, 1, 2: the department, the communes)
        head = page.locator("#index766-agencies thead th", has_text="Xếp hạng")
        await head.click()
        ranks = await page.locator("#index766-agencies tbody td[data-v]").evaluate_all(
            "els => els.map(e => e.textContent.split('/')[0])"
        )
        assert ranks == sorted(ranks, key=int), ranks
        await head.click()
        ranks = await page.locator("#index766-agencies tbody td[data-v]").evaluate_all(
            "els => els.map(e => e.textContent.split('/')[0])"
        )
        assert ranks == sorted(ranks, key=int, reverse=True), ranks
        await page.screenshot(path=str(ARTIFACTS / "dashboard-index766-fixture.png"), full_page=True)

        # the exports are the same report's XLSX and PDF
        for link, media in (
            ("#index766-xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            ("#index766-pdf", "application/pdf"),
        ):
            href = await page.get_attribute(link, "href")
            assert href is not None and "period=2025-03" in href
            r = await c.get(href)
            assert r.status_code == 200 and r.headers["content-type"].startswith(media), (link, r.status_code)

        # English: translated words, English decimals
        await page.goto(f"{base}/dashboard/index766?period=2025-03&lang=en")
        assert await page.inner_text("h2") == "Decision 766 index score"
        shown = dict(
            await page.locator("[data-k]").evaluate_all("els => els.map(e => [e.dataset.k, e.textContent])")
        )
        assert shown == expected_766(doc, "no data yet", "en")
        assert "Disclosure and transparency" in await page.inner_text("#index766-scope")

        # an officer: its own subtree, numbers as its own API answer
        officer = {"Authorization": f"Bearer {OFFICER_A}"}
        mine = await c.get("/dashboard/index766", params={"period": "2025-03"}, headers=officer)
        own = (await c.get("/api/v1/reports/index766", params={"period": "2025-03"}, headers=officer)).json()
        assert mine.status_code == 200
        assert "Sở Tư pháp" not in mine.text and "UBND phường An Hòa" in mine.text
        assert [r["agency_code"] for r in own["rows"]] == [COMMUNE_A]
        total = re.search(r'data-k="i766.total.total_points"[^>]*>([^<]*)<', mine.text)
        assert total is not None and total.group(1) == points_text(own["totals"]["total_points"])
    assert problems == []
