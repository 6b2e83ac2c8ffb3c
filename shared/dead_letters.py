"""Dead letters: what a consumer does with a message it cannot use (DESIGN §2).

The record on ``<topic>.dlq`` carries the reason, a kind, where the message came from and its
original bytes, so `tthc dlq list` shows why and `tthc dlq redrive` can publish it again after a fix.
"""

from __future__ import annotations

import base64
import json
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
