"""Dead letters: what a consumer does with a message it cannot use (DESIGN §2).

The record on ``<topic>.dlq`` carries the reason, a kind, where the message came from and its
original bytes, so `tthc dlq list` shows why and `tthc dlq redrive` can publish it again after a fix.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from aiokafka.errors import (
    CorruptRecordException,
    InvalidTimestampError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from shared.settings import BROKER_MESSAGE_BYTES


@dataclass(frozen=True)
class RawMessage:
    """What a consumer hands its handler: bytes as they were on the topic."""

    key: bytes | None
    value: bytes
    topic: str
    partition: int
    offset: int


def dead_letter(msg: RawMessage, reason: str, kind: str) -> bytes:
    """The DLQ record: the reason and the original bytes (as text if UTF-8, else base64)."""
    try:
        original: dict[str, str] = {"text": msg.value.decode("utf-8")}
    except UnicodeDecodeError:
        original = {"base64": base64.b64encode(msg.value).decode()}
    return json.dumps(
        {
            "reason": reason,
            "kind": kind,
            "source": {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset},
            "key": msg.key.decode("utf-8", "replace") if msg.key else None,
            "original": original,
            "failed_at": datetime.now(UTC).isoformat(),
        },
        ensure_ascii=False,
    ).encode()


# SQLSTATE classes that go away by themselves: connection (08), rollback for serialisation or
# deadlock (40), insufficient resources (53), operator intervention / shutdown (57), system (58).
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})

#: Kafka errors about the message itself (aiokafka marks them ``retriable = False``): the broker or
#: the producer refuses these bytes, and would refuse them again. Not every non-retriable Kafka
#: error is about the message — a send timeout (``KafkaTimeoutError``), an unavailable broker, a
#: closed producer, a missing authorisation are ``retriable = False`` too, yet a broker that is away
#: or misconfigured must stall a consumer (and be seen), not dead-letter every message it sees.
MESSAGE_REFUSED: tuple[type[KafkaError], ...] = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    CorruptRecordException,  # errno 2, also raised as InvalidMessageError
    InvalidTimestampError,
)


def is_transient(exc: BaseException) -> bool:
    """True for errors of a dependency that is away or busy: retrying the same work later can succeed.

    Everything else (an engine bug, data the database refuses) would fail the same way again, so
    a consumer isolates and dead-letters it instead of retrying: a batch is never retried for ever.
    """
    if isinstance(exc, asyncpg.PostgresError):
        return str(getattr(exc, "sqlstate", "") or "")[:2] in _TRANSIENT_SQLSTATE_CLASSES
    if isinstance(exc, MESSAGE_REFUSED):  # the same bytes are refused again: dead-letter them
        return False
    return isinstance(exc, asyncpg.InterfaceError | OSError | TimeoutError | KafkaError)


def brief(exc: BaseException) -> str:
    """An error in one line of a reason or a log: its type and the start of its message."""
    return f"{type(exc).__name__}: {str(exc)[:200]}"


# --- a relay's message the broker refuses --------------------------------------------------------

#: The ``kind`` of the dead letter of an outbox row the broker refused (its size, its bytes).
REFUSED_KIND = "message_too_large"
#: How much of a refused message's start its dead letter keeps when the whole does not fit.
REFUSED_HEAD_BYTES = 16_384


def refused_dead_letter(
    topic: str, key: bytes | None, value: bytes, reason: str, *, limit: int = BROKER_MESSAGE_BYTES
) -> bytes:
    """The DLQ record of a message a relay could not publish on ``topic`` (the broker refused it).

    It never was on the topic: ``source`` has partition and offset -1. The original is kept whole
    when the record fits under ``limit``; otherwise (the usual case: the message was refused for its
    size) ``original`` is ``{"truncated": {"bytes", "sha256", "head"}}`` — its size, digest and first
    ``REFUSED_HEAD_BYTES`` bytes as text — because no Kafka message can hold it.
    """
    record = dead_letter(RawMessage(key, value, topic, -1, -1), reason, REFUSED_KIND)
    if len(record) <= limit:
        return record
    body = json.loads(record)
    body["original"] = {
        "truncated": {
            "bytes": len(value),
            "sha256": hashlib.sha256(value).hexdigest(),
            "head": value[:REFUSED_HEAD_BYTES].decode("utf-8", "replace"),
        }
    }
    return json.dumps(body, ensure_ascii=False).encode()


async def publish_one_by_one(
    publish_many: Callable[[str, Sequence[tuple[bytes, bytes]]], Awaitable[None]],
    topic: str,
    messages: Sequence[tuple[bytes, bytes]],
    timeout_s: float,
) -> list[tuple[int, BaseException]]:
    """Publish ``messages`` one at a time, each acknowledged before the next (a relay whose chunk
    failed with an error that is not transient); returns ``(index, error)`` of those the broker or
    the producer refused for the message itself (:data:`MESSAGE_REFUSED`): the caller dead-letters
    them and goes on. Any other error is raised, the messages before it being on the topic.
    """
    refused: list[tuple[int, BaseException]] = []
    for i, message in enumerate(messages):
        try:
            async with asyncio.timeout(timeout_s):
                await publish_many(topic, [message])
        except MESSAGE_REFUSED as exc:
            refused.append((i, exc))
    return refused
