"""Broker epochs: what processing sends again after the local memory broker started empty.

The ingress outbox (:mod:`services.processing.ingress_relay`) covers the events processing has not
stored. A memory broker that dies also takes what processing had already done and reporting had not
read yet: assessments on the compliance topic (published, so the recovery publisher would never send
them again) and dossier events reporting's Decision 766 consumer had not read. So ``tthc up``
records an epoch (:func:`record_epoch`) each time it starts its memory broker, and the relay loop
calls :meth:`EpochRecovery.recover` every second: for each new epoch it marks the assessments
published within ``window_s`` before it unpublished (the recovery publisher in the timer loop sends
them again) and publishes again the events stored within that window. Both copies are harmless:
reporting keeps the newest revision of an assessment, its 766 facts are idempotent, processing
stores an event id once. On Apache Kafka no epoch is ever recorded, so this does nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

import asyncpg

from services.processing.adapters import broker_epochs
from shared.kafka import PublishMany

log = logging.getLogger(__name__)


class EpochRecovery:
    """Recovers from new broker epochs (replicas share the table: an epoch is locked, skipped)."""

    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        publish_many: PublishMany,
        events_topic: str,
        *,
        window_s: float = 1800.0,
        publish_timeout_s: float = 10.0,
        chunk: int = 2_000,
    ) -> None:
        self._pool = pool
        self._publish_many = publish_many
        self.events_topic = events_topic
        self.window_s = window_s
        self.publish_timeout_s = publish_timeout_s
        self.chunk = chunk

    async def recover(self) -> list[broker_epochs.Epoch]:
        """Recover from every epoch not recovered yet; returns them (usually none: one cheap query).

        One transaction per epoch: if the broker refuses a chunk, nothing is marked and the next
        call starts again (copies of what went out are harmless)."""
        done: list[broker_epochs.Epoch] = []
        while True:
            async with self._pool().acquire() as conn:
                if not await conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM processing.broker_epochs WHERE recovered_at IS NULL)"
                ):
                    return done
                async with conn.transaction():
                    epoch = await broker_epochs.take_unrecovered(conn)
                    if epoch is None:  # another replica has it
                        return done
                    since = epoch.started_at - timedelta(seconds=self.window_s)
                    sent = 0
                    async for messages in broker_epochs.stored_events(
                        conn, since, epoch.started_at, self.chunk
                    ):
                        async with asyncio.timeout(self.publish_timeout_s):
                            await self._publish_many(self.events_topic, messages)
                        sent += len(messages)
                    # last: the dossiers' rows stay locked (from processing's writes) only briefly
                    marked = await broker_epochs.mark_assessments_unpublished(conn, since, epoch.started_at)
                    await broker_epochs.recovered(conn, epoch.epoch, marked, sent)
            if not marked and not sent:  # a first start, or nothing done lately: nothing to say but that
                log.info(
                    "the broker at %s started empty (epoch %d, %s): nothing processed in the %.0f s "
                    "before needs sending again",
                    epoch.servers,
                    epoch.epoch,
                    epoch.reason,
                    self.window_s,
                )
                done.append(epoch)
                continue
            log.warning(
                "the broker at %s started empty (epoch %d, %s): %d assessments published and %d events "
                "stored in the %.0f s before are sent again (what it held undelivered was lost)",
                epoch.servers,
                epoch.epoch,
                epoch.reason,
                marked,
                sent,
                self.window_s,
            )
            done.append(epoch)


async def begin_epoch(dsn: str, servers: str, reason: str) -> int:
    """Record that the local memory broker at ``servers`` (re)started empty; returns the epoch."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return await broker_epochs.begin(conn, servers, reason)
    finally:
        await conn.close()


def record_epoch(dsn: str, servers: str, reason: str) -> int:
    """:func:`begin_epoch` for the supervisor of ``tthc up`` (synchronous). Only the starter of a
    memory broker calls this: a durable broker never loses what it acknowledged."""
    return asyncio.run(begin_epoch(dsn, servers, reason))
