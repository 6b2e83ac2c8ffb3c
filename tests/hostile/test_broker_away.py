"""The ingress while the broker does not acknowledge: 503 with Retry-After, nothing recorded."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import httpx
import pytest
from aiokafka.errors import KafkaConnectionError
from fastapi import FastAPI

from services.processing.adapters import emitter_keys
from services.processing.entrypoints.ingest import router
from services.processing.entrypoints.portal_sync import router as portal_router
from services.processing.ingress import IngestGateway
from services.processing.settings import ProcessingSettings
from shared.db import create_pool
from tests.hostile.generate import TZ, valid_events
from tests.integration.streams import AGENCY

pytestmark = pytest.mark.integration


async def test_a_broker_that_does_not_acknowledge_gets_503_and_nothing_is_recorded(database: str) -> None:
    pool = await create_pool(database)
    published: list[int] = []

    async def broker_away(topic: str, messages: Sequence[tuple[bytes, bytes]]) -> None:
        published.append(len(messages))
        raise KafkaConnectionError("no broker at 127.0.0.1:9")

    try:
        async with pool.acquire() as conn:
            key = await emitter_keys.create_key(conn, "broker-away", [AGENCY])
        settings = ProcessingSettings(
            database_url=database, kafka_bootstrap_servers="127.0.0.1:9", ingest_retry_after_s=2
        )
        app = FastAPI()
        app.state.ingest = IngestGateway(settings, lambda: pool, broker_away)
        app.include_router(router)
        app.include_router(portal_router)
        events = valid_events(AGENCY, 2, datetime(2025, 3, 3, 8, tzinfo=TZ), "ba")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://ingress") as http:
            answer = await http.post("/api/v1/events", json=events, headers={"X-API-Key": key})
        assert answer.status_code == 503 and answer.headers["retry-after"] == "2"
        assert (
            "did not acknowledge" in answer.json()["detail"]
            and "send the same request again" in answer.json()["detail"]
        )
        assert published == [10]
        async with pool.acquire() as conn:  # not recorded: the retried request is taken, not a duplicate
            assert await conn.fetchval("SELECT count(*) FROM processing.ingested_events") == 0
            assert await conn.fetchval("SELECT count(*) FROM processing.ingress_dossiers") == 0
    finally:
        await pool.close()
