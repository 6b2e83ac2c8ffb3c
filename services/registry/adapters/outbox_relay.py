"""Publishes the registry outbox on ``tthc.registry.v1``, in order, at least once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import asyncpg
from faststream.kafka import KafkaBroker

from services.registry.adapters import repository
from shared import metrics
from shared.kafka import publish_raw_many
from shared.runtime import stop_tasks

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
    ) -> None:
        self.pool = pool
        self.broker = broker
        self.topic = topic
        self.interval = interval
        self._poke = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._republish_pending = republish

    async def republish(self) -> int:
        """Publish the current state of every entity; returns how many messages went out."""
        async with self._lock:
            async with self.pool.acquire() as conn:
                changes = await repository.current_state(conn)
            await publish_raw_many(
                self.broker,
                self.topic,
                [(c.key.encode(), c.model_dump_json().encode()) for c in changes],
            )
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
                    await publish_raw_many(
                        self.broker,
                        self.topic,
                        [
                            (
                                f"{row['entity']}:{row['entity_id']}".encode(),
                                json.dumps(row["message"], ensure_ascii=False).encode(),
                            )
                            for row in rows
                        ],
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
