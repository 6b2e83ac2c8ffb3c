"""The at-risk report (dự báo trễ hạn, issue #17): which open dossiers processing warned will be late.

Processing estimates each open dossier's resolution from the durations observed for the same
procedure and step, and publishes ``at_risk_since`` (the first warning) and
``forecast_resolved_at`` (the current estimate) with its assessment on ``tthc.compliance.v1``;
reporting keeps the latest message per dossier. One builder for the API and the dashboard page.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

from services.reporting.adapters import at_risk_views, dashboard_views
from shared.db import Conn


async def at_risk_report(
    conn: Conn, now: datetime, tz: tzinfo, agencies: Sequence[str] | None, *, limit: int, offset: int
) -> dict[str, Any]:
    """Open dossiers at risk in ``agencies`` (None: all) at ``now``: counts per agency and one page.

    Moments are ISO 8601 in ``tz`` (the reporting time zone).
    """

    def _iso(v: datetime | None) -> str | None:
        return v.astimezone(tz).isoformat() if v is not None else None

    counts = await at_risk_views.counts_by_agency(conn, now, agencies)
    rows = await at_risk_views.dossiers(conn, now, agencies, limit, offset)
    nodes = await dashboard_views.agency_nodes(conn)
    procedures = await dashboard_views.procedure_names(conn)

    def agency_name(code: str) -> str:
        node = nodes.get(code)
        return node.name if node is not None else code

    return {
        "report": "at_risk",
        "as_of": _iso(now),
        "total": sum(counts.values()),
        "limit": limit,
        "offset": offset,
        "by_agency": [
            {"agency_code": code, "agency_name": agency_name(code), "at_risk": n}
            for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], agency_name(kv[0])))
        ],
        "items": [
            {
                "dossier_code": r["dossier_code"],
                "agency_code": r["agency_code"],
                "agency_name": agency_name(r["agency_code"]),
                "procedure_code": r["procedure_code"],
                "procedure_name": procedures.get(r["procedure_code"], r["procedure_code"]),
                "accepted_at": _iso(r["accepted_at"]),
                "due_at": _iso(r["due_at"]),
                "at_risk_since": _iso(r["at_risk_since"]),
                "forecast_resolved_at": _iso(r["forecast_resolved_at"]),
            }
            for r in rows
        ],
    }
