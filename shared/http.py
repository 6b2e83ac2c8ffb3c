"""Pieces every service's HTTP API shares: /healthz, /metrics, problem+json errors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared import metrics

# PostgreSQL's OFFSET is a bigint: a larger number is the client's error (422), not ours.
PG_BIGINT_MAX = 2**63 - 1
Offset = Annotated[int, Query(ge=0, le=PG_BIGINT_MAX, description="rows to skip")]

HealthCheck = Callable[[], Awaitable[None]]

PROBLEM_JSON = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: object) -> JSONResponse:
    """An RFC 9457 problem description."""
    body: dict[str, object] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def install_common(app: FastAPI, service: str, checks: dict[str, HealthCheck]) -> None:
    """Add /healthz, /metrics, request metrics and problem+json error handlers to ``app``."""

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> Response:
        results: dict[str, str] = {}
        ok = True
        for name, check in checks.items():
            try:
                await asyncio.wait_for(check(), timeout=3)
                results[name] = "ok"
            except Exception as exc:  # a health check reports, it does not raise
                ok = False
                results[name] = f"error: {type(exc).__name__}: {exc}"[:300]
        return JSONResponse(
            {"service": service, "status": "ok" if ok else "unavailable", "checks": results},
            status_code=200 if ok else 503,
        )

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
