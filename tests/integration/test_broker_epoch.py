"""Broker epochs against a real memory broker (killed with SIGKILL) and the real PostgreSQL: within a
second of a new epoch processing sends again the assessments and events the lost broker held for
reporting, once, within the window; the copies change nothing in reporting's Decision 766 facts."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from services.processing.broker_epoch import begin_epoch
from services.processing.domain.engine import ClockRules
from services.processing.handlers import (
    ProcessingContext,
    RawMessage,
    apply_registry_change,
    handle_event_batch,
    publish_unpublished,
)
from services.processing.ingress_relay import IngressRelay
from services.reporting.adapters import index766
from shared.contracts import RegistryChange
from shared.contracts.events import parse_dossier_event
from shared.db import create_pool
from shared.devstack import LocalKafka
from shared.kafka import RawPublisher, ensure_topics
from shared.settings import CommonSettings
from tests.integration.streams import dossier_events, procedure_change, read_topic

pytestmark = pytest.mark.integration

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
WINDOW_S = 600.0


def _context(pool: asyncpg.Pool, settings: CommonSettings, publisher: RawPublisher) -> ProcessingContext:
    return ProcessingContext(
        pool=pool,
        publish_many=publisher.publish_many,
        calendar=settings.calendar(),
        rules=ClockRules(settings.in_person_cutoff, Decimal(3), Decimal(1)),
        compliance_topic=settings.topics.compliance,
        dlq_topic=settings.topics.dossier_events + ".dlq",
    )


async def test_a_new_broker_epoch_sends_again_what_reporting_may_not_have_read(
    database: str, tmp_path: Path
) -> None:
    kafka = LocalKafka(log_file=tmp_path / "broker.log").start()
    settings = CommonSettings(kafka_bootstrap_servers=kafka.bootstrap_servers, kafka_partitions=1)
    topics = settings.topics
    pool = await create_pool(database)
    publisher = RawPublisher(settings, client_id="test-epoch")
    relay: IngressRelay | None = None
    try:
        await ensure_topics(settings)
        await publisher.start()
        ctx = _context(pool, settings, publisher)
        await apply_registry_change(ctx, RegistryChange.model_validate(procedure_change()))
        events = dossier_events(3, start=datetime(2025, 3, 3, 8, tzinfo=TZ), prefix="ep")  # 12
        raw = [(e["dossier_code"].encode(), json.dumps(e).encode()) for e in events]
        await publisher.publish_many(topics.dossier_events, raw)
        await handle_event_batch(
            ctx, [RawMessage(k, v, topics.dossier_events, 0, i) for i, (k, v) in enumerate(raw)]
        )
        codes = sorted({e["dossier_code"] for e in events})
        old = codes[2]  # stored and published long before the epoch: outside the window
        async with pool.acquire() as conn:
            await conn.execute(
                "UPDATE processing.events SET received_at = now() - interval '2 hours' WHERE dossier_code = $1",
                old,
            )
            await conn.execute(
                "UPDATE processing.dossiers SET published_at = now() - interval '2 hours' WHERE dossier_code = $1",
                old,
            )
            revisions = {
                r["dossier_code"]: r["revision"]
                for r in await conn.fetch(
                    "SELECT dossier_code, revision FROM processing.dossiers WHERE published_revision = revision"
                )
            }
        assert sorted(revisions) == codes  # all three published (the trigger keeps published_at)
        assert len(await read_topic(kafka.bootstrap_servers, topics.compliance, 3)) == 3
        await publisher.stop()

        # kill -9 of the memory broker; it starts again empty on the same port
        assert kafka.proc is not None
        kafka.proc.kill()
        kafka.proc.wait()
        kafka.start()
        await ensure_topics(settings)
        assert await read_topic(kafka.bootstrap_servers, topics.compliance, 0, timeout=5) == []

        await publisher.start()  # a fresh producer for the new broker
        relay = IngressRelay(
            lambda: pool, publisher.publish_many, topics.dossier_events, epoch_window_s=WINDOW_S
        )
        relay.start()
        await asyncio.sleep(0.3)  # the relay runs before the epoch exists: it notices it live
        epoch = await begin_epoch(database, kafka.bootstrap_servers, "restarted after a crash")
        noticed = time.monotonic()
        async with pool.acquire() as conn:
            while (
                row := await conn.fetchrow(
                    "SELECT recovered_at, assessments, events FROM processing.broker_epochs WHERE epoch = $1",
                    epoch,
                )
            )["recovered_at"] is None:
                assert time.monotonic() - noticed < 5, "the relay did not notice the new epoch"
                await asyncio.sleep(0.05)
        took = time.monotonic() - noticed
        assert took < 3.0, f"recovered {took:.1f} s after the epoch (the relay turns every second)"
        print(f"epoch recovered {took:.2f} s after it was recorded")
        assert (row["assessments"], row["events"]) == (2, 8)

        # the recovery publisher (processing's timer loop) sends the two recent dossiers' assessments
        assert await publish_unpublished(ctx) == 2
        assert await publish_unpublished(ctx) == 0
        again = await read_topic(kafka.bootstrap_servers, topics.compliance, 2)
        assert {(r.key.decode(), json.loads(r.value)["revision"]) for r in again} == {
            (c, revisions[c]) for c in codes[:2]
        }
        resent = await read_topic(kafka.bootstrap_servers, topics.dossier_events, 8)
        assert sorted(parse_dossier_event(r.value).event_id for r in resent) == sorted(
            e["event_id"] for e in events if e["dossier_code"] != old
        )

        # recovered once: a restarted processing (or a second replica) does not send them again
        assert await relay.epochs.recover() == []

        # reporting's Decision 766 facts: the copies on top of the originals change nothing
        originals = [parse_dossier_event(v) for _, v in raw]
        copies = [parse_dossier_event(r.value) for r in resent]
        async with pool.acquire() as conn, conn.transaction():
            assert await index766.record(conn, originals, TZ) == 3
            facts = await conn.fetch("SELECT * FROM reporting.index766_facts ORDER BY dossier_code")
            daily = await conn.fetch("SELECT * FROM reporting.index766_daily ORDER BY day, agency_code")
            assert await index766.record(conn, copies, TZ) == 0
            assert await conn.fetch("SELECT * FROM reporting.index766_facts ORDER BY dossier_code") == facts
            assert (
                await conn.fetch("SELECT * FROM reporting.index766_daily ORDER BY day, agency_code") == daily
            )
    finally:
        if relay is not None:
            await relay.stop()
        await publisher.stop()
        await pool.close()
        kafka.stop()
