"""Building and moving test streams on the real broker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

AGENCY = "000.00.13.H13"
PROCEDURE = "1.004845"


def procedure_change(code: str = PROCEDURE, days: int = 2, version: int = 1) -> dict[str, Any]:
    return {
        "entity": "procedure",
        "entity_id": code,
        "version": version,
        "changed_at": datetime.now(UTC).isoformat(),
        "data": {
            "code": code,
            "name": "Thủ tục đăng ký chấm dứt giám hộ",
            "statutory_time": {"value": str(days), "unit": "working_days"},
        },
    }


def dossier_events(n_dossiers: int, *, start: datetime, prefix: str = "d") -> list[dict[str, Any]]:
    """Per dossier: accepted, a step, resolved (late for every 5th), result returned — 4 events."""
    out = []
    for i in range(n_dossiers):
        accepted = start + timedelta(minutes=7 * i)
        code = f"{AGENCY}-{accepted:%y%m%d}-{i:06d}"
        base = {"source": "test", "dossier_code": code, "agency_code": AGENCY, "procedure_code": PROCEDURE}
        took = timedelta(days=6 if i % 5 == 0 else 1)
        out += [
            {
                **base,
                "event_id": f"{prefix}{i}-a",
                "event_type": "dossier.accepted",
                "occurred_at": accepted.isoformat(),
                "payload": {"channel": 1 + i % 3},
            },
            {
                **base,
                "event_id": f"{prefix}{i}-s",
                "event_type": "dossier.step_completed",
                "occurred_at": (accepted + timedelta(hours=2)).isoformat(),
                "payload": {"step_code": "B1", "from_unit": "MC", "to_unit": "TP"},
            },
            {
                **base,
                "event_id": f"{prefix}{i}-r",
                "event_type": "dossier.resolved",
                "occurred_at": (accepted + took).isoformat(),
                "payload": {},
            },
            {
                **base,
                "event_id": f"{prefix}{i}-t",
                "event_type": "dossier.result_returned",
                "occurred_at": (accepted + took + timedelta(hours=1)).isoformat(),
                "payload": {},
            },
        ]
    return out


async def produce(servers: str, topic: str, messages: Iterable[tuple[bytes | None, bytes]]) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=servers, linger_ms=10, max_batch_size=256 * 1024)
    await producer.start()
    n = 0
    try:
        futures = []
        for key, value in messages:
            futures.append(await producer.send(topic, value, key=key))
            n += 1
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return n


def as_messages(events: Iterable[dict[str, Any]]) -> list[tuple[bytes | None, bytes]]:
    return [(str(e["dossier_code"]).encode(), json.dumps(e).encode()) for e in events]


async def read_topic(servers: str, topic: str, expected: int, timeout: float = 60) -> list[Any]:
    """Read ``expected`` records from the start of ``topic`` (no group)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=servers, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    got: list[Any] = []
    try:
        from aiokafka import TopicPartition

        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            await consumer._client.force_metadata_update()  # a fresh client may not know the topic yet
            parts = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in parts])
        await consumer.seek_to_beginning()
        async with asyncio.timeout(timeout):
            while len(got) < expected:
                for records in (await consumer.getmany(timeout_ms=300)).values():
                    got += records
        # anything beyond what was expected is an error too
        for records in (await consumer.getmany(timeout_ms=500)).values():
            got += records
    finally:
        await consumer.stop()
    return got


async def wait_until(dsn: str, sql: str, expected: Any, timeout: float = 90) -> Any:
    conn = await asyncpg.connect(dsn)
    value = None
    try:
        async with asyncio.timeout(timeout):
            while (value := await conn.fetchval(sql)) != expected:
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"{sql!r} stayed at {value!r}, expected {expected!r}") from None
    finally:
        await conn.close()
    return value
