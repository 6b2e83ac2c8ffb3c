"""The dashboard in headless Chromium (Debian's, driven by playwright; no browser download).

The reporting service runs under uvicorn on a free port with its consumers on the real
broker and its tables in a real PostgreSQL; charts must render with data, the drill-down
province → agency → procedure → dossier must work by clicking, and the English switch must
translate. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
import uvicorn

from services.reporting.bootstrap import create_app
from services.reporting.handlers import ReportingContext, handle_assessments, handle_registry_changes
from services.reporting.settings import ReportingSettings
from shared.db import create_pool
from shared.devstack import free_port
from shared.settings import Topics
from tests.conftest import Infra
from tests.integration.test_reporting_service import (
    COMMUNE_A,
    COMPLIANCE,
    DEPARTMENT,
    LATE_PROCEDURE,
    PROVINCE,
    REGISTRY_FIRST,
    TZ,
    change,
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


@pytest.fixture
async def dashboard(database: str, infra: Infra, unique: str) -> AsyncIterator[str]:
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
    await handle_registry_changes(ctx, [*REGISTRY_FIRST, LATE_PROCEDURE, *qms])
    await handle_assessments(ctx, COMPLIANCE)
    await pool.close()
    settings = ReportingSettings(
        database_url=database,
        kafka_bootstrap_servers=infra.bootstrap_servers,
        topics=Topics(compliance=f"test.dash.c.{unique}", registry=f"test.dash.r.{unique}"),
        reporting_group_id=f"dash-{unique}",
        reporting_registry_group_id=f"dash-r-{unique}",
        kafka_session_timeout_ms=3000,
        kafka_heartbeat_interval_ms=1000,
        reporting_require_token=False,  # the anonymous dashboard of `tthc up --demo`
    )
    port = free_port()
    app = create_app(settings, clock=lambda: datetime(2025, 4, 10, 12, tzinfo=TZ))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    for _ in range(300):
        if server.started:
            break
        await asyncio.sleep(0.05)
    assert server.started, "the reporting app did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is missing: run `make browser`")
async def test_overview_charts_and_drill_down_to_the_control_slip(dashboard: str) -> None:
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            external: list[str] = []
            page.on("request", lambda r: external.append(r.url) if not r.url.startswith(dashboard) else None)
            await page.goto(f"{dashboard}/dashboard?period=2025-03")
            assert await page.title() == "Giám sát giải quyết TTHC — Tổng quan toàn tỉnh"
            for chart in ("chart-trend", "chart-late", "chart-ncs", "chart-qms"):
                await page.wait_for_selector(f"#{chart}[data-rendered='1'] .main-svg", timeout=15_000)
            # the charts carry data: bars for late / overdue agencies and nonconformity codes
            assert await page.locator("#chart-late .point").count() >= 2
            assert await page.locator("#chart-ncs .point").count() >= 2
            assert await page.locator("#chart-trend .scatterlayer .point").count() >= 1
            assert await page.inner_text("#kpi-received") == "6"
            await page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"), full_page=True)

            await page.click(f"a.agency-link[href^='/dashboard/agency/{DEPARTMENT}']")
            await page.wait_for_selector("#chart-procedures[data-rendered='1'] .main-svg")
            assert "Sở Tư pháp" in await page.inner_text("h2")
            await page.screenshot(path=str(ARTIFACTS / "dashboard-agency.png"), full_page=True)

            await page.click("a.procedure-link")
            await page.wait_for_selector("#dossiers")
            assert await page.locator("a.dossier-link").count() == 3
            await page.screenshot(path=str(ARTIFACTS / "dashboard-dossiers.png"), full_page=True)

            await page.click(f"a.dossier-link:text('{DEPARTMENT}-2')")
            await page.wait_for_selector("#control-slip")
            slip = await page.inner_text("#control-slip")
            assert "Phòng Hộ tịch" in slip and "quá hạn" in slip  # step XL overran its budget
            await page.screenshot(path=str(ARTIFACTS / "dashboard-control-slip.png"), full_page=True)

            await page.click("#lang-switch")
            await page.wait_for_selector("text=Control slip")
            await page.goto(f"{dashboard}/dashboard?period=2025-03")  # the choice is remembered
            assert await page.title() == "TTHC dossier monitoring — Province overview"
            await page.wait_for_selector("#chart-trend[data-rendered='1'] .main-svg")
            await page.screenshot(path=str(ARTIFACTS / "dashboard-overview-en.png"), full_page=True)
            assert external == []  # fully offline: nothing but our own server was asked
        finally:
            await browser.close()
    assert shutil.which(str(CHROMIUM))
