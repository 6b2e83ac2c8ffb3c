"""Pieces every service's HTTP API shares: /healthz, /metrics, problem+json errors."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from importlib import resources
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared import metrics

# PostgreSQL's OFFSET is a bigint: a larger number is the client's error (422), not ours.
PG_BIGINT_MAX = 2**63 - 1
Offset = Annotated[int, Query(ge=0, le=PG_BIGINT_MAX, description="rows to skip")]

HealthCheck = Callable[[], Awaitable[None]]

PROBLEM_JSON = "application/problem+json"

# Issue #12: every HTML page of the three services; no inline script unless its hash is listed.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def with_script_hashes(policy: str, page: bytes) -> str:
    """``policy`` allowing exactly the inline ``<script>`` blocks of ``page`` (by their SHA-256)."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
        for body in re.findall(rb"<script>(.*?)</script>", page, flags=re.DOTALL)
    ]
    return policy.replace("script-src 'self'", " ".join(["script-src 'self'", *hashes]), 1)


def install_offline_docs(app: FastAPI) -> None:
    """Serve FastAPI's Swagger UI page from local assets (no CDN), under the strict CSP.

    The assets come from the ``swagger-ui-py`` package (Swagger UI 5, which reads OpenAPI 3.1);
    the page's one inline script is allowed by its hash. ReDoc (CDN only) is not served.
    """
    docs_url, openapi_url = app.docs_url, app.openapi_url
    if not docs_url or not openapi_url:
        return
    dropped = {docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in dropped]
    assets = f"{docs_url}/static"
    app.mount(assets, StaticFiles(directory=str(resources.files("swagger_ui") / "static")), name="swagger-ui")
    page = bytes(
        get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} — API",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon-32x32.png",
        ).body
    )
    policy = with_script_hashes(CONTENT_SECURITY_POLICY, page)

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return HTMLResponse(page, headers={"Content-Security-Policy": policy})


def problem(status: int, title: str, detail: str, **extra: object) -> JSONResponse:
    """An RFC 9457 problem description."""
    body: dict[str, object] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


class BoundedChecks:
    """Runs health checks with a time limit, so /healthz answers in time whatever a dependency does.

    A check that has not answered within ``timeout_s`` is reported as such (503) and left running
    in the background, never awaited: a stopped PostgreSQL can hold even a cancelled query's
    clean-up. While it still runs, the next request does not start another (no pile-up).
    """

    def __init__(self, checks: Mapping[str, HealthCheck], timeout_s: float) -> None:
        self.checks = dict(checks)
        self.timeout_s = timeout_s
        self._running: dict[str, asyncio.Future[None]] = {}

    async def run(self) -> tuple[bool, dict[str, str]]:
        """(all ok, name → "ok" or what went wrong)."""
        results: dict[str, str] = {}
        started: dict[str, asyncio.Future[None]] = {}
        for name, check in self.checks.items():
            previous = self._running.get(name)
            if previous is not None and not previous.done():
                results[name] = f"error: the previous check has not answered yet (limit {self.timeout_s:g} s)"
                continue
            future = started[name] = self._running[name] = asyncio.ensure_future(check())
            # a check that ends after its answer was sent: its outcome is read here, never "unretrieved"
            future.add_done_callback(lambda t: None if t.cancelled() else t.exception())
        if started:
            await asyncio.wait(started.values(), timeout=self.timeout_s)
        for name, task in started.items():
            if not task.done():
                task.cancel()  # it ends when it can; a later request sees whether it did
                results[name] = f"error: no answer within {self.timeout_s:g} s"
            elif task.cancelled():
                results[name] = "error: cancelled"
            elif (exc := task.exception()) is not None:
                results[name] = f"error: {type(exc).__name__}: {exc}"[:300]
            else:
                results[name] = "ok"
        return all(v == "ok" for v in results.values()), {n: results[n] for n in self.checks}


Readiness = Callable[[], Mapping[str, Mapping[str, Any]]]


def install_common(
    app: FastAPI,
    service: str,
    checks: dict[str, HealthCheck],
    *,
    timeout_s: float = 0.8,
    stalled_consumers: Readiness | None = None,
    consumers: Readiness | None = None,
) -> None:
    """Add /healthz, /readyz, /metrics, request metrics, security headers and problem+json errors.

    ``/healthz``: every dependency answered within ``timeout_s`` (else 503 naming it).
    ``/readyz``: that, and no consumer in ``stalled_consumers()`` (lag that has not moved for the
    configured time; ``consumers()`` shows every consumer's lag).
    """
    bounded = BoundedChecks(checks, timeout_s)
    install_offline_docs(app)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> Response:
        ok, results = await bounded.run()
        return JSONResponse(
            {"service": service, "status": "ok" if ok else "unavailable", "checks": results},
            status_code=200 if ok else 503,
        )

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> Response:
        ok, results = await bounded.run()
        stalled = dict(stalled_consumers()) if stalled_consumers else {}
        body: dict[str, Any] = {
            "service": service,
            "status": "ready" if ok and not stalled else "not ready",
            "checks": results,
            "consumers": dict(consumers()) if consumers else {},
        }
        if stalled:
            body["stalled"] = stalled
        return JSONResponse(body, status_code=200 if ok and not stalled else 503)

    @app.get("/metrics", tags=["ops"])
    async def metrics_endpoint() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.middleware("http")
    async def count_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        raw = (request.scope.get("raw_path") or b"") + b"?" + (request.scope.get("query_string") or b"")
        if b"%00" in raw or b"\x00" in raw:
            # PostgreSQL cannot store or compare the NUL character: refuse it at the door
            response: Response = problem(
                422,
                "Invalid request",
                "the URL contains the NUL character (%00); remove it from the path and query",
            )
        else:
            response = await call_next(request)
        for header, value in SECURITY_HEADERS.items():
            response.headers.setdefault(header, value)
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.HTTP_REQUESTS.labels(service, request.method, path, str(response.status_code)).inc()
        metrics.HTTP_LATENCY.labels(service, path).observe(time.perf_counter() - started)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "reason": e.get("msg", "")}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        return problem(422, "Invalid request", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(
            exc.status_code, str(exc.detail) if exc.status_code != 404 else "Not found", str(exc.detail)
        )
