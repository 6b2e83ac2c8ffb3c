"""Broker epochs (``processing.broker_epochs``): each start of an empty local memory broker.

``tthc up`` adds a row (:func:`begin`) whenever it starts its memory broker; processing's relay
takes the unrecovered rows (:func:`take_unrecovered`), marks for publishing again the assessments
published within the window before the epoch (:func:`mark_assessments_unpublished`), publishes
again the events stored within it (:func:`stored_events`) and closes the row (:func:`recovered`).
docs/ingress.md, "Broker epochs", tells the whole story.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from shared.db import Conn


@dataclass(frozen=True, slots=True)
class Epoch:
    epoch: int
    started_at: datetime
    servers: str
    reason: str


async def begin(conn: Conn, servers: str, reason: str) -> int:
    """Record that the memory broker at ``servers`` (re)started empty; returns the new epoch."""
    return int(
        await conn.fetchval(
            "INSERT INTO processing.broker_epochs (servers, reason) VALUES ($1, $2) RETURNING epoch",
            servers,
            reason,
        )
    )


async def take_unrecovered(conn: Conn) -> Epoch | None:
    """The oldest epoch processing has not recovered from, locked until the transaction ends
    (another replica's relay skips it)."""
    row = await conn.fetchrow(
        "SELECT epoch, started_at, servers, reason FROM processing.broker_epochs "
        "WHERE recovered_at IS NULL ORDER BY epoch LIMIT 1 FOR UPDATE SKIP LOCKED"
    )
    return None if row is None else Epoch(row["epoch"], row["started_at"], row["servers"], row["reason"])


async def mark_assessments_unpublished(conn: Conn, since: datetime, until: datetime) -> int:
    """Assessments published in ``[since, until]`` count as unpublished again (the recovery publisher
    sends each dossier's current revision; reporting keeps the newest). Returns how many."""
    return int(
        await conn.fetchval(
            """
            WITH marked AS (
                UPDATE processing.dossiers SET published_revision = LEAST(published_revision, revision - 1)
                WHERE published_at BETWEEN $1 AND $2 AND published_revision >= revision
                RETURNING 1
            ) SELECT count(*) FROM marked
            """,
            since,
            until,
        )
    )


async def stored_events(
    conn: Conn, since: datetime, until: datetime, chunk: int
) -> AsyncIterator[list[tuple[bytes, bytes]]]:
    """(key, body) of the events processing stored in ``[since, until]``, in chunks, in the order
    they were stored (call inside a transaction: a server-side cursor)."""
    batch: list[tuple[bytes, bytes]] = []
    async for r in conn.cursor(
        "SELECT dossier_code, body::text AS body FROM processing.events "
        "WHERE received_at BETWEEN $1 AND $2 ORDER BY received_at, event_id",
        since,
        until,
        prefetch=chunk,
    ):
        batch.append((r["dossier_code"].encode(), r["body"].encode()))
        if len(batch) >= chunk:
            yield batch
            batch = []
    if batch:
        yield batch


async def recovered(conn: Conn, epoch: int, assessments: int, events: int) -> None:
    await conn.execute(
        "UPDATE processing.broker_epochs SET recovered_at = now(), assessments = $2, events = $3 "
        "WHERE epoch = $1",
        epoch,
        assessments,
        events,
    )
