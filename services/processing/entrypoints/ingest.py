"""HTTP ingest for emitters that cannot produce to Kafka: ``POST /api/v1/events``.

Thin: admit (or 429), authenticate the emitter's key (or 401), read a JSON array (or 413/422),
hand it to :class:`IngestGateway`, answer per event. docs/ingress.md is the reference.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from services.processing.adapters.emitter_keys import Emitter
from services.processing.domain.portal_mapping import PortalUpdate
from services.processing.ingress import BrokerUnavailable, DatabaseUnavailable, IngestGateway
from services.processing.settings import ProcessingSettings
from shared import metrics
from shared.contracts.events import contract_limits, depth_reason, dossier_event_adapter, nests_deeper_than
from shared.http import problem
from shared.kafka import publish_raw_many

router = APIRouter(prefix="/api/v1", tags=["ingress"])

bearer = HTTPBearer(
    auto_error=False, scheme_name="EmitterKeyBearer", description="`Authorization: Bearer <emitter key>`"
)
api_key = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="EmitterKeyHeader",
    description="`X-API-Key: <emitter key>`",
)


class FieldError(BaseModel):
    field: str
    reason: str


class EventAnswer(BaseModel):
    index: int
    event_id: str | None
    status: Literal["accepted", "duplicate", "conflict", "rejected"]
    code: Literal[200, 202, 403, 409, 422]
    errors: list[FieldError]


class IngestAnswer(BaseModel):
    results: list[EventAnswer]
    accepted: int
    duplicates: int
    conflicts: int
    rejected: int


PROBLEM = {"content": {"application/problem+json": {"schema": {"type": "object"}}}}
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "no key, or an unknown or revoked key", **PROBLEM},
    413: {
        "description": "more items than TTHC_INGEST_MAX_BATCH, or a body over TTHC_INGEST_MAX_BODY_BYTES",
        **PROBLEM,
    },
    422: {
        "description": "the body is not a JSON array, or nests deeper than TTHC_EVENT_MAX_DEPTH + 1",
        **PROBLEM,
    },
    429: {"description": "over capacity: retry after the Retry-After header's seconds", **PROBLEM},
    503: {
        "description": "PostgreSQL did not answer, or too many accepted events wait for the broker: retry "
        "the whole request after Retry-After seconds (event ids make it safe)",
        **PROBLEM,
    },
}


def responses(model: type[BaseModel], description: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"model": model, "description": description}, **COMMON_RESPONSES}


def array_body(ref: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "array", "items": {"$ref": f"#/components/schemas/{ref}"}}
                }
            },
        }
    }


def gateway_of(request: Request) -> IngestGateway:
    gateway: IngestGateway = request.app.state.ingest
    return gateway


def refused(route: str, reason: str, status: int, title: str, detail: str, **headers: str) -> Response:
    metrics.INGEST_REFUSED_REQUESTS.labels(route, reason).inc()
    response = problem(status, title, detail)
    response.headers.update(headers)
    return response


async def admit(
    request: Request,
    route: str,
    what: str,
    credentials: HTTPAuthorizationCredentials | None,
    header_key: str | None,
) -> tuple[Emitter, list[Any]] | Response:
    """The emitter and the body's items, or the problem answer that refuses the request."""
    gateway = gateway_of(request)
    settings = gateway.settings
    key = credentials.credentials.strip() if credentials is not None else (header_key or "").strip()
    if not key:
        return refused(
            route,
            "unauthorized",
            401,
            "Unauthorized",
            "send the emitter's API key: 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
            **{"WWW-Authenticate": 'Bearer realm="tthc-ingest"'},
        )
    emitter = await gateway.emitter_of(key)
    if emitter is None:
        return refused(
            route,
            "unauthorized",
            401,
            "Unauthorized",
            "the API key is unknown or revoked; ask an admin for a key (`tthc keys create`)",
            **{"WWW-Authenticate": 'Bearer realm="tthc-ingest"'},
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.ingest_max_body_bytes:
        return _too_large(route, settings, f"the body has {declared} bytes")
    body = await request.body()
    if len(body) > settings.ingest_max_body_bytes:
        return _too_large(route, settings, f"the body has {len(body)} bytes")
    example = "[{...}, {...}]"
    levels = contract_limits().max_depth + 1  # the array around the events
    if nests_deeper_than(body, levels):
        return refused(route, "too_deep", 422, "Invalid request", f"the body's {depth_reason(levels)}")
    try:
        items = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return refused(
            route,
            "not_an_array",
            422,
            "Invalid request",
            f"the body is not valid JSON ({exc}); send a JSON array of {what}: {example}",
        )
    if not isinstance(items, list):
        return refused(
            route,
            "not_an_array",
            422,
            "Invalid request",
            f"the body must be a JSON array of {what}, e.g. {example}, even for a single one; "
            f"got a JSON {type(items).__name__.replace('dict', 'object')}",
        )
    if len(items) > settings.ingest_max_batch:
        return _too_large(
            route, settings, f"the batch has {len(items)} {what}, more than {settings.ingest_max_batch}"
        )
    return emitter, items


def _too_large(route: str, settings: ProcessingSettings, what: str) -> Response:
    return refused(
        route,
        "too_large",
        413,
        "Batch too large",
        f"{what}; send at most {settings.ingest_max_batch} items and "
        f"{settings.ingest_max_body_bytes} bytes per request (split the batch)",
    )


def over_capacity(route: str, retry_after: int) -> Response:
    return refused(
        route,
        "over_capacity",
        429,
        "Too many requests",
        f"the ingress is handling as many requests as it may; nothing was taken: retry in {retry_after} s",
        **{"Retry-After": str(retry_after)},
    )


def broker_unavailable(route: str, exc: BrokerUnavailable, retry_after: int) -> Response:
    return refused(
        route,
        "broker_unavailable",
        503,
        "Broker unavailable",
        f"{exc}; nothing was recorded: send the same request again in {retry_after} s (event ids make it safe)",
        **{"Retry-After": str(retry_after)},
    )


def database_unavailable(route: str, exc: DatabaseUnavailable, retry_after: int) -> Response:
    return refused(
        route,
        "database_unavailable",
        503,
        "Database unavailable",
        f"{exc}; send the same request again in {retry_after} s (event ids make it safe)",
        **{"Retry-After": str(retry_after)},
    )


def json_answer(answer: dict[str, Any]) -> Response:
    return Response(orjson.dumps(answer), media_type="application/json")


@router.post(
    "/events",
    summary="Send dossier events (a JSON array of DESIGN §3 events)",
    response_model=None,
    responses=responses(IngestAnswer, "the batch was processed: one answer per event"),
    openapi_extra=array_body("DossierEvent"),
)
async def post_events(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    header_key: str | None = Depends(api_key),
) -> Response:
    """Each event is validated and answered on its own: `accepted` (202, kept in PostgreSQL and on
    its way to the topic: it reaches processing even if the broker restarts),
    `duplicate` (200, its event_id was accepted before with the same content), `conflict` (409,
    its event_id was accepted before with other content), or `rejected` (422 invalid, 403 the key
    may not write this dossier: agency, dossier code's agency part, or a change of the dossier's
    agency). The whole answer is 200 once the batch was processed."""
    gateway = gateway_of(request)
    async with gateway.admitted() as ok:
        if not ok:
            return over_capacity("events", gateway.settings.ingest_retry_after_s)
        try:
            admitted = await admit(request, "events", "events", credentials, header_key)
            if isinstance(admitted, Response):
                return admitted
            emitter, items = admitted
            return json_answer(await gateway.ingest(emitter, items))
        except BrokerUnavailable as exc:
            return broker_unavailable("events", exc, gateway.settings.ingest_retry_after_s)
        except DatabaseUnavailable as exc:
            return database_unavailable("events", exc, gateway.settings.ingest_retry_after_s)


def _body_schemas(app: FastAPI) -> None:
    """Put the event and portal-update JSON Schemas into the OpenAPI components."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        template = "#/components/schemas/{model}"
        for name, body in (
            ("DossierEvent", dossier_event_adapter.json_schema(ref_template=template)),
            ("PortalUpdate", PortalUpdate.model_json_schema(ref_template=template)),
        ):
            components.update(body.pop("$defs", {}))
            components[name] = body
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_ingress(app: FastAPI, settings: ProcessingSettings, broker: KafkaBroker) -> None:
    """Add the ingest and status-sync routes, and the outbox relay, to processing's app."""
    from services.processing.entrypoints.portal_sync import router as portal_router

    async def publish_many(topic: str, messages: Sequence[tuple[bytes, bytes]]) -> None:
        await publish_raw_many(broker, topic, messages)

    gateway = app.state.ingest = IngestGateway(settings, lambda: app.state.resources.pool, publish_many)
    running = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # the outbox relay runs while the broker is up: started after it, stopped (and drained) before it
        async with running(app):
            gateway.relay.start()
            try:
                yield
            finally:
                await gateway.relay.stop()

    app.router.lifespan_context = lifespan
    app.include_router(router)
    app.include_router(portal_router)
    _body_schemas(app)
