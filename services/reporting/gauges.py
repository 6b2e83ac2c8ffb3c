"""Recomputes the reporting gauges (per level and per agency) from the rollups, periodically."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.reporting import reports
from services.reporting.adapters import views
from services.reporting.domain.cumulative import add_counts
from services.reporting.domain.indicators import indicators
from services.reporting.domain.periods import parse_period
from services.reporting.domain.rollup import COUNTERS
from shared import metrics


async def refresh_gauges(pool: asyncpg.Pool, now: datetime) -> None:
    """On-time rate (current year), pending overdue (now) and open nonconformities."""
    b = reports.bounds(parse_period(str(now.year)), now.tzinfo, now)  # type: ignore[arg-type]
    async with pool.acquire() as conn:
        flows = await reports.flows_per_agency(conn, b, None)
        doc = await reports.form06(conn, b, None, None)
        open_ncs = await views.open_nonconformities_by_agency(conn)
        infos = await views.agency_infos(conn)

    def level(code: str) -> str:
        return infos[code].level if code in infos else "other"

    per_level: dict[str, dict[str, int]] = {}
    for code, f in flows.items():
        add_counts(per_level.setdefault(level(code), dict.fromkeys(COUNTERS, 0)), f)
    overdue = {r["agency_code"]: r["pending_overdue"] for r in doc["rows"]}
    overdue_level: dict[str, int] = {}
    for code, n in overdue.items():
        overdue_level[level(code)] = overdue_level.get(level(code), 0) + n
    nc_level: dict[str, int] = {}
    for code, n in open_ncs.items():
        nc_level[level(code)] = nc_level.get(level(code), 0) + n

    for gauge in (
        metrics.ON_TIME_RATE,
        metrics.PENDING_OVERDUE,
        metrics.OPEN_NONCONFORMITIES,
        metrics.AGENCY_ON_TIME_RATE,
        metrics.AGENCY_PENDING_OVERDUE,
        metrics.AGENCY_OPEN_NONCONFORMITIES,
    ):
        gauge.clear()  # agencies that left the scope must not keep a stale series
    for lvl, f in per_level.items():
        rate = indicators(f)["on_time_rate"]
        if rate is not None:
            metrics.ON_TIME_RATE.labels(lvl).set(rate)
    for code, f in flows.items():
        rate = indicators(f)["on_time_rate"]
        if rate is not None:
            metrics.AGENCY_ON_TIME_RATE.labels(code).set(rate)
    for lvl, n in overdue_level.items():
        metrics.PENDING_OVERDUE.labels(lvl).set(n)
    for code, n in overdue.items():
        metrics.AGENCY_PENDING_OVERDUE.labels(code).set(n)
    for lvl, n in nc_level.items():
        metrics.OPEN_NONCONFORMITIES.labels(lvl).set(n)
    for code, n in open_ncs.items():
        metrics.AGENCY_OPEN_NONCONFORMITIES.labels(code).set(n)
