"""The at-risk model's data: observed durations from processing's own tables, and the counts for /metrics.

The model is rebuilt from the database (at start and every ``TTHC_FORECAST_REFRESH_S``), so a
restart loses nothing: the warnings themselves live beside the stored assessments (columns
``at_risk_since`` and ``forecast_resolved_at``) and their timers in ``next_deadline``, like every
other timer.
"""

from __future__ import annotations

from services.processing.domain.forecast import ACCEPTED, RemainingTimes
from shared import metrics
from shared.db import Conn

# Outcomes of a resolution the durations are learned from (not refusals, withdrawals, censored cases).
_RESOLVED = ["early", "on_time", "late"]


async def learn(conn: Conn, quantile: float, min_samples: int, limit: int = 200_000) -> RemainingTimes:
    """The model of the ``limit`` most recent resolutions (acceptance and each step → resolution)."""
    rows = await conn.fetch(
        """
        WITH recent AS (
            SELECT dossier_code, procedure_code, accepted_at, resolved_at FROM processing.dossiers
            WHERE resolved_at IS NOT NULL AND accepted_at IS NOT NULL AND resolved_at >= accepted_at
              AND outcome = ANY($1::text[])
            ORDER BY resolved_at DESC LIMIT $2
        )
        SELECT procedure_code, $3::text AS milestone,
               extract(epoch FROM resolved_at - accepted_at)::float8 AS seconds
        FROM recent
        UNION ALL
        SELECT r.procedure_code, e.body -> 'payload' ->> 'step_code',
               extract(epoch FROM r.resolved_at - e.occurred_at)::float8
        FROM recent r JOIN processing.events e
          ON e.dossier_code = r.dossier_code AND e.event_type = 'dossier.step_completed'
         AND e.occurred_at >= r.accepted_at AND e.occurred_at <= r.resolved_at
        """,
        _RESOLVED,
        limit,
        ACCEPTED,
    )
    samples: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        samples.setdefault((r["procedure_code"], r["milestone"]), []).append(r["seconds"])
    return RemainingTimes(samples, quantile, min_samples)


async def at_risk_by_agency(conn: Conn) -> dict[str, int]:
    """Open dossiers warned AT_RISK and still within their time limit, per agency (past it they
    are pending overdue: no longer a forecast)."""
    rows = await conn.fetch(
        "SELECT agency_code, count(*) AS n FROM processing.dossiers "
        "WHERE outcome = 'pending_within' AND at_risk_since IS NOT NULL GROUP BY agency_code"
    )
    return {r["agency_code"]: int(r["n"]) for r in rows}


async def export_at_risk(conn: Conn) -> dict[str, int]:
    """Set ``tthc_agency_dossiers_at_risk`` from the table: one series per agency, never per dossier;
    an agency with none left loses its series."""
    counts = await at_risk_by_agency(conn)
    metrics.AGENCY_AT_RISK.clear()
    for agency, n in counts.items():
        metrics.AGENCY_AT_RISK.labels(agency).set(n)
    return counts
