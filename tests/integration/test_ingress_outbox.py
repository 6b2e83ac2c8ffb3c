"""The ingress outbox against the real PostgreSQL: what a broker restart lost is published again
until processing has stored it, and the second copy changes nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from services.processing.adapters import emitter_keys
from services.processing.domain.engine import ClockRules
from services.processing.handlers import (
    ProcessingContext,
    RawMessage,
    apply_registry_change,
    handle_event_batch,
)
from services.processing.ingress import IngestGateway
from services.processing.settings import ProcessingSettings
from shared.contracts import RegistryChange
from shared.db import create_pool
from shared.settings import CommonSettings
from tests.integration.streams import AGENCY, dossier_events, procedure_change

pytestmark = pytest.mark.integration

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


class MemoryBroker:
    """Keeps what it is sent until it "restarts" (kill -9 of a memory broker: everything is gone)."""

    def __init__(self) -> None:
        self.log: list[tuple[bytes, bytes]] = []
        self.published = 0

    async def __call__(self, topic: str, messages: Sequence[tuple[bytes, bytes]]) -> None:
        self.log += messages
        self.published += len(messages)

    def restart(self) -> None:
        self.log = []

    def records(self) -> list[RawMessage]:
        return [RawMessage(k, v, "events", 0, i) for i, (k, v) in enumerate(self.log)]


async def test_events_a_broker_restart_lost_are_published_again_until_stored_and_a_copy_changes_nothing(
    database: str,
) -> None:
    pool = await create_pool(database)
    broker = MemoryBroker()
    compliance: list[dict[str, object]] = []

    async def publish(topic: str, messages: Sequence[tuple[bytes, bytes]]) -> None:
        compliance.extend(json.loads(v) for _, v in messages)

    common = CommonSettings()
    ctx = ProcessingContext(
        pool=pool,
        publish_many=publish,
        calendar=common.calendar(),
        rules=ClockRules(common.in_person_cutoff, Decimal(3), Decimal(1)),
        compliance_topic="compliance",
        dlq_topic="dlq",
    )
    try:
        await apply_registry_change(ctx, RegistryChange.model_validate(procedure_change()))
        async with pool.acquire() as conn:
            key = await emitter_keys.create_key(conn, "outbox", [AGENCY])
            emitter = await emitter_keys.emitter_of(conn, key)
        assert emitter is not None
        settings = ProcessingSettings(database_url=database, ingest_outbox_republish_after_s=0.2)
        gateway = IngestGateway(settings, lambda: pool, broker)
        relay = gateway.relay
        events = dossier_events(3, start=datetime(2025, 3, 3, 8, tzinfo=TZ), prefix="ob")  # 12 events
        assert (await gateway.ingest(emitter, events))["accepted"] == 12
        assert await relay.drain() == 12

        # processing consumes the first dossier's events, then the broker dies with the rest
        first = [m for m in broker.records() if m.key == events[0]["dossier_code"].encode()]
        await handle_event_batch(ctx, first)
        assessed = len(compliance)
        broker.restart()

        async def outbox() -> list[tuple[str, int, bool]]:
            async with pool.acquire() as conn:
                rows = await conn.fetch(
                    "SELECT event_id, publishes, published_at IS NULL AS waiting "
                    "FROM processing.ingress_outbox ORDER BY id"
                )
            return [(r["event_id"], r["publishes"], r["waiting"]) for r in rows]

        # stored events left the outbox at once; the 8 the broker lost stay
        assert [e for e, _, _ in await outbox()] == [e["event_id"] for e in events[4:]]
        assert await relay.sweep() == 0  # not yet: published less than 0.2 s ago
        await asyncio.sleep(0.3)
        assert await relay.sweep() == 8
        assert await relay.drain() == 8
        assert [(k.decode(), json.loads(v)) for k, v in broker.log] == [
            (e["dossier_code"], e) for e in events[4:]
        ]
        assert {p for _, p, _ in await outbox()} == {2}
        await asyncio.sleep(0.3)
        assert await relay.sweep() == 0  # the second wait is twice as long

        # the whole log again, the first dossier's events included: stored once, assessed once
        await handle_event_batch(ctx, [*first, *broker.records()])
        await handle_event_batch(ctx, [*first, *broker.records()])
        async with pool.acquire() as conn:
            stored = await conn.fetch("SELECT event_id FROM processing.events ORDER BY event_id")
            dossiers = await conn.fetchval("SELECT count(*) FROM processing.dossiers")
        assert sorted(r["event_id"] for r in stored) == sorted(e["event_id"] for e in events)
        assert dossiers == 3
        assert len(compliance) == assessed + 2  # the two dossiers not assessed before; the copies: nothing
        assert await outbox() == []
        await relay.sweep()
        assert relay.unpublished == 0
    finally:
        await pool.close()


async def test_rows_stored_by_processing_before_the_outbox_was_settled_are_settled_by_the_sweep(
    database: str,
) -> None:
    """A crash between storing a batch and forgetting its outbox rows: the sweep finds them stored."""
    pool = await create_pool(database)
    broker = MemoryBroker()
    try:
        async with pool.acquire() as conn:
            key = await emitter_keys.create_key(conn, "outbox", [AGENCY])
            emitter = await emitter_keys.emitter_of(conn, key)
        assert emitter is not None
        gateway = IngestGateway(ProcessingSettings(database_url=database), lambda: pool, broker)
        events = dossier_events(1, start=datetime(2025, 3, 3, 8, tzinfo=TZ), prefix="sw")
        await gateway.ingest(emitter, events)
        await gateway.relay.drain()
        async with pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO processing.events (event_id, dossier_code, event_type, occurred_at, body) "
                "SELECT event_id, dossier_code, 'dossier.accepted', now(), convert_from(body, 'UTF8')::jsonb "
                "FROM processing.ingress_outbox"
            )
        assert await gateway.relay.sweep() == 0
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM processing.ingress_outbox") == 0
    finally:
        await pool.close()
