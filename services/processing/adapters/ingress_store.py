"""Tables of the HTTP ingress: ingested event ids with their content, the agency each dossier
was first accepted for, and the portal status-sync state."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from pydantic import ValidationError

from services.processing.domain.portal_mapping import PortalState
from shared.contracts.events import DossierEvent, dossier_event_adapter
from shared.db import Conn


async def known_event_ids(conn: Conn, event_ids: Sequence[str]) -> dict[str, str | None]:
    """The ids among ``event_ids`` already accepted over HTTP or already stored by the consumer,
    with the content fingerprint each was accepted with (None when it is not known).

    An id stored by the consumer but not taken over HTTP (it came straight from Kafka) is
    fingerprinted from its stored body.
    """
    if not event_ids:
        return {}
    rows = await conn.fetch(
        """
        SELECT i.event_id, i.content_sha256, CASE WHEN i.content_sha256 IS NULL THEN e.body::text END AS body
        FROM processing.ingested_events i
        LEFT JOIN processing.events e USING (event_id)
        WHERE i.event_id = ANY($1::text[])
        UNION ALL
        SELECT e.event_id, NULL, e.body::text FROM processing.events e
        WHERE e.event_id = ANY($1::text[])
          AND NOT EXISTS (SELECT 1 FROM processing.ingested_events i WHERE i.event_id = e.event_id)
        """,
        list(event_ids),
    )
    known: dict[str, str | None] = {}
    for r in rows:
        digest = r["content_sha256"]
        if digest is None and r["body"] is not None:
            digest = _stored_fingerprint(r["body"])
        known[r["event_id"]] = digest
    return known


def content_fingerprint(event: DossierEvent) -> str:
    """Hex SHA-256 of an event as the contract reads it (spacing and key order do not count)."""
    return hashlib.sha256(event.model_dump_json().encode()).hexdigest()


def _stored_fingerprint(body: str) -> str | None:
    try:
        return content_fingerprint(dossier_event_adapter.validate_json(body))
    except ValidationError:  # stored under older bounds: compare nothing, call it a duplicate
        return None


async def record_ingested(
    conn: Conn, events: Sequence[DossierEvent], emitter: str, fingerprints: Mapping[str, str]
) -> set[str]:
    """Remember accepted events (in the transaction that puts them in the outbox): their ids with
    their content, and the agency of each dossier seen for the first time. Returns the ids recorded
    now (not those another request recorded first)."""
    if not events:
        return set()
    rows = await conn.fetch(
        "INSERT INTO processing.ingested_events (event_id, emitter, content_sha256) "
        "SELECT e, $2, h FROM unnest($1::text[], $3::text[]) AS u(e, h) ON CONFLICT (event_id) DO NOTHING "
        "RETURNING event_id",
        [e.event_id for e in events],
        emitter,
        [fingerprints.get(e.event_id) for e in events],
    )
    first: dict[str, str] = {}
    for e in events:
        first.setdefault(e.dossier_code, e.agency_code)
    await conn.execute(
        "INSERT INTO processing.ingress_dossiers (dossier_code, agency_code, emitter) "
        "SELECT d, a, $3 FROM unnest($1::text[], $2::text[]) AS u(d, a) ON CONFLICT (dossier_code) DO NOTHING",
        list(first),
        list(first.values()),
        emitter,
    )
    return {r["event_id"] for r in rows}


async def recorded_agencies(conn: Conn, dossier_codes: Sequence[str]) -> dict[str, str]:
    """The agency each known dossier belongs to: as the consumer stored it, else as the ingress
    first accepted it."""
    if not dossier_codes:
        return {}
    rows = await conn.fetch(
        """
        SELECT c AS dossier_code, coalesce(d.agency_code, i.agency_code) AS agency_code
        FROM unnest($1::text[]) AS c
        LEFT JOIN processing.dossiers d ON d.dossier_code = c
        LEFT JOIN processing.ingress_dossiers i ON i.dossier_code = c
        WHERE d.agency_code IS NOT NULL OR i.agency_code IS NOT NULL
        """,
        list(set(dossier_codes)),
    )
    return {r["dossier_code"]: r["agency_code"] for r in rows}


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
