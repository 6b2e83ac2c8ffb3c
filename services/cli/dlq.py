"""``tthc dlq``: inspect dead letters and re-drive them after a fix."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    body: dict[str, Any]

    @property
    def original(self) -> bytes:
        original = self.body.get("original", {})
        if "base64" in original:
            return base64.b64decode(original["base64"])
        return str(original.get("text", "")).encode()

    @property
    def source_topic(self) -> str:
        return str(self.body.get("source", {}).get("topic", ""))


async def read_dead_letters(servers: str, topic: str, idle_ms: int = 1500) -> list[DeadLetter]:
    """Every record of ``topic`` from the beginning (read without a consumer group)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=servers, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[DeadLetter] = []
    try:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise LookupError(f"topic {topic!r} does not exist on {servers}")
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        await consumer.seek_to_beginning()
        while True:
            batch = await consumer.getmany(timeout_ms=idle_ms)
            if not batch:
                break
            for records in batch.values():
                for r in records:
                    try:
                        body = json.loads(r.value)
                    except ValueError:
                        body = {
                            "reason": "unreadable dead letter",
                            "original": {"base64": base64.b64encode(r.value).decode()},
                        }
                    found.append(DeadLetter(r.partition, r.offset, body))
    finally:
        await consumer.stop()
    return sorted(found, key=lambda d: (d.partition, d.offset))


async def redrive(servers: str, letters: list[DeadLetter], target: str | None = None) -> int:
    """Publish the original bytes of ``letters`` again on their source topic (or ``target``)."""
    producer = AIOKafkaProducer(bootstrap_servers=servers)
    await producer.start()
    try:
        futures = []
        for d in letters:
            topic = target or d.source_topic
            if not topic:
                raise ValueError(
                    f"dead letter {d.partition}:{d.offset} names no source topic; pass --to TOPIC"
                )
            key = d.body.get("key")
            headers = [("x-redriven-from", f"{d.partition}:{d.offset}".encode())]
            futures.append(
                await producer.send(topic, d.original, key=key.encode() if key else None, headers=headers)
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(letters)
