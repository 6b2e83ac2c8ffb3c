"""A registry service under test: the real app (lifespan, relay, broker) on a fresh PostgreSQL
database and its own compacted feed topic, driven over HTTP through httpx's ASGI transport.

Imported by the other ``test_registry_*`` modules; the one test here checks the harness itself.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.registry.bootstrap import create_app
from services.registry.settings import RegistrySettings
from shared.contracts.registry import RegistryChange
from shared.kafka import TopicSpec, ensure_topics
from shared.settings import Topics
from tests.conftest import Infra, create_database

pytestmark = pytest.mark.integration

ADMIN_TOKEN = "tthc_test-admin-token-0123456789abcdef"


@dataclass
class Registry:
    client: httpx.AsyncClient
    settings: RegistrySettings
    dsn: str
    topic: str
    infra: Infra

    def as_(self, token: str | None) -> dict[str, str]:
        return {} if token is None else {"Authorization": f"Bearer {token}"}

    @property
    def admin(self) -> dict[str, str]:
        return self.as_(ADMIN_TOKEN)

    async def put(self, path: str, body: Any, token: str | None = ADMIN_TOKEN) -> httpx.Response:
        return await self.client.put(f"/api/v1{path}", json=body, headers=self.as_(token))

    async def get(self, path: str, token: str | None = ADMIN_TOKEN, **params: Any) -> httpx.Response:
        return await self.client.get(f"/api/v1{path}", params=params, headers=self.as_(token))

    async def delete(self, path: str, token: str | None = ADMIN_TOKEN) -> httpx.Response:
        return await self.client.delete(f"/api/v1{path}", headers=self.as_(token))

    async def token(self, role: str, agency_code: str | None = None, subject: str | None = None) -> str:
        r = await self.client.post(
            "/api/v1/tokens",
            json={
                "subject": subject or f"{role}-{uuid.uuid4().hex[:6]}",
                "role": role,
                "agency_code": agency_code,
            },
            headers=self.admin,
        )
        assert r.status_code == 201, r.text
        return str(r.json()["token"])

    async def feed(
        self, until: Callable[[list[RegistryChange]], bool], timeout: float = 20
    ) -> list[RegistryChange]:
        return await read_feed(self.infra.bootstrap_servers, self.topic, until, timeout)


async def read_feed(
    servers: str, topic: str, until: Callable[[list[RegistryChange]], bool], timeout: float = 20
) -> list[RegistryChange]:
    """Every message of the (one-partition) feed topic from offset 0, until ``until`` holds."""
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
    await consumer.start()
    got: list[RegistryChange] = []
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        async with asyncio.timeout(timeout):
            while not until(got):
                for records in (await consumer.getmany(timeout_ms=300)).values():
                    got += [RegistryChange.model_validate_json(r.value) for r in records]
    except TimeoutError:
        raise AssertionError(
            f"the feed never reached the expected state; it holds {len(got)} messages"
        ) from None
    finally:
        await consumer.stop()
    return got


@asynccontextmanager
async def running_registry(
    infra: Infra, *, dsn: str | None = None, topic: str | None = None, **settings: Any
) -> AsyncIterator[Registry]:
    """The registry app with its lifespan running (pool, broker, relay), on ``dsn`` or a fresh database."""
    dsn = dsn or await create_database(infra)
    topic = topic or f"test.registry.{uuid.uuid4().hex[:8]}"
    config = RegistrySettings(
        database_url=dsn,
        kafka_bootstrap_servers=infra.bootstrap_servers,
        topics=Topics(registry=topic),
        admin_token=ADMIN_TOKEN,
        db_pool_min=1,
        db_pool_max=4,
        **settings,
    )
    await ensure_topics(config, [TopicSpec(topic, 1, {"cleanup.policy": "compact"})])
    app = create_app(config)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://registry", timeout=60) as client:
            yield Registry(client, config, dsn, topic, infra)


async def test_the_harness_serves_the_real_app(infra: Infra) -> None:
    async with running_registry(infra) as registry:
        health = await registry.client.get("/healthz")
        assert health.status_code == 200, health.text
        assert (await registry.get("/whoami")).json()["role"] == "admin"
