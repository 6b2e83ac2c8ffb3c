"""The ingress outbox (``processing.ingress_outbox``): accepted events kept until processing holds them.

The ingress adds rows in the transaction that records the ids (:func:`add`); the relay takes the
unpublished ones (:func:`take_unpublished`), publishes them and marks them (:func:`mark_published`);
the consumer deletes a row once its event is stored or dead-lettered (:func:`settle`). Rows published
long ago and still here are published again (:func:`due_again`): a memory broker that restarted lost
them. docs/ingress.md, "Durability", tells the whole story.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.db import Conn


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    event_id: str
    key: bytes
    value: bytes


async def add(conn: Conn, rows: Sequence[tuple[str, str, bytes]]) -> None:
    """Keep ``(event_id, dossier_code, body)`` rows, in order (call in the transaction that records the ids)."""
    if not rows:
        return
    await conn.execute(
        "INSERT INTO processing.ingress_outbox (event_id, dossier_code, body) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[]) ON CONFLICT (event_id) DO NOTHING",
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
    )


async def take_unpublished(conn: Conn, limit: int) -> list[OutboxRow]:
    """The oldest unpublished rows, locked until the transaction ends (other replicas' relays skip them)."""
    rows = await conn.fetch(
        "SELECT id, event_id, dossier_code, body FROM processing.ingress_outbox "
        "WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )
    return [OutboxRow(r["id"], r["event_id"], r["dossier_code"].encode(), bytes(r["body"])) for r in rows]


async def mark_published(conn: Conn, ids: Sequence[int]) -> None:
    await conn.execute(
        "UPDATE processing.ingress_outbox SET published_at = now(), publishes = publishes + 1 "
        "WHERE id = ANY($1::bigint[])",
        list(ids),
    )


async def settle(conn: Conn, event_ids: Sequence[str]) -> None:
    """Forget the rows of events processing has stored or dead-lettered: they are safe."""
    if event_ids:
        await conn.execute(
            "DELETE FROM processing.ingress_outbox WHERE event_id = ANY($1::text[])",
            list(event_ids),
        )


async def due_again(conn: Conn, after_s: float, limit: int) -> tuple[int, int]:
    """Settle the rows processing has stored after all; mark for publishing again those published more
    than ``after_s`` seconds ago (doubling with each publish, at most 64×) that it still has not.

    Returns (settled, marked).
    """
    settled = await conn.fetchval(
        """
        WITH gone AS (
            DELETE FROM processing.ingress_outbox o USING processing.events e
            WHERE o.event_id = e.event_id AND o.published_at IS NOT NULL
            RETURNING 1
        ) SELECT count(*) FROM gone
        """
    )
    marked = await conn.fetchval(
        """
        WITH due AS (
            SELECT id FROM processing.ingress_outbox
            WHERE published_at IS NOT NULL
              AND published_at < now() - make_interval(secs => $1 * power(2, least(publishes - 1, 6)))
            ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED
        ), marked AS (
            UPDATE processing.ingress_outbox o SET published_at = NULL FROM due WHERE o.id = due.id
            RETURNING 1
        ) SELECT count(*) FROM marked
        """,
        after_s,
        limit,
    )
    return int(settled), int(marked)


async def backlog(conn: Conn) -> tuple[int, int]:
    """(unpublished, published but not yet stored by processing) rows."""
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE published_at IS NULL) AS unpublished, "
        "count(*) FILTER (WHERE published_at IS NOT NULL) AS in_flight FROM processing.ingress_outbox"
    )
    assert row is not None
    return int(row["unpublished"]), int(row["in_flight"])
