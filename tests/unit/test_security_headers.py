"""Security headers on every answer (issue #12 item 4) and a /docs page that works offline under the CSP."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient

from shared.devstack import free_port
from shared.http import install_common

CHROMIUM = Path("/usr/bin/chromium")
STRICT = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


async def ok() -> None:
    return None


def app() -> FastAPI:
    a = FastAPI(title="TTHC Monitor — test")
    install_common(a, "test", {"database": ok})

    @a.get("/page", response_class=HTMLResponse)
    async def page() -> str:
        return "<!doctype html><title>x</title><p>trang</p>"

    @a.get("/items/{n}")
    async def item(n: int) -> dict[str, int]:
        return {"n": n}

    return a


def test_every_answer_has_the_headers_and_html_the_strict_policy() -> None:
    client = TestClient(app())
    for path, status in (
        ("/page", 200),
        ("/items/1", 200),
        ("/items/x", 422),
        ("/nowhere", 404),
        ("/healthz", 200),
    ):
        r = client.get(path)
        assert r.status_code == status, path
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["x-frame-options"] == "DENY", path
        assert r.headers["referrer-policy"] == "same-origin", path
    assert client.get("/page").headers["content-security-policy"] == STRICT


def test_the_docs_page_allows_only_its_own_inline_script_by_hash() -> None:
    client = TestClient(app())
    r = client.get("/docs")
    assert r.status_code == 200
    [script] = re.findall(rb"<script>(.*?)</script>", r.content, flags=re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script).digest()).decode()
    assert r.headers["content-security-policy"] == STRICT.replace(
        "script-src 'self'", f"script-src 'self' 'sha256-{digest}'"
    )
    assert b"cdn" not in r.content.lower() and b"http" not in r.content  # every asset from here
    for asset in re.findall(rb'(?:src|href)="(/docs/static/[^"]+)"', r.content):
        got = client.get(asset.decode())
        assert got.status_code == 200 and len(got.content) > 1_000, asset
    assert client.get("/redoc").status_code == 404  # ReDoc needs a CDN: not served


@pytest.fixture
async def served() -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app(), host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is missing: run `make browser`")
async def test_swagger_ui_renders_in_a_browser_offline_without_a_csp_violation(served: str) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = await browser.new_page()
            outside: list[str] = []
            problems: list[str] = []
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(served) else None)
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            await page.goto(f"{served}/docs")
            await page.wait_for_selector("#operations-default-item_items__n__get", timeout=15_000)
            assert "TTHC Monitor — test" in await page.inner_text(".info .title")
        finally:
            await browser.close()
    assert outside == []
    assert problems == []  # a blocked script or style would be reported here
