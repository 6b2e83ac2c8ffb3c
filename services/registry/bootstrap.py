"""Composition root of the registry service."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
from fastapi import FastAPI

from services.registry.adapters import repository
from services.registry.adapters.outbox_relay import OutboxRelay
from services.registry.dev_token import ensure_admin
from services.registry.entrypoints.http import install_errors, router
from services.registry.entrypoints.logins import router as logins_router
from services.registry.handlers import Context
from services.registry.settings import RegistrySettings
from shared.auth import BearerAuth, Principal, install_auth_errors, principal_of
from shared.contracts import RegistryChange
from shared.runtime import Resources, broker_for, build_service_app


def token_lookup(pool: asyncpg.Pool) -> Callable[[str], Awaitable[Principal | None]]:
    """Token hash → principal, from the registry's own table."""

    async def lookup(token_hash: str) -> Principal | None:
        async with pool.acquire() as conn:
            record = await repository.token_record(conn, token_hash)
        if record is None or (record.expires_at is not None and record.expires_at <= datetime.now(UTC)):
            return None
        return principal_of(record)

    return lookup


def create_app(settings: RegistrySettings | None = None) -> FastAPI:
    settings = settings or RegistrySettings()
    broker = broker_for("registry", settings)
    # declared for the AsyncAPI document; the outbox relay publishes these messages
    broker.publisher(
        settings.topics.registry,
        title="registry changes",
        description="Every change of a registry entity (compacted, key = <entity>:<id>); data validates "
        "against the entity's record schema in shared/contracts/schemas/registry.*.v1.json.",
        schema=RegistryChange,
    )
    app: FastAPI

    async def wire(r: Resources) -> None:
        if settings.admin_token:
            await ensure_admin(r.pool, settings.admin_token)
        app.state.relay = OutboxRelay(
            r.pool, r.broker, settings.topics.registry, republish=settings.republish_on_start
        )
        app.state.auth = BearerAuth(token_lookup(r.pool))
        app.state.registry_context = Context.of(settings)

    app = build_service_app("registry", settings, broker, wire, "TTHC Monitor — registry")
    running = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # the relay runs while the broker is up: started after it, stopped (and drained) before it
        async with running(app):
            relay: OutboxRelay = app.state.relay
            relay.start()
            try:
                yield
            finally:
                await relay.stop()

    app.router.lifespan_context = lifespan
    app.include_router(router)
    app.include_router(logins_router)
    install_auth_errors(app)
    install_errors(app)
    return app
