"""Read model of the at-risk warning (dự báo trễ hạn): open dossiers processing warned about.

A dossier is at risk while it is open within its time limit (``pending_within``, due later than
``now``) and its latest assessment carries ``at_risk_since``; once the due moment passes it is
pending overdue, counted by the forms, no longer a forecast.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from shared.db import Conn

_AT_RISK = """
    outcome = 'pending_within' AND (assessment ->> 'at_risk_since') IS NOT NULL AND due_at > $1
    AND ($2::text[] IS NULL OR agency_code = ANY($2::text[]))
"""


async def counts_by_agency(conn: Conn, now: datetime, agencies: Sequence[str] | None) -> dict[str, int]:
    """Open dossiers at risk per agency (each dossier under its own agency, not its parents)."""
    rows = await conn.fetch(
        f"SELECT agency_code, count(*) AS n FROM reporting.dossier_facts WHERE {_AT_RISK} GROUP BY agency_code",
        now,
        None if agencies is None else list(agencies),
    )
    return {r["agency_code"]: int(r["n"]) for r in rows}


async def dossiers(
    conn: Conn, now: datetime, agencies: Sequence[str] | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    """One page of the open dossiers at risk, soonest due first."""
    rows = await conn.fetch(
        f"""
        SELECT dossier_code, agency_code, procedure_code, accepted_at, due_at,
               (assessment ->> 'at_risk_since')::timestamptz AS at_risk_since,
               (assessment ->> 'forecast_resolved_at')::timestamptz AS forecast_resolved_at
        FROM reporting.dossier_facts WHERE {_AT_RISK}
        ORDER BY due_at, dossier_code LIMIT $3 OFFSET $4
        """,
        now,
        None if agencies is None else list(agencies),
        limit,
        offset,
    )
    return [dict(r) for r in rows]
