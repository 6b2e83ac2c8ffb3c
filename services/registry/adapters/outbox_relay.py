"""Publishes the registry outbox on ``tthc.registry.v1``, in order, at least once.

A chunk the broker refuses with an error that is not transient (``shared.dead_letters.is_transient``)
is published again one message at a time: a message refused for itself (an entity over the broker's
per-message limit) goes to ``tthc.registry.v1.dlq`` with the reason and counts as published, and the
changes behind it go on; a transient error (broker away) keeps the chunk for the next turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence

import asyncpg
from faststream.kafka import KafkaBroker

from services.registry.adapters import repository
from shared import metrics
from shared.dead_letters import REFUSED_KIND, brief, is_transient, publish_one_by_one, refused_dead_letter
from shared.kafka import publish_raw_many
from shared.runtime import stop_tasks
from shared.settings import Topics

log = logging.getLogger(__name__)


class OutboxRelay:
    """Drains the outbox when poked and every ``interval`` seconds.

    With ``republish=True`` it first publishes every entity's current state once: the local
    broker keeps nothing across a restart while PostgreSQL does, and consumers keep the
    highest version, so a republished state is harmless on a broker that still has it.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        broker: KafkaBroker,
        topic: str,
        interval: float = 1.0,
        *,
        republish: bool = False,
        publish_timeout_s: float = 30.0,
    ) -> None:
        self.pool = pool
        self.broker = broker
        self.topic = topic
        self.interval = interval
        self._poke = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._republish_pending = republish
        self.publish_timeout_s = publish_timeout_s

    async def _publish(self, messages: list[tuple[bytes, bytes]]) -> None:
        """Publish ``messages``; those the broker refuses for themselves are dead-lettered instead."""
        try:
            await publish_raw_many(self.broker, self.topic, messages)
            return
        except Exception as exc:
            if is_transient(exc):  # broker away or slow: the rows stay unpublished, retried next turn
                raise
            chunk_error = exc

        async def publish(topic: str, batch: Sequence[tuple[bytes, bytes]]) -> None:
            await publish_raw_many(self.broker, topic, batch)

        refused = await publish_one_by_one(publish, self.topic, messages, self.publish_timeout_s)
        if not refused:
            log.warning("registry outbox relay: %s; published one by one", type(chunk_error).__name__)
            return
        dlq = Topics.dlq(self.topic)
        letters = []
        for i, error in refused:
            key, value = messages[i]
            reason = (
                f"the broker refused registry change {key.decode(errors='replace')} ({len(value)} bytes) "
                f"on {self.topic}: {brief(error)}; it was never published"
            )
            letters.append((key, refused_dead_letter(self.topic, key, value, reason)))
            log.error("registry outbox relay: %s; dead-lettered on %s", reason, dlq)
        await publish_raw_many(self.broker, dlq, letters)
        metrics.DLQ_MESSAGES.labels("registry", dlq, REFUSED_KIND).inc(len(letters))

    async def republish(self) -> int:
        """Publish the current state of every entity; returns how many messages went out."""
        async with self._lock:
            async with self.pool.acquire() as conn:
                changes = await repository.current_state(conn)
            await self._publish([(c.key.encode(), c.model_dump_json().encode()) for c in changes])
        log.info("republished the current state of %d registry entities on %s", len(changes), self.topic)
        return len(changes)

    async def drain(self) -> int:
        """Publish everything unpublished, in outbox order; returns how many messages went out."""
        sent = 0
        async with self._lock:
            while True:
                async with self.pool.acquire() as conn:
                    rows = await repository.unpublished(conn)
                    if not rows:
                        return sent
                    await self._publish(
                        [
                            (
                                f"{row['entity']}:{row['entity_id']}".encode(),
                                json.dumps(row["message"], ensure_ascii=False).encode(),
                            )
                            for row in rows
                        ]
                    )
                    for row in rows:
                        metrics.REGISTRY_CHANGES.labels(row["entity"]).inc()
                    await repository.mark_published(conn, [r["id"] for r in rows])
                    sent += len(rows)

    def poke(self) -> None:
        self._poke.set()

    async def _run(self) -> None:
        while True:
            try:
                if self._republish_pending:
                    await self.republish()
                    self._republish_pending = False
                await self.drain()
            except Exception:  # keep relaying; the rows stay unpublished until it works
                log.exception("registry outbox relay failed; will retry")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._poke.wait()
            self._poke.clear()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="registry-outbox-relay")

    async def stop(self) -> None:
        """End the loop, then publish what is still unpublished (best effort)."""
        if self._task is not None:
            await stop_tasks([self._task])
        with contextlib.suppress(Exception):
            await self.drain()
