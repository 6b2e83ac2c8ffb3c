"""Password login to the dashboard in headless Chromium: the registry checks the password.

The registry and reporting run under uvicorn on one PostgreSQL database and one registry feed
topic (as in production: the session token's revocation reaches reporting over the feed). The
user is made by the registry's handler, as ``tthc user add`` makes it.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from services.registry import handlers
from services.registry.adapters.repository import Actor
from services.registry.bootstrap import create_app as registry_app
from services.registry.settings import RegistrySettings
from shared.contracts.registry import Role
from shared.devstack import free_port
from shared.kafka import TopicSpec, ensure_topics
from shared.settings import Topics
from tests.conftest import Infra, create_database
from tests.e2e.test_dashboard import (
    ARTIFACTS,
    SESSION_SECRET,
    Dashboard,
    _serve,
    browser,  # noqa: F401  (the module's browser fixture)
    needs_chromium,
    watch,
)
from tests.integration.test_reporting_service import COMMUNE_A, DEPARTMENT, PROVINCE

pytestmark = pytest.mark.e2e

ADMIN = "tthc_dashboard-login-admin-token-0123456789"
PASSWORD = "Mật khẩu của phường An Hòa"


@dataclass
class Both:
    dashboard: Dashboard
    registry_url: str


@pytest.fixture(scope="module")
async def both(infra: Infra) -> AsyncIterator[Both]:
    database = await create_database(infra)
    unique = uuid.uuid4().hex[:8]
    feed = f"test.dash.r.{unique}"  # the topic _serve's reporting reads the registry from
    settings = RegistrySettings(
        database_url=database,
        kafka_bootstrap_servers=infra.bootstrap_servers,
        topics=Topics(registry=feed),
        admin_token=ADMIN,
        db_pool_min=1,
        db_pool_max=4,
        login_max_failures=3,
    )
    await ensure_topics(settings, [TopicSpec(feed, 1, {"cleanup.policy": "compact"})])
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(registry_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the registry did not start"
        await asyncio.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}) as c:
            for code, level, parent in ((PROVINCE, "province", None), (COMMUNE_A, "commune", PROVINCE)):
                body = {"code": code, "name": f"UBND {code}", "level": level, "parent_code": parent}
                assert (await c.put(f"/api/v1/agencies/{code}", json=body)).status_code in (200, 201)
        async for d in _serve(
            database,
            infra,
            unique,
            reporting_require_token=True,
            reporting_registry_url=url,
            dashboard_session_secret=SESSION_SECRET,
        ):
            policy = handlers.login_policy(settings)
            async with d.pool.acquire() as conn:
                actor = Actor("test", Role.ADMIN.value, None, "cli")
                for name, role, agency in (
                    ("can.bo.an.hoa", Role.OFFICER, COMMUNE_A),
                    ("lanh.dao", Role.VIEWER, None),
                ):
                    await handlers.add_user(
                        conn, actor, policy, name=name, password=PASSWORD, role=role, agency_code=agency
                    )
            yield Both(d, url)
    finally:
        server.should_exit = True
        await task


@needs_chromium
async def test_an_officer_logs_in_with_a_password_sees_its_subtree_and_logs_out(
    both: Both,
    browser: Any,  # noqa: F811
) -> None:
    base = both.dashboard.url
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    page = await context.new_page()
    problems = watch(page, base)
    await page.goto(f"{base}/dashboard/agency/{COMMUNE_A}?period=2025-03")
    assert "/dashboard/login" in page.url
    await page.screenshot(path=str(ARTIFACTS / "dashboard-login.png"), full_page=True)
    await page.fill("#name", "can.bo.an.hoa")
    await page.fill("#password", "not the password")
    await page.click("#login-submit")
    assert await page.inner_text("#login-notice") == "Tên đăng nhập hoặc mật khẩu không đúng."
    assert await page.input_value("#name") == "can.bo.an.hoa"  # kept; the password is not
    await page.fill("#password", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_selector("#agency-name")
    assert page.url.endswith(f"/dashboard/agency/{COMMUNE_A}?period=2025-03")
    assert await page.inner_text("#user") == "can.bo.an.hoa"
    cookie = next(c for c in await context.cookies() if c["name"] == "tthc_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    # the officer's subtree only: another agency is "not in your scope", the overview its own numbers
    await page.goto(f"{base}/dashboard/agency/{DEPARTMENT}?period=2025-03")
    assert "trong phạm vi bạn được xem" in await page.inner_text("#error-message")
    await page.goto(f"{base}/dashboard?period=2025-03")
    assert await page.inner_text("#kpi-received") == "2"
    await page.click("#logout")
    await page.wait_for_selector("#login-form")
    assert not [c for c in await context.cookies() if c["name"] == "tthc_session"]
    # logout revoked the session's token: the old cookie, replayed, is refused once the feed says so
    async with httpx.AsyncClient(base_url=base, cookies={"tthc_session": cookie["value"]}) as replay:
        deadline = time.monotonic() + 15
        while (await replay.get("/dashboard")).status_code == 200:
            assert time.monotonic() < deadline, "the revoked session still opens pages"
            await asyncio.sleep(0.2)
        assert (await replay.get("/dashboard")).status_code == 303
    await context.close()
    assert [p for p in problems if "Failed to load resource" not in p] == [], problems


async def test_repeated_wrong_passwords_lock_the_login(both: Both) -> None:
    async with httpx.AsyncClient(base_url=both.dashboard.url) as c:
        form = await c.get("/dashboard/login")
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', form.text)
        assert found is not None
        csrf = found.group(1)
        for _ in range(3):
            r = await c.post(
                "/dashboard/login", data={"name": "lanh.dao", "password": "sai rồi!!", "csrf": csrf}
            )
            assert r.status_code == 401 and "Tên đăng nhập hoặc mật khẩu không đúng" in r.text
        r = await c.post("/dashboard/login", data={"name": "lanh.dao", "password": PASSWORD, "csrf": csrf})
        assert r.status_code == 429, r.text[:500]
        assert "Tài khoản tạm khóa" in r.text and "sau 15 phút" in r.text
        assert "tthc_session" not in r.headers.get("set-cookie", "")
        # without the CSRF field of this browser, a password is not even checked
        r = await c.post("/dashboard/login", data={"name": "lanh.dao", "password": PASSWORD})
        assert r.status_code == 403
