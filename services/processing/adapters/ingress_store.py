"""Tables of the HTTP ingress: ingested event ids and the portal status-sync state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from services.processing.domain.portal_mapping import PortalState
from shared.db import Conn


async def known_event_ids(conn: Conn, event_ids: Sequence[str]) -> set[str]:
    """The ids among ``event_ids`` already accepted over HTTP or already stored by the consumer."""
    if not event_ids:
        return set()
    rows = await conn.fetch(
        """
        SELECT event_id FROM processing.ingested_events WHERE event_id = ANY($1::text[])
        UNION
        SELECT event_id FROM processing.events WHERE event_id = ANY($1::text[])
        """,
        list(event_ids),
    )
    return {r["event_id"] for r in rows}


async def record_ingested(conn: Conn, event_ids: Sequence[str], emitter: str) -> None:
    """Remember ids the broker acknowledged (call only after the acks)."""
    if event_ids:
        await conn.execute(
            "INSERT INTO processing.ingested_events (event_id, emitter) "
            "SELECT e, $2 FROM unnest($1::text[]) AS e ON CONFLICT (event_id) DO NOTHING",
            list(event_ids),
            emitter,
        )


async def lock_portal_dossiers(conn: Conn, dossier_codes: Sequence[str]) -> None:
    """Serialise status-sync requests per dossier until the transaction ends (sorted: no deadlock)."""
    for code in sorted(set(dossier_codes)):
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('tthc.portal-sync:' || $1, 0))", code
        )


async def load_portal_states(conn: Conn, dossier_codes: Sequence[str]) -> dict[str, PortalState]:
    rows = await conn.fetch(
        "SELECT dossier_code, last_status, pending, pending_since, fee_amount, fee_online "
        "FROM processing.portal_dossiers WHERE dossier_code = ANY($1::text[])",
        list(set(dossier_codes)),
    )
    return {
        r["dossier_code"]: PortalState(
            r["last_status"], r["pending"], r["pending_since"], r["fee_amount"], r["fee_online"]
        )
        for r in rows
    }


async def save_portal_states(conn: Conn, states: Mapping[str, PortalState]) -> None:
    if not states:
        return
    codes = list(states)
    await conn.execute(
        """
        INSERT INTO processing.portal_dossiers AS p
            (dossier_code, last_status, pending, pending_since, fee_amount, fee_online)
        SELECT * FROM unnest($1::text[], $2::smallint[], $3::text[], $4::timestamptz[], $5::numeric[], $6::bool[])
        ON CONFLICT (dossier_code) DO UPDATE SET
            last_status = EXCLUDED.last_status, pending = EXCLUDED.pending,
            pending_since = EXCLUDED.pending_since, fee_amount = EXCLUDED.fee_amount,
            fee_online = EXCLUDED.fee_online, updated_at = now()
        """,
        codes,
        [states[c].last_status for c in codes],
        [states[c].pending for c in codes],
        [states[c].pending_since for c in codes],
        [states[c].fee_amount for c in codes],
        [states[c].fee_online for c in codes],
    )
