"""Read models of reporting: plain SQL over the rollups, the facts and the registry copy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date, datetime
from typing import Any

import asyncpg

from services.reporting.domain.cumulative import WeightedPiece
from services.reporting.domain.form06 import FORM06_INPUTS, AgencyInfo
from services.reporting.domain.rollup import COUNTERS
from shared.contracts.registry import AgencyRecord, QmsRecord
from shared.db import Conn

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


async def agency_codes(conn: Conn) -> list[str]:
    rows = await conn.fetch("SELECT code FROM reporting.agencies WHERE NOT deleted ORDER BY code")
    return [r["code"] for r in rows]


async def agency_infos(conn: Conn) -> dict[str, AgencyInfo]:
    rows = await conn.fetch(
        "SELECT code, coalesce(name, code) AS name, coalesce(level, 'other') AS level "
        "FROM reporting.agencies WHERE NOT deleted"
    )
    return {r["code"]: AgencyInfo(r["code"], r["name"], r["level"]) for r in rows}


def _keys(pieces: Sequence[WeightedPiece], width: int) -> list[list[Any]]:
    """The weighted bucket ranges as parallel arrays for ``unnest`` (grain, lo, hi, ``width`` weights)."""
    if any(len(p[3]) != width for p in pieces):
        raise ValueError(f"every bucket range needs {width} weights")
    return [
        [p[0] for p in pieces],
        [p[1] for p in pieces],
        [p[2] for p in pieces],
        *[[p[3][i] for p in pieces] for i in range(width)],
    ]


async def _fetch_without_jit(conn: Conn, sql: str, *args: Any) -> list[asyncpg.Record]:
    """``fetch`` with JIT compilation off: on a server that has it (the postgres image), a long
    history lifts the planner's cost estimate of a bucket read over ``jit_above_cost``, and
    compiling would take longer than the read it speeds up."""
    async with conn.transaction():
        await conn.execute("SET LOCAL jit = off")
        return await conn.fetch(sql, *args)


# One index range scan of field_rollup per weighted bucket range: the LATERAL subquery, kept
# apart by OFFSET 0, is a nested loop; a join on the list of ranges that the planner may
# flatten lets it hash the ranges and scan the whole table.
_BUCKETS = """
    FROM k CROSS JOIN LATERAL (
        SELECT * FROM reporting.field_rollup r
        WHERE r.grain = k.grain AND r.bucket >= k.lo AND r.bucket < k.hi {agencies}
        OFFSET 0
    ) r
"""
_IN_SCOPE = "AND r.agency_code = ANY($9::text[])"

_FORM06 = """
    WITH k AS (
        SELECT * FROM unnest($1::text[], $2::date[], $3::date[], $4::int[], $5::int[], $6::int[], $7::int[])
            AS k(grain, lo, hi, w_flow, w_start, w_end, w_overdue)
    ), today AS (
        -- running period: pending overdue moves between today's midnight ($10) and now ($11) by the
        -- dossiers due, or closed while overdue, in between (indexed look-ups of today's few facts)
        SELECT agency_code, procedure_code, 1 AS n FROM reporting.dossier_facts
        WHERE due_at >= $10 AND due_at < $11 AND accepted_at IS NOT NULL
          AND (closed_at IS NULL OR closed_at >= $11)
        UNION ALL
        SELECT agency_code, procedure_code, -1 FROM reporting.dossier_facts
        WHERE closed_at >= $10 AND closed_at < $11 AND due_at < $10 AND accepted_at IS NOT NULL
    ), cells AS (
        SELECT r.agency_code, r.field,
               sum(k.w_flow * r.received) AS received,
               sum(k.w_flow * r.received_online) AS received_online,
               sum(k.w_flow * r.resolved_early) AS resolved_early,
               sum(k.w_flow * r.resolved_on_time) AS resolved_on_time,
               sum(k.w_flow * r.resolved_late) AS resolved_late,
               sum(k.w_start * (r.received - r.closed)) AS carried_over,
               sum(k.w_end * (r.received - r.closed)) AS pending,
               sum(k.w_overdue * (r.due - r.due_closed)) AS pending_overdue
        {buckets}
        GROUP BY 1, 2
        UNION ALL
        SELECT t.agency_code, coalesce(p.field, ''), 0, 0, 0, 0, 0, 0, 0, sum(t.n)
        FROM today t LEFT JOIN reporting.procedures p ON p.code = t.procedure_code AND NOT p.deleted
        WHERE $9::text[] IS NULL OR t.agency_code = ANY($9::text[])
        GROUP BY 1, 2
    ), labelled AS (
        SELECT c.*, coalesce(a.name, a.code) AS name,
               CASE WHEN a.level = ANY($8::text[]) THEN a.level ELSE 'other' END AS level
        FROM cells c LEFT JOIN reporting.agencies a ON a.code = c.agency_code AND NOT a.deleted
    )
    SELECT GROUPING(agency_code, level, field) AS grouped, agency_code, name, level, field,
           sum(received)::bigint, sum(received_online)::bigint, sum(resolved_early)::bigint,
           sum(resolved_on_time)::bigint, sum(resolved_late)::bigint, sum(carried_over)::bigint,
           sum(pending)::bigint, sum(pending_overdue)::bigint
    FROM labelled
    GROUP BY GROUPING SETS ((agency_code, name, level), (level, field), (field), (level), ())
"""
_FORM06_ALL = _FORM06.format(buckets=_BUCKETS.format(agencies=""))
_FORM06_SCOPED = _FORM06.format(buckets=_BUCKETS.format(agencies=_IN_SCOPE))

#: GROUPING(agency_code, level, field) of each grouping set
_BY_AGENCY, _BY_LEVEL_FIELD, _BY_FIELD, _BY_LEVEL, _TOTAL = 0b001, 0b100, 0b110, 0b101, 0b111


@dataclass
class Form06Sums:
    """:data:`FORM06_INPUTS` summed per agency, level, (level, field), field and in total."""

    agencies: dict[str, dict[str, int]] = dataclass_field(default_factory=dict)
    levels: dict[str, dict[str, int]] = dataclass_field(default_factory=dict)
    level_fields: dict[tuple[str, str], dict[str, int]] = dataclass_field(default_factory=dict)
    fields: dict[str, dict[str, int]] = dataclass_field(default_factory=dict)
    totals: dict[str, int] = dataclass_field(default_factory=lambda: dict.fromkeys(FORM06_INPUTS, 0))
    #: name and level of the agencies in ``agencies`` that the registry copy knows
    infos: dict[str, AgencyInfo] = dataclass_field(default_factory=dict)


async def form06_sums(
    conn: Conn,
    pieces: Sequence[WeightedPiece],
    agencies: Sequence[str] | None,
    levels: Sequence[str],
    today: tuple[datetime, datetime] | None,
) -> Form06Sums:
    """Biểu 06 inputs from the weighted buckets (flow, start stock, end stock, overdue weights).

    ``today`` = (midnight, now) for a running period: pending overdue is judged now. Agencies
    whose level is not one of ``levels`` are grouped as "other". One statement: the buckets,
    today's corrections, the agency levels and the grouping all run in PostgreSQL, and only
    the few hundred summed rows come back.
    """
    sql = _FORM06_ALL if agencies is None else _FORM06_SCOPED
    rows = await _fetch_without_jit(
        conn,
        sql,
        *_keys(pieces, 4),
        list(levels),
        list(agencies) if agencies is not None else None,
        today[0] if today else None,
        today[1] if today else None,
    )
    out = Form06Sums()
    for r in rows:
        values = dict(zip(FORM06_INPUTS, (int(v or 0) for v in tuple(r)[5:]), strict=True))
        grouped, agency, name, level, fld = r[0], r[1], r[2], r[3], r[4]
        if grouped == _BY_AGENCY:
            out.agencies[agency] = values
            if name is not None:
                out.infos[agency] = AgencyInfo(agency, name, level)
        elif grouped == _BY_LEVEL_FIELD:
            out.level_fields[(level, fld)] = values
        elif grouped == _BY_FIELD:
            out.fields[fld] = values
        elif grouped == _BY_LEVEL:
            out.levels[level] = values
        elif grouped == _TOTAL:
            out.totals = values
    return out


_FLOWS = """
    WITH k AS (SELECT * FROM unnest($1::text[], $2::date[], $3::date[], $4::int[]) AS k(grain, lo, hi, w))
    SELECT r.agency_code, {sums}
    {buckets}
    GROUP BY 1
""".replace("{sums}", ", ".join(f"sum(k.w * r.{c})::bigint AS {c}" for c in COUNTERS))
_FLOWS_ALL = _FLOWS.format(buckets=_BUCKETS.format(agencies=""))
_FLOWS_SCOPED = _FLOWS.format(buckets=_BUCKETS.format(agencies=_IN_SCOPE.replace("$9", "$5")))


async def flows_by_agency(
    conn: Conn, pieces: Sequence[WeightedPiece], agencies: Sequence[str] | None
) -> dict[str, dict[str, int]]:
    """Every counter per agency, summed over the weighted buckets (one weight: the flow's sign)."""
    args: list[Any] = _keys(pieces, 1)
    if agencies is not None:
        args.append(list(agencies))
    rows = await _fetch_without_jit(conn, _FLOWS_ALL if agencies is None else _FLOWS_SCOPED, *args)
    return {r[0]: {c: int(r[c]) for c in COUNTERS} for r in rows}


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


_REGISTER_WHERE = """
    n.detected_at >= $1 AND n.detected_at < $2
    AND ($3::text[] IS NULL OR n.agency_code = ANY($3::text[]))
    AND ($4::text IS NULL OR n.procedure_code = $4)
    AND ($5::text IS NULL OR n.code = $5)
    AND ($6::text IS NULL OR n.status = $6)
"""
_REGISTER_ROWS = f"""
    SELECT n.dossier_code, n.agency_code, a.name AS agency_name, n.procedure_code, p.name AS procedure_name,
           n.code, n.clause, n.status, n.detected_at, n.detail, n.corrective_action
    FROM reporting.nonconformities n
    LEFT JOIN reporting.agencies a ON a.code = n.agency_code AND NOT a.deleted
    LEFT JOIN reporting.procedures p ON p.code = n.procedure_code AND NOT p.deleted
    WHERE {_REGISTER_WHERE}
    ORDER BY n.detected_at DESC, n.dossier_code, n.seq
"""


def _register_args(
    start: datetime,
    end: datetime,
    agencies: Sequence[str] | None,
    procedure: str | None,
    code: str | None,
    status: str | None,
) -> tuple[Any, ...]:
    return (start, end, list(agencies) if agencies is not None else None, procedure, code, status)


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
    """Nonconformities detected in [start, end) matching the filters, newest first: one page and the total."""
    args = _register_args(start, end, agencies, procedure, code, status)
    total = await conn.fetchval(
        f"SELECT count(*) FROM reporting.nonconformities n WHERE {_REGISTER_WHERE}", *args
    )
    rows = await conn.fetch(f"{_REGISTER_ROWS} LIMIT $7 OFFSET $8", *args, limit, offset)
    return [dict(r) for r in rows], int(total)


async def nonconformity_batches(
    conn: Conn,
    *,
    start: datetime,
    end: datetime,
    agencies: Sequence[str] | None,
    procedure: str | None,
    code: str | None,
    status: str | None,
    batch: int,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every row of :func:`nonconformity_register`'s filter, ``batch`` at a time, through a
    server-side cursor (needs a transaction)."""
    args = _register_args(start, end, agencies, procedure, code, status)
    cursor = await conn.cursor(_REGISTER_ROWS, *args)
    while rows := await cursor.fetch(batch):
        yield [dict(r) for r in rows]


async def agency_name(conn: Conn, code: str) -> str | None:
    name: str | None = await conn.fetchval(
        "SELECT name FROM reporting.agencies WHERE code = $1 AND NOT deleted", code
    )
    return name


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
