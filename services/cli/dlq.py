"""``tthc dlq``: inspect dead letters and re-drive them after a fix."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from typing import Any

import click
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
    def not_redrivable(self) -> str | None:
        """Why this letter's original cannot be published again (None when it can): a relay's letter
        of a message the broker refused keeps only its size, SHA-256 and first bytes (``truncated``)."""
        original = self.body.get("original")
        if not isinstance(original, dict):
            return "it holds no original message"
        cut = original.get("truncated")
        if cut is not None:
            size = cut.get("bytes", "?") if isinstance(cut, dict) else "?"
            return (
                f"its original was truncated (the message was {size} bytes; the letter keeps only its "
                "size, SHA-256 and first 16 KiB): publishing it would send a partial message; "
                "have the source send it again, under the broker's limit"
            )
        if "base64" not in original and "text" not in original:
            return "it holds no original message"
        return None

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


class NotRedriven(click.ClickException):
    """Some chosen letters were not published (the others were): which, and why."""


async def redrive(servers: str, letters: list[DeadLetter], target: str | None = None) -> int:
    """Publish the original bytes of ``letters`` again on their source topic (or ``target``).

    A letter whose original cannot be published whole (:attr:`DeadLetter.not_redrivable`) is not
    published; the others are, then :class:`NotRedriven` names the refused ones and why.
    """
    refused = [(d, why) for d in letters if (why := d.not_redrivable) is not None]
    sendable = [d for d in letters if d.not_redrivable is None]
    await _publish(servers, sendable, target)
    if refused:
        lines = "\n".join(
            f"  dead letter {d.partition}:{d.offset} not re-driven: {why}" for d, why in refused
        )
        raise NotRedriven(f"re-drove {len(sendable)} dead letter(s), refused {len(refused)}:\n{lines}")
    return len(sendable)


async def _publish(servers: str, letters: list[DeadLetter], target: str | None) -> None:
    if not letters:
        return
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
