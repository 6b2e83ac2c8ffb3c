"""Stored report snapshots (reporting.report_snapshots) and the facts changed after one. Plain SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from shared.db import Conn


@dataclass(frozen=True)
class Snapshot:
    id: int
    report: str
    calendar: str
    period: str
    agency_code: str
    made_at: datetime
    made_by: str
    reason: str
    facts_seq: int
    content: dict[str, Any]
    content_sha256: str

    def describe(self, tz: tzinfo) -> dict[str, Any]:
        """What the API says about a snapshot besides its content (times in the reporting time zone)."""
        return {
            "id": self.id,
            "report": self.report,
            "calendar": self.calendar,
            "period": self.period,
            "agency": self.agency_code or None,
            "made_at": self.made_at.astimezone(tz).isoformat(),
            "made_by": self.made_by,
            "reason": self.reason,
            "content_sha256": self.content_sha256,
        }


def _snapshot(r: Any) -> Snapshot:
    return Snapshot(**{k: r[k] for k in Snapshot.__dataclass_fields__})


async def facts_seq(conn: Conn) -> int:
    """The last number handed to a fact change (0 before the first)."""
    seq: int | None = await conn.fetchval("SELECT pg_sequence_last_value('reporting.fact_changes')")
    return seq or 0


async def insert(
    conn: Conn,
    *,
    report: str,
    calendar: str,
    period: str,
    agency_code: str,
    made_at: datetime,
    made_by: str,
    reason: str,
    seq: int,
    content: dict[str, Any],
    sha256: str,
) -> Snapshot:
    row = await conn.fetchrow(
        """
        INSERT INTO reporting.report_snapshots
            (report, calendar, period, agency_code, made_at, made_by, reason, facts_seq, content, content_sha256)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        RETURNING *
        """,
        report,
        calendar,
        period,
        agency_code,
        made_at,
        made_by,
        reason,
        seq,
        content,
        sha256,
    )
    return _snapshot(row)


async def latest(conn: Conn, report: str, calendar: str, period: str, agency_code: str) -> Snapshot | None:
    """The submitted report: the latest snapshot of (report, calendar, period, agency)."""
    row = await conn.fetchrow(
        """
        SELECT * FROM reporting.report_snapshots
        WHERE report = $1 AND calendar = $2 AND period = $3 AND agency_code = $4
        ORDER BY id DESC LIMIT 1
        """,
        report,
        calendar,
        period,
        agency_code,
    )
    return None if row is None else _snapshot(row)


async def listing(
    conn: Conn, period: str, calendar: str, agency_codes: Sequence[str] | None
) -> list[Snapshot]:
    rows = await conn.fetch(
        """
        SELECT * FROM reporting.report_snapshots
        WHERE period = $1 AND calendar = $2 AND ($3::text[] IS NULL OR agency_code = ANY($3::text[]))
        ORDER BY report, agency_code, id
        """,
        period,
        calendar,
        list(agency_codes) if agency_codes is not None else None,
    )
    return [_snapshot(r) for r in rows]


async def changed_after(
    conn: Conn, seq: int, start: datetime, end: datetime, agencies: Sequence[str] | None
) -> list[dict[str, Any]]:
    """Dossiers of the period [start, end) (accepted in it, or pending during it) whose fact
    changed after change number ``seq``: the late events a submitted report does not hold."""
    rows = await conn.fetch(
        """
        SELECT dossier_code, agency_code, procedure_code, status, outcome, accepted_at, resolved_at, closed_at
        FROM reporting.dossier_facts
        WHERE changed_seq > $1 AND accepted_at < $3
          AND (accepted_at >= $2 OR closed_at IS NULL OR closed_at >= $2)
          AND ($4::text[] IS NULL OR agency_code = ANY($4::text[]))
        ORDER BY changed_seq
        """,
        seq,
        start,
        end,
        list(agencies) if agencies is not None else None,
    )
    return [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in dict(r).items()} for r in rows]
