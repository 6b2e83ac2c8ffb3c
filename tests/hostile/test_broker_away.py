"""The ingress while the broker does not acknowledge: accepted events wait in PostgreSQL's outbox and
go out once it answers; past a backlog limit, 503 with Retry-After and nothing recorded."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx
import orjson
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


class Broker:
    """Refuses every publish while ``away``; otherwise keeps what it was sent."""

    def __init__(self) -> None:
        self.away = True
        self.attempts = 0
        self.topic: list[tuple[str, bytes, bytes]] = []

    async def __call__(self, topic: str, messages: Sequence[tuple[bytes, bytes]]) -> None:
        self.attempts += 1
        if self.away:
            raise KafkaConnectionError("no broker at 127.0.0.1:9")
        self.topic += [(topic, key, value) for key, value in messages]


def ingress_app(gateway: IngestGateway) -> FastAPI:
    app = FastAPI()
    app.state.ingest = gateway
    app.include_router(router)
    app.include_router(portal_router)
    return app


async def post(app: FastAPI, events: list[dict[str, Any]], key: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://ingress") as http:
        return await http.post("/api/v1/events", json=events, headers={"X-API-Key": key})


async def test_events_accepted_while_the_broker_is_away_wait_in_the_outbox_and_go_out_once_it_answers(
    database: str,
) -> None:
    pool = await create_pool(database)
    broker = Broker()
    try:
        async with pool.acquire() as conn:
            key = await emitter_keys.create_key(conn, "broker-away", [AGENCY])
        settings = ProcessingSettings(database_url=database, kafka_bootstrap_servers="127.0.0.1:9")
        gateway = IngestGateway(settings, lambda: pool, broker)
        events = valid_events(AGENCY, 2, datetime(2025, 3, 3, 8, tzinfo=TZ), "ba")

        answer = await post(ingress_app(gateway), events, key)
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted"] == 10  # durable in PostgreSQL: accepted without the broker
        with pytest.raises(KafkaConnectionError):
            await gateway.relay.drain()
        assert broker.topic == []
        async with pool.acquire() as conn:
            assert (
                await conn.fetchval(
                    "SELECT count(*) FROM processing.ingress_outbox WHERE published_at IS NULL"
                )
                == 10
            )

        broker.away = False
        assert await gateway.relay.drain() == 10
        # the accepted bytes, keyed by dossier, in the order they were accepted
        assert [(k.decode(), orjson.loads(v)) for _, k, v in broker.topic] == [
            (e["dossier_code"], e) for e in events
        ]
        assert {t for t, _, _ in broker.topic} == {settings.topics.dossier_events}
        assert await gateway.relay.drain() == 0  # published once, not again

        # the client that saw a failure and sends again gets duplicates: nothing is taken twice
        again = await post(ingress_app(gateway), events, key)
        assert again.json()["duplicates"] == 10 and len(broker.topic) == 10
    finally:
        await pool.close()


async def test_too_many_events_waiting_for_the_broker_get_503_and_nothing_is_recorded(database: str) -> None:
    pool = await create_pool(database)
    broker = Broker()
    try:
        async with pool.acquire() as conn:
            key = await emitter_keys.create_key(conn, "broker-away", [AGENCY])
        settings = ProcessingSettings(
            database_url=database,
            kafka_bootstrap_servers="127.0.0.1:9",
            ingest_retry_after_s=2,
            ingest_outbox_max_unpublished=10,
        )
        gateway = IngestGateway(settings, lambda: pool, broker)
        app = ingress_app(gateway)
        first = valid_events(AGENCY, 2, datetime(2025, 3, 3, 8, tzinfo=TZ), "ba")
        assert (await post(app, first, key)).json()["accepted"] == 10
        await gateway.relay.sweep()  # counts the backlog: 10 waiting
        assert gateway.relay.unpublished == 10

        more = valid_events(AGENCY, 1, datetime(2025, 3, 4, 8, tzinfo=TZ), "bb")
        answer = await post(app, more, key)
        assert answer.status_code == 503 and answer.headers["retry-after"] == "2"
        detail = answer.json()["detail"]
        assert "10 accepted events are still waiting for the broker" in detail
        assert "TTHC_INGEST_OUTBOX_MAX_UNPUBLISHED" in detail and "send the same request again" in detail
        async with pool.acquire() as conn:  # not recorded: the retried request is taken, not a duplicate
            assert (
                await conn.fetchval(
                    "SELECT count(*) FROM processing.ingested_events WHERE event_id LIKE 'bb%'"
                )
                == 0
            )
            assert await conn.fetchval("SELECT count(*) FROM processing.ingress_outbox") == 10

        broker.away = False
        await gateway.relay.drain()
        assert gateway.relay.unpublished == 0
        assert (await post(app, more, key)).json()["accepted"] == 5
    finally:
        await pool.close()
