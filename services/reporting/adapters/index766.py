"""Decision 766 facts per dossier (``reporting.index766_facts``): written from the dossier events,
read as per-agency measures of a period."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shared.contracts.events import (
    DossierAccepted,
    DossierEvent,
    DossierFeePaid,
    DossierResolved,
    DossierResultReturned,
)
from shared.db import Conn

# Each event type sets its own columns; a later event of the type wins (ties: the same event,
# the same values), the first payment's moment is kept and a payment online makes it online.
_ACCEPTED = """
INSERT INTO reporting.index766_facts AS f (dossier_code, agency_code, accepted_at, digitized)
VALUES ($1, $2, $3, $4)
ON CONFLICT (dossier_code) DO UPDATE SET accepted_at = excluded.accepted_at, digitized = excluded.digitized
WHERE f.accepted_at IS NULL OR excluded.accepted_at >= f.accepted_at
"""
_RESOLVED = """
INSERT INTO reporting.index766_facts AS f (dossier_code, agency_code, resolved_at, result_digitized)
VALUES ($1, $2, $3, $4)
ON CONFLICT (dossier_code) DO UPDATE
SET resolved_at = excluded.resolved_at, result_digitized = excluded.result_digitized
WHERE f.resolved_at IS NULL OR excluded.resolved_at >= f.resolved_at
"""
_FEE = """
INSERT INTO reporting.index766_facts AS f (dossier_code, agency_code, fee_paid_at, fee_online)
VALUES ($1, $2, $3, $4)
ON CONFLICT (dossier_code) DO UPDATE
SET fee_paid_at = least(f.fee_paid_at, excluded.fee_paid_at),
    fee_online = coalesce(f.fee_online, false) OR excluded.fee_online
"""
_RATED = """
INSERT INTO reporting.index766_facts AS f (dossier_code, agency_code, rated_at, satisfaction)
VALUES ($1, $2, $3, $4)
ON CONFLICT (dossier_code) DO UPDATE SET rated_at = excluded.rated_at, satisfaction = excluded.satisfaction
WHERE f.rated_at IS NULL OR excluded.rated_at >= f.rated_at
"""


def statements(events: Sequence[DossierEvent]) -> dict[str, list[tuple[object, ...]]]:
    """The rows each upsert receives for these events (events that carry no 766 fact are left out)."""
    out: dict[str, list[tuple[object, ...]]] = {_ACCEPTED: [], _RESOLVED: [], _FEE: [], _RATED: []}
    for e in events:
        key = (e.dossier_code, e.agency_code, e.occurred_at)
        if isinstance(e, DossierAccepted):
            out[_ACCEPTED].append((*key, e.payload.digitized))
        elif isinstance(e, DossierResolved):
            out[_RESOLVED].append((*key, e.payload.result_digitized))
        elif isinstance(e, DossierFeePaid):
            out[_FEE].append((*key, e.payload.online))
        elif isinstance(e, DossierResultReturned) and e.payload.satisfaction is not None:
            out[_RATED].append((*key, e.payload.satisfaction))
    return out


async def record(conn: Conn, events: Sequence[DossierEvent]) -> int:
    """Apply the events' 766 facts; the number of events that carried one."""
    n = 0
    for sql, rows in statements(events).items():
        if rows:
            await conn.executemany(sql, rows)
            n += len(rows)
    return n


async def measures_by_agency(
    conn: Conn, start: datetime, end: datetime, agencies: Sequence[str] | None, satisfied_at_least: int
) -> dict[str, dict[str, int]]:
    """Per agency, the event measures of the period [start, end): each counted on its event's moment."""
    rows = await conn.fetch(
        """
        WITH f AS (
            SELECT * FROM reporting.index766_facts WHERE accepted_at >= $1 AND accepted_at < $2
            UNION
            SELECT * FROM reporting.index766_facts WHERE resolved_at >= $1 AND resolved_at < $2
            UNION
            SELECT * FROM reporting.index766_facts WHERE fee_paid_at >= $1 AND fee_paid_at < $2
            UNION
            SELECT * FROM reporting.index766_facts WHERE rated_at >= $1 AND rated_at < $2
        )
        SELECT agency_code,
               count(*) FILTER (WHERE accepted_at >= $1 AND accepted_at < $2) AS accepted,
               count(*) FILTER (WHERE accepted_at >= $1 AND accepted_at < $2 AND digitized) AS accepted_digitized,
               count(*) FILTER (WHERE resolved_at >= $1 AND resolved_at < $2) AS resolved_events,
               count(*) FILTER (WHERE resolved_at >= $1 AND resolved_at < $2 AND result_digitized)
                   AS results_digitized,
               count(*) FILTER (WHERE fee_paid_at >= $1 AND fee_paid_at < $2) AS fees_paid,
               count(*) FILTER (WHERE fee_paid_at >= $1 AND fee_paid_at < $2 AND fee_online) AS fees_paid_online,
               count(*) FILTER (WHERE rated_at >= $1 AND rated_at < $2) AS rated,
               count(*) FILTER (WHERE rated_at >= $1 AND rated_at < $2 AND satisfaction >= $4) AS rated_satisfied
        FROM f
        WHERE $3::text[] IS NULL OR agency_code = ANY($3::text[])
        GROUP BY agency_code
        """,
        start,
        end,
        list(agencies) if agencies is not None else None,
        satisfied_at_least,
    )
    return {r["agency_code"]: {k: int(v) for k, v in r.items() if k != "agency_code"} for r in rows}
