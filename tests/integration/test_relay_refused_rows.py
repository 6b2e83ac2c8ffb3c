"""An outbox row the broker refuses for its size does not block the rows behind it.

Against the session's real broker and PostgreSQL: the ingress relay (with the producer the processing
service uses) and the registry's relay (FastStream broker of the real registry app). The refused row
is on the topic's ``.dlq`` with its reason; the rows after it are published; the refused row is
settled in its outbox, so it is not retried for ever. docs/decisions.md, "Relays set aside a row
the broker refuses".
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from services.processing.adapters import ingress_outbox
from services.processing.ingress_relay import IngressRelay
from services.registry.adapters.outbox_relay import OutboxRelay
from shared import metrics
from shared.db import create_pool
from shared.dead_letters import REFUSED_KIND
from shared.kafka import RawPublisher, TopicSpec, ensure_topics
from shared.settings import BROKER_MESSAGE_BYTES, CommonSettings, Topics
from tests.conftest import Infra
from tests.integration.streams import read_topic
from tests.integration.test_registry_harness import running_registry

pytestmark = pytest.mark.integration

#: Over the producer's max_request_size and Kafka's message.max.bytes (1 MiB): written under an older,
#: larger TTHC_EVENT_MAX_BYTES, before the setting was bounded by the broker's limit.
HUGE = 2_000_000


def event(event_id: str, padding: int = 0) -> bytes:
    return json.dumps({"event_id": event_id, "note": "x" * padding}).encode()


def dlq_count(service: str, dlq: str) -> float:
    return metrics.DLQ_MESSAGES.labels(service, dlq, REFUSED_KIND)._value.get()


async def test_the_ingress_relay_dead_letters_a_refused_row_and_publishes_the_rows_behind_it(
    infra: Infra, database: str
) -> None:
    topic = f"test.refused.{uuid.uuid4().hex[:8]}"
    dlq = Topics.dlq(topic)
    settings = CommonSettings(database_url=database, kafka_bootstrap_servers=infra.bootstrap_servers)
    await ensure_topics(settings, [TopicSpec(topic, 1), TopicSpec(dlq, 1)])
    pool = await create_pool(database)
    publisher = RawPublisher(settings, "test-refused")
    await publisher.start()
    try:
        async with pool.acquire() as conn:
            await ingress_outbox.add(
                conn,
                [
                    ("ev-1", "HS-1", event("ev-1")),
                    ("ev-2", "HS-2", event("ev-2", HUGE)),
                    ("ev-3", "HS-3", event("ev-3")),
                    ("ev-4", "HS-1", event("ev-4")),
                ],
            )
        before = dlq_count("processing", dlq)
        relay = IngressRelay(lambda: pool, publisher.publish_many, topic, chunk=10)
        assert await relay.drain() == 3
        assert await relay.drain() == 0  # not retried: the refused row left the outbox

        on_topic = await read_topic(infra.bootstrap_servers, topic, 3)
        # ev-1 may be there twice (sent with the chunk, then alone): processing dedupes event ids
        assert {json.loads(r.value)["event_id"] for r in on_topic} == {"ev-1", "ev-3", "ev-4"}
        letters = await read_topic(infra.bootstrap_servers, dlq, 1)
        assert len(letters) == 1 and letters[0].key == b"HS-2"
        assert len(letters[0].value) <= BROKER_MESSAGE_BYTES
        letter = json.loads(letters[0].value)
        assert letter["kind"] == REFUSED_KIND
        assert "ev-2" in letter["reason"] and "MessageSizeTooLargeError" in letter["reason"], letter["reason"]
        assert letter["source"] == {"topic": topic, "partition": -1, "offset": -1}
        kept = letter["original"]["truncated"]
        assert kept["bytes"] == len(event("ev-2", HUGE)) and kept["head"].startswith('{"event_id": "ev-2"')
        assert dlq_count("processing", dlq) == before + 1

        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT event_id, published_at IS NOT NULL AS published FROM processing.ingress_outbox "
                "ORDER BY id"
            )
        assert [(r["event_id"], r["published"]) for r in rows] == [
            ("ev-1", True),
            ("ev-3", True),
            ("ev-4", True),
        ]
    finally:
        await publisher.stop()
        await pool.close()


async def test_a_broker_that_is_away_keeps_the_chunk_in_the_outbox(database: str) -> None:
    """The other side: a transient error (no broker) dead-letters nothing and keeps every row."""
    settings = CommonSettings(database_url=database, kafka_bootstrap_servers="127.0.0.1:9")
    pool = await create_pool(database)
    sent: list[str] = []

    async def away(topic: str, messages: object) -> None:
        sent.append(topic)
        raise ConnectionRefusedError("no broker")

    try:
        async with pool.acquire() as conn:
            await ingress_outbox.add(conn, [("ev-1", "HS-1", event("ev-1")), ("ev-2", "HS-2", event("ev-2"))])
        relay = IngressRelay(lambda: pool, away, "events", chunk=10)
        with pytest.raises(ConnectionRefusedError):
            await relay.drain()
        assert sent == ["events"]  # the chunk once, not one by one, no dead letter
        async with pool.acquire() as conn:
            assert (
                await conn.fetchval(
                    "SELECT count(*) FROM processing.ingress_outbox WHERE published_at IS NULL"
                )
                == 2
            )
    finally:
        await pool.close()
    assert settings.kafka_bootstrap_servers  # (settings only name the unreachable broker)


async def test_the_registry_relay_dead_letters_a_refused_change_and_publishes_the_changes_behind_it(
    infra: Infra,
) -> None:
    async with running_registry(infra) as registry:
        dlq = Topics.dlq(registry.topic)
        await ensure_topics(registry.settings, [TopicSpec(dlq, 1)])
        relay: OutboxRelay = registry.client._transport.app.state.relay  # type: ignore[attr-defined]
        before = dlq_count("registry", dlq)

        def change(entity_id: str, padding: int = 0) -> dict[str, object]:
            return {"entity": "procedure", "entity_id": entity_id, "version": 1, "note": "x" * padding}

        async with relay.pool.acquire() as conn:
            await conn.executemany(
                "INSERT INTO registry.outbox (entity, entity_id, version, message) VALUES ('procedure', $1, 1, $2)",
                [("P-1", change("P-1")), ("P-2", change("P-2", HUGE)), ("P-3", change("P-3"))],
            )
        relay.poke()
        async with asyncio.timeout(30):
            while True:
                async with relay.pool.acquire() as conn:
                    if not await conn.fetchval(
                        "SELECT count(*) FROM registry.outbox WHERE published_at IS NULL"
                    ):
                        break
                await asyncio.sleep(0.1)

        records = await read_topic(infra.bootstrap_servers, registry.topic, 2)
        keys = [r.key for r in records if r.key.startswith(b"procedure:P-")]
        assert set(keys) == {b"procedure:P-1", b"procedure:P-3"} and keys[-1] == b"procedure:P-3", keys
        letters = await read_topic(infra.bootstrap_servers, dlq, 1)
        assert len(letters) == 1 and letters[0].key == b"procedure:P-2"
        letter = json.loads(letters[0].value)
        assert letter["kind"] == REFUSED_KIND and "MessageSizeTooLargeError" in letter["reason"], letter
        kept = letter["original"]["truncated"]  # the key and the reason name it; its head is a sample
        assert kept["bytes"] > HUGE and len(kept["sha256"]) == 64 and '"note": "xxx' in kept["head"], kept[
            "bytes"
        ]
        assert dlq_count("registry", dlq) == before + 1
