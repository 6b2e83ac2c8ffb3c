"""Publishes the ingress outbox on the events topic, at least once, until processing holds each event.

The ingress answers 202 once an event is in ``processing.ingress_outbox`` (PostgreSQL, same
transaction as its id); this relay takes it from there: it publishes the unpublished rows in order
when poked and every ``interval_s``, and every ``sweep_s`` it publishes again the rows published more
than ``republish_after_s`` ago that processing has neither stored nor dead-lettered (a memory
broker that restarted lost them). Processing dedupes event ids, so a second copy is harmless.
Each turn it also looks for a new broker epoch (:mod:`services.processing.broker_epoch`): a memory
broker that started empty, whose lost assessments and events for reporting it sends again.

A chunk the broker refuses with an error that is not transient (``shared.dead_letters.is_transient``)
is published again one row at a time: a row refused for itself (its size: written under an older,
larger ``TTHC_EVENT_MAX_BYTES``) goes to the events topic's ``.dlq`` with the reason and leaves the
outbox, and the rows behind it go on (docs/ingress.md, "Event size and the broker's limit").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import asyncpg

from services.processing.adapters import ingress_outbox
from services.processing.adapters.ingress_outbox import OutboxRow
from services.processing.broker_epoch import EpochRecovery
from shared import metrics
from shared.db import Conn
from shared.dead_letters import REFUSED_KIND, brief, is_transient, publish_one_by_one, refused_dead_letter
from shared.kafka import PublishMany
from shared.runtime import stop_tasks
from shared.settings import Topics

log = logging.getLogger(__name__)


class IngressRelay:
    """The outbox relay of one processing process (replicas share the outbox: rows are locked, skipped)."""

    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        publish_many: PublishMany,
        topic: str,
        *,
        interval_s: float = 1.0,
        sweep_s: float = 5.0,
        republish_after_s: float = 60.0,
        publish_timeout_s: float = 10.0,
        chunk: int = 2_000,
        epoch_window_s: float = 1800.0,
    ) -> None:
        self._pool = pool
        self._publish_many = publish_many
        self.topic = topic
        self.interval_s = interval_s
        self.sweep_s = sweep_s
        self.republish_after_s = republish_after_s
        self.publish_timeout_s = publish_timeout_s
        self.chunk = chunk
        self.unpublished = 0  # rows not on the topic, as last counted (the ingress refuses above a limit)
        self._poke = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._swept_at = float("-inf")
        self._epoch_checked_at = float("-inf")
        self.epochs = EpochRecovery(
            pool,
            publish_many,
            topic,
            window_s=epoch_window_s,
            publish_timeout_s=publish_timeout_s,
            chunk=chunk,
        )

    def poke(self) -> None:
        """New rows: publish them now rather than at the next interval."""
        self._poke.set()

    async def drain(self) -> int:
        """Publish every unpublished row, oldest first; returns how many went out."""
        sent = 0
        async with self._lock:
            while True:
                async with self._pool().acquire() as conn, conn.transaction():
                    rows = await ingress_outbox.take_unpublished(conn, self.chunk)
                    if not rows:
                        self.unpublished = 0
                        return sent
                    messages = [(r.key, r.value) for r in rows]
                    try:
                        async with asyncio.timeout(self.publish_timeout_s):
                            await self._publish_many(self.topic, messages)
                        refused: list[tuple[int, BaseException]] = []
                    except Exception as exc:
                        if is_transient(exc):  # broker away or slow: the chunk waits in the outbox
                            raise
                        # a row the broker refuses (its size) would block every row behind it for ever
                        refused = await publish_one_by_one(
                            self._publish_many, self.topic, messages, self.publish_timeout_s
                        )
                        if not refused:  # refused as a chunk, taken one by one: nothing to set aside
                            log.warning("ingress outbox relay: %s; published one by one", brief(exc))
                        await self._dead_letter(conn, [(rows[i], e) for i, e in refused])
                    gone = {i for i, _ in refused}
                    published = [r for i, r in enumerate(rows) if i not in gone]
                    await ingress_outbox.mark_published(conn, [r.id for r in published])
                metrics.INGRESS_OUTBOX_PUBLISHED.inc(len(published))
                sent += len(published)

    async def _dead_letter(self, conn: Conn, refused: list[tuple[OutboxRow, BaseException]]) -> None:
        """Put the rows the broker refused on the events topic's dead-letter topic with the reason, and
        settle them: they leave the outbox (in the caller's transaction), the rows behind them go on."""
        if not refused:
            return
        dlq = Topics.dlq(self.topic)
        letters = []
        for row, exc in refused:
            reason = (
                f"the broker refused accepted event {row.event_id} ({len(row.value)} bytes) on {self.topic}: "
                f"{brief(exc)}; it was never published. Ask its emitter to send it again smaller "
                f"(TTHC_EVENT_MAX_BYTES bounds what the ingress accepts now)"
            )
            letters.append((row.key, refused_dead_letter(self.topic, row.key, row.value, reason)))
            log.error("ingress outbox relay: %s; dead-lettered on %s", reason, dlq)
        async with asyncio.timeout(self.publish_timeout_s):
            await self._publish_many(dlq, letters)
        await ingress_outbox.settle(conn, [row.event_id for row, _ in refused])
        metrics.DLQ_MESSAGES.labels("processing", dlq, REFUSED_KIND).inc(len(refused))

    async def sweep(self) -> int:
        """Settle what processing stored, mark for publishing again what it still lacks, count the
        backlog; returns how many rows were marked."""
        async with self._pool().acquire() as conn:
            settled, marked = await ingress_outbox.due_again(conn, self.republish_after_s, self.chunk)
            unpublished, in_flight = await ingress_outbox.backlog(conn)
        self.unpublished = unpublished
        metrics.INGRESS_OUTBOX_ROWS.labels("unpublished").set(unpublished)
        metrics.INGRESS_OUTBOX_ROWS.labels("published").set(in_flight)
        if marked:
            metrics.INGRESS_OUTBOX_REPUBLISHED.inc(marked)
            log.warning(
                "%d accepted events were published more than %.0f s ago and processing has not stored them "
                "(a broker restart loses what it held); publishing them again",
                marked,
                self.republish_after_s,
            )
        if settled:
            log.info("%d outbox rows settled by processing's events table", settled)
        return marked

    async def _run(self) -> None:
        while True:
            self._poke.clear()  # before the drain: a poke during it is not lost
            if time.monotonic() - self._epoch_checked_at >= self.interval_s:  # not on every poke
                self._epoch_checked_at = time.monotonic()
                try:
                    await self.epochs.recover()
                except Exception as exc:  # not recovered: the epoch stays open and is tried next turn
                    log.warning("broker epoch recovery: %s; will retry", brief(exc))
            try:
                if time.monotonic() - self._swept_at >= self.sweep_s:
                    self._swept_at = time.monotonic()
                    if await self.sweep():
                        self._poke.set()
                await self.drain()
            except Exception as exc:  # broker or PostgreSQL away: the rows wait in the outbox
                log.warning("ingress outbox relay: %s; will retry", brief(exc))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval_s):
                    await self._poke.wait()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ingress-outbox-relay")

    async def stop(self) -> None:
        """End the loop, then publish what is still unpublished (best effort: the rows stay otherwise)."""
        if self._task is not None:
            await stop_tasks([self._task])
            self._task = None
        with contextlib.suppress(Exception):
            await self.drain()
