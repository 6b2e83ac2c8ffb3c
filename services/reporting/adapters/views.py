"""Read models of reporting: plain SQL over the rollups, the facts and the registry copy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from services.reporting.domain.cumulative import pieces_before
from services.reporting.domain.form06 import AgencyInfo
from services.reporting.domain.rollup import COUNTERS
from shared.contracts.registry import AgencyRecord, QmsRecord
from shared.db import Conn

Cells = dict[tuple[str, str], dict[str, dict[str, int]]]  # (agency, field) → point → counters

_SUMS = ", ".join(f"sum(r.{c})::bigint AS {c}" for c in COUNTERS)


async def subtree(conn: Conn, root: str) -> list[str]:
    """``root`` and every agency below it in the registry copy (just ``root`` if unknown)."""
    rows = await conn.fetch(
        """
        WITH RECURSIVE tree(code) AS (
            SELECT $1::text
            UNION
            SELECT a.code FROM reporting.agencies a JOIN tree t ON a.parent_code = t.code WHERE NOT a.deleted
        )
        SELECT code FROM tree ORDER BY code
        """,
        root,
    )
    return [r["code"] for r in rows]


async def agency_infos(conn: Conn) -> dict[str, AgencyInfo]:
    rows = await conn.fetch(
        "SELECT code, coalesce(name, code) AS name, coalesce(level, 'other') AS level "
        "FROM reporting.agencies WHERE NOT deleted"
    )
    return {r["code"]: AgencyInfo(r["code"], r["name"], r["level"]) for r in rows}


async def cumulative(
    conn: Conn,
    points: Mapping[str, date],
    agencies: Sequence[str] | None,
    counters: Sequence[str] = COUNTERS,
) -> Cells:
    """Per (agency, field): the cumulative ``counters`` of every day before each named point.

    One index range scan per bucket range (``UNION ALL``), so the rows read are bounded by
    the buckets, never by the table (a join on a list of ranges makes the planner scan it
    all); one aggregate pivots the points into columns.
    """
    if not set(counters) <= set(COUNTERS):
        raise ValueError(f"unknown counters: {sorted(set(counters) - set(COUNTERS))}")
    cols = ", ".join(counters)
    parts: list[str] = []
    args: list[Any] = [list(agencies) if agencies is not None else None]
    for name, d in points.items():
        for grain, lo, hi in pieces_before(d):
            n = len(args)
            args += [name, grain, lo, hi]
            parts.append(
                f"SELECT ${n + 1}::text AS which, agency_code, field, {cols} FROM reporting.field_rollup "
                f"WHERE grain = ${n + 2}::text AND bucket >= ${n + 3}::date AND bucket < ${n + 4}::date "
                "AND ($1::text[] IS NULL OR agency_code = ANY($1::text[]))"
            )
    names = list(points)
    pivot = ", ".join(
        f"coalesce(sum({c}) FILTER (WHERE which = '{p}'), 0)::bigint" for p in names for c in counters
    )
    sql = f"SELECT agency_code, field, {pivot} FROM ({' UNION ALL '.join(parts)}) u GROUP BY 1, 2"
    out: Cells = {}
    width = len(counters)
    for r in await conn.fetch(sql, *args):
        values = tuple(r)[2:]
        out[(r[0], r[1])] = {
            p: dict(zip(counters, values[i * width : (i + 1) * width], strict=True))
            for i, p in enumerate(names)
        }
    return out


async def overdue_corrections(
    conn: Conn, day_start: datetime, now: datetime, agencies: Sequence[str] | None
) -> dict[tuple[str, str], int]:
    """Pending overdue at ``now`` minus pending overdue at the day's start, per (agency, field).

    Only dossiers due or closed between the two instants change it: an indexed look at
    today's few facts, not a scan.
    """
    rows = await conn.fetch(
        """
        WITH changes AS (
            SELECT agency_code, procedure_code, 1 AS n FROM reporting.dossier_facts
            WHERE due_at >= $1 AND due_at < $2 AND accepted_at IS NOT NULL
              AND (closed_at IS NULL OR closed_at >= $2)
            UNION ALL
            SELECT agency_code, procedure_code, -1 FROM reporting.dossier_facts
            WHERE closed_at >= $1 AND closed_at < $2 AND due_at < $1 AND accepted_at IS NOT NULL
        )
        SELECT c.agency_code, coalesce(p.field, '') AS field, sum(c.n)::int AS n
        FROM changes c LEFT JOIN reporting.procedures p ON p.code = c.procedure_code AND NOT p.deleted
        WHERE $3::text[] IS NULL OR c.agency_code = ANY($3::text[])
        GROUP BY 1, 2
        """,
        day_start,
        now,
        list(agencies) if agencies is not None else None,
    )
    return {(r["agency_code"], r["field"]): r["n"] for r in rows}


async def monthly_flows(
    conn: Conn, first: date, end: date, agencies: Sequence[str] | None
) -> list[dict[str, Any]]:
    """Flows per month bucket in [first, end) summed over agencies (dashboard trend)."""
    rows = await conn.fetch(
        f"""
        SELECT r.bucket, {_SUMS} FROM reporting.field_rollup r
        WHERE r.grain = 'M' AND r.bucket >= $1 AND r.bucket < $2
          AND ($3::text[] IS NULL OR r.agency_code = ANY($3::text[]))
        GROUP BY 1 ORDER BY 1
        """,
        first,
        end,
        list(agencies) if agencies is not None else None,
    )
    return [{"month": r["bucket"], **{c: int(r[c]) for c in COUNTERS}} for r in rows]


async def procedure_flows(conn: Conn, agency: str, first: date, end: date) -> list[dict[str, Any]]:
    """Flows per procedure of one agency in [first, end) (dashboard drill-down)."""
    rows = await conn.fetch(
        f"""
        SELECT r.procedure_code, p.name, coalesce(p.field, '') AS field, {_SUMS}
        FROM reporting.daily_rollup r
        LEFT JOIN reporting.procedures p ON p.code = r.procedure_code AND NOT p.deleted
        WHERE r.agency_code = $1 AND r.day >= $2 AND r.day < $3
        GROUP BY 1, 2, 3 ORDER BY 1
        """,
        agency,
        first,
        end,
    )
    return [
        {
            "procedure_code": r["procedure_code"],
            "name": r["name"],
            "field": r["field"],
            **{c: int(r[c]) for c in COUNTERS},
        }
        for r in rows
    ]


async def pending_by_procedure(conn: Conn, agency: str, at: datetime) -> dict[str, tuple[int, int]]:
    """(pending, pending overdue) per procedure of one agency at ``at``."""
    rows = await conn.fetch(
        """
        SELECT procedure_code, count(*)::int AS pending, count(*) FILTER (WHERE due_at < $2)::int AS overdue
        FROM reporting.dossier_facts
        WHERE agency_code = $1 AND accepted_at < $2 AND (closed_at IS NULL OR closed_at >= $2)
        GROUP BY 1
        """,
        agency,
        at,
    )
    return {r["procedure_code"]: (r["pending"], r["overdue"]) for r in rows}


async def dossiers(
    conn: Conn, agency: str, procedure: str, start: datetime, end: datetime, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Dossiers of one agency and procedure accepted in [start, end), or still pending then."""
    where = """
        agency_code = $1 AND procedure_code = $2 AND accepted_at < $4
        AND (accepted_at >= $3 OR closed_at IS NULL OR closed_at >= $3)
    """
    total = await conn.fetchval(
        f"SELECT count(*) FROM reporting.dossier_facts WHERE {where}", agency, procedure, start, end
    )
    rows = await conn.fetch(
        f"""
        SELECT dossier_code, status, outcome, channel, accepted_at, due_at, resolved_at, closed_at,
               jsonb_array_length(coalesce(assessment->'nonconformities', '[]'::jsonb)) AS nonconformities
        FROM reporting.dossier_facts WHERE {where}
        ORDER BY accepted_at, dossier_code LIMIT $5 OFFSET $6
        """,
        agency,
        procedure,
        start,
        end,
        limit,
        offset,
    )
    return [dict(r) for r in rows], int(total)


async def dossier(conn: Conn, code: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT assessment, revision FROM reporting.dossier_facts WHERE dossier_code = $1", code
    )
    if row is None:
        return None
    doc: dict[str, Any] = dict(row["assessment"])
    doc["revision"] = row["revision"]
    return doc


async def nonconformity_counts(
    conn: Conn, first: date, end: date, agencies: Sequence[str] | None
) -> list[dict[str, Any]]:
    """Nonconformities detected in [first, end) per code and status."""
    rows = await conn.fetch(
        """
        SELECT code, status, sum(n)::int AS n FROM reporting.nonconformity_rollup
        WHERE day >= $1 AND day < $2 AND ($3::text[] IS NULL OR agency_code = ANY($3::text[]))
        GROUP BY 1, 2 HAVING sum(n) <> 0 ORDER BY 1, 2
        """,
        first,
        end,
        list(agencies) if agencies is not None else None,
    )
    return [dict(r) for r in rows]


async def nonconformity_register(
    conn: Conn,
    *,
    start: datetime,
    end: datetime,
    agencies: Sequence[str] | None,
    procedure: str | None,
    code: str | None,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """Nonconformities detected in [start, end) matching the filters, newest first."""
    where = """
        detected_at >= $1 AND detected_at < $2
        AND ($3::text[] IS NULL OR agency_code = ANY($3::text[]))
        AND ($4::text IS NULL OR procedure_code = $4)
        AND ($5::text IS NULL OR code = $5)
        AND ($6::text IS NULL OR status = $6)
    """
    args = (start, end, list(agencies) if agencies is not None else None, procedure, code, status)
    total = await conn.fetchval(f"SELECT count(*) FROM reporting.nonconformities WHERE {where}", *args)
    rows = await conn.fetch(
        f"""
        SELECT dossier_code, agency_code, procedure_code, code, clause, status, detected_at, detail,
               corrective_action
        FROM reporting.nonconformities WHERE {where}
        ORDER BY detected_at DESC, dossier_code, seq LIMIT $7 OFFSET $8
        """,
        *args,
        limit,
        offset,
    )
    return [dict(r) for r in rows], int(total)


async def open_nonconformities_by_agency(conn: Conn) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT agency_code, sum(n)::int AS n FROM reporting.nonconformity_rollup "
        "WHERE status <> 'closed' GROUP BY 1 HAVING sum(n) <> 0"
    )
    return {r["agency_code"]: r["n"] for r in rows}


async def qms_inputs(
    conn: Conn, agencies: Sequence[str] | None
) -> tuple[list[AgencyRecord], dict[str, QmsRecord]]:
    """The registry copy's agencies and QMS records (within ``agencies`` when given)."""
    arows = await conn.fetch(
        "SELECT data FROM reporting.agencies WHERE NOT deleted AND ($1::text[] IS NULL OR code = ANY($1::text[]))",
        list(agencies) if agencies is not None else None,
    )
    qrows = await conn.fetch(
        "SELECT agency_code, data FROM reporting.qms WHERE NOT deleted "
        "AND ($1::text[] IS NULL OR agency_code = ANY($1::text[]))",
        list(agencies) if agencies is not None else None,
    )
    return (
        [AgencyRecord.model_validate(r["data"]) for r in arows],
        {r["agency_code"]: QmsRecord.model_validate(r["data"]) for r in qrows},
    )
