"""Write side of reporting: dossier facts, the rollups and their deltas (set-based SQL)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

import asyncpg

from services.reporting.domain.assessment import AssessmentView
from services.reporting.domain.nonconformities import NcFact, NcKey
from services.reporting.domain.rollup import COUNTERS, Delta, Fact, FieldDelta
from shared.db import Conn

_PROCEDURE_LOCK_SPACE = 724_531_005  # advisory-lock namespace (int4): reporting × procedure


_FACT_COLUMNS = (
    "agency_code, procedure_code, channel, accepted_at, due_at, index_due_at, resolved_at, closed_at, "
    "outcome, index_outcome, processing_working_days"
)


def to_fact(row: asyncpg.Record | AssessmentView) -> Fact:
    if isinstance(row, AssessmentView):
        return Fact(
            row.agency_code,
            row.procedure_code,
            int(row.channel) if row.channel else None,
            row.accepted_at,
            row.due_at,
            row.index_due_at,
            row.resolved_at,
            row.closed_at,
            row.outcome.value if row.outcome else None,
            row.index_outcome.value if row.index_outcome else None,
            row.processing_working_days,
        )
    return Fact(
        row["agency_code"],
        row["procedure_code"],
        row["channel"],
        row["accepted_at"],
        row["due_at"],
        row["index_due_at"],
        row["resolved_at"],
        row["closed_at"],
        row["outcome"],
        row["index_outcome"],
        row["processing_working_days"],
    )


def to_nc_facts(a: AssessmentView) -> list[NcFact]:
    return [
        NcFact(a.agency_code, a.procedure_code, nc.detected_at, nc.code, nc.status)
        for nc in a.nonconformities
    ]


#: one row of ``reporting.nonconformities`` as a dossier's register holds it, in ``seq`` order:
#: (code, clause, status, detected_at, detail, corrective_action)
RegisterRow = tuple[str, str, str, datetime, str, str | None]


def register_of(a: AssessmentView) -> tuple[RegisterRow, ...]:
    """The rows :func:`replace_nonconformities` would write for ``a`` (its agency and procedure aside)."""
    return tuple(
        (n.code, n.clause, n.status, n.detected_at, n.detail, n.corrective_action) for n in a.nonconformities
    )


def nc_facts_of(fact: Fact, register: Sequence[RegisterRow]) -> list[NcFact]:
    """The stored register as the nonconformity rollup sees it (its rows carry the fact's agency and procedure)."""
    return [NcFact(fact.agency_code, fact.procedure_code, r[3], r[0], r[2]) for r in register]


class Stored(NamedTuple):
    """What reporting holds of a dossier: the revision applied, its fact and its nonconformity register."""

    revision: int
    fact: Fact
    register: tuple[RegisterRow, ...]


async def lock_procedures(conn: Conn, codes: Sequence[str], *, exclusive: bool) -> None:
    """Serialise rollup writes of a procedure with a change of its field (transaction-scoped).

    Event batches take shared locks (they run side by side); a field change takes the
    exclusive one, so no batch books counts under a field that is being moved away.
    One statement for all of them, taken in code order (unnest keeps the array's order): no deadlocks.
    """
    fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    if codes:
        await conn.execute(
            f"SELECT {fn}($1, hashtext(c)) FROM unnest($2::text[]) AS c",
            _PROCEDURE_LOCK_SPACE,
            sorted(set(codes)),
        )


async def fields_of(conn: Conn, codes: Sequence[str]) -> dict[str, str]:
    """Field (lĩnh vực) of each known procedure; unknown ones are absent."""
    rows = await conn.fetch(
        "SELECT code, coalesce(field, '') AS field FROM reporting.procedures "
        "WHERE code = ANY($1::text[]) AND NOT deleted",
        list(codes),
    )
    return {r["code"]: r["field"] for r in rows}


async def current_facts(conn: Conn, codes: Sequence[str]) -> dict[str, Stored]:
    """Revision, fact and nonconformity register of each known dossier, locked for this transaction."""
    rows = await conn.fetch(
        # the columns of a Fact only: not the stored assessment document (jsonb, decoded for nothing)
        f"SELECT dossier_code, revision, {_FACT_COLUMNS} FROM reporting.dossier_facts "
        "WHERE dossier_code = ANY($1::text[]) "
        "ORDER BY dossier_code FOR UPDATE",
        list(codes),
    )
    ncs = await conn.fetch(
        "SELECT dossier_code, code, clause, status, detected_at, detail, corrective_action "
        "FROM reporting.nonconformities WHERE dossier_code = ANY($1::text[]) ORDER BY dossier_code, seq",
        list(codes),
    )
    by_code: dict[str, list[RegisterRow]] = {}
    for n in ncs:
        by_code.setdefault(n[0], []).append((n[1], n[2], n[3], n[4], n[5], n[6]))
    return {
        r["dossier_code"]: Stored(r["revision"], to_fact(r), tuple(by_code.get(r["dossier_code"], ())))
        for r in rows
    }


_FACTS_UPSERT = """
    INSERT INTO reporting.dossier_facts AS f (dossier_code, agency_code, procedure_code, channel, status,
        outcome, index_outcome, accepted_at, due_at, index_due_at, resolved_at, closed_at,
        processing_working_days, revision, assessment)
    SELECT c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, doc::jsonb
    FROM unnest($1::text[], $2::text[], $3::text[], $4::smallint[], $5::smallint[], $6::text[],
        $7::text[], $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[],
        $12::timestamptz[], $13::float8[], $14::int[], $15::text[])
        AS u(c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, doc)
    ON CONFLICT (dossier_code) DO UPDATE SET
        agency_code = EXCLUDED.agency_code, procedure_code = EXCLUDED.procedure_code,
        channel = EXCLUDED.channel, status = EXCLUDED.status, outcome = EXCLUDED.outcome,
        index_outcome = EXCLUDED.index_outcome, accepted_at = EXCLUDED.accepted_at,
        due_at = EXCLUDED.due_at, index_due_at = EXCLUDED.index_due_at,
        resolved_at = EXCLUDED.resolved_at, closed_at = EXCLUDED.closed_at,
        processing_working_days = EXCLUDED.processing_working_days,
        revision = EXCLUDED.revision, assessment = EXCLUDED.assessment
    WHERE f.revision < EXCLUDED.revision
"""


async def upsert_facts(conn: Conn, items: Sequence[tuple[AssessmentView, str]]) -> None:
    """Each dossier's fact and its assessment (the message's JSON text, made jsonb by PostgreSQL)."""
    if not items:
        return
    views = [a for a, _ in items]
    await conn.execute(
        _FACTS_UPSERT,
        [a.dossier_code for a in views],
        [a.agency_code for a in views],
        [a.procedure_code for a in views],
        [int(a.channel) if a.channel else None for a in views],
        [a.status for a in views],
        [a.outcome.value if a.outcome else None for a in views],
        [a.index_outcome.value if a.index_outcome else None for a in views],
        [a.accepted_at for a in views],
        [a.due_at for a in views],
        [a.index_due_at for a in views],
        [a.resolved_at for a in views],
        [a.closed_at or a.resolved_at for a in views],
        [a.processing_working_days for a in views],
        [a.revision for a in views],
        [doc for _, doc in items],
    )


async def replace_nonconformities(conn: Conn, drop: Sequence[str], fill: Sequence[str]) -> None:
    """Delete the stored register of the dossiers ``drop``, write the register of the dossiers ``fill``.

    The caller names only the dossiers whose register changed (``drop``: those that had rows,
    ``fill``: those whose new assessment states some), so a revision that leaves the register as
    it was writes nothing here. Call it after :func:`upsert_facts` in the same transaction: the
    rows are read by PostgreSQL from the assessment just stored (``dossier_facts.assessment``, the
    message as validated by :class:`AssessmentView`), so no nonconformity is encoded parameter by parameter.
    """
    if drop:
        await conn.execute(
            "DELETE FROM reporting.nonconformities WHERE dossier_code = ANY($1::text[])", list(drop)
        )
    if not fill:
        return
    await conn.execute(
        """
        INSERT INTO reporting.nonconformities (dossier_code, seq, agency_code, procedure_code, code, clause,
            status, detected_at, detail, corrective_action)
        SELECT f.dossier_code, (n.i - 1)::smallint, f.agency_code, f.procedure_code, n.e->>'code',
            n.e->>'clause', coalesce(n.e->>'status', 'open'), (n.e->>'detected_at')::timestamptz,
            coalesce(n.e->>'detail', ''), n.e->>'corrective_action'
        FROM reporting.dossier_facts f
        CROSS JOIN LATERAL jsonb_array_elements(
            coalesce(f.assessment->'nonconformities', '[]'::jsonb)
        ) WITH ORDINALITY AS n(e, i)
        WHERE f.dossier_code = ANY($1::text[])
        """,
        list(fill),
    )


_SET_COUNTERS = ",\n".join(f"{c} = r.{c} + EXCLUDED.{c}" for c in COUNTERS)
_COLUMNS = ", ".join(COUNTERS)
_COUNTER_TYPES = ", ".join(
    f"${i}::{'bigint' if c == 'processing_mdays' else 'int'}[]" for i, c in enumerate(COUNTERS, start=4)
)

_DAILY_UPSERT = f"""
    INSERT INTO reporting.daily_rollup AS r (agency_code, procedure_code, day, {_COLUMNS})
    SELECT * FROM unnest($1::text[], $2::text[], $3::date[], {_COUNTER_TYPES})
    ON CONFLICT (agency_code, procedure_code, day) DO UPDATE SET {_SET_COUNTERS}
"""
# Each (agency, field, day) goes to every bucket of reporting.buckets_of (migration 0002),
# summed per bucket (a statement updates a row once) and in key order (no deadlocks).
_FIELD_UPSERT = f"""
    INSERT INTO reporting.field_rollup AS r (grain, bucket, agency_code, field, {_COLUMNS})
    SELECT b.grain, b.bucket, d.agency_code, d.field, {", ".join(f"sum(d.{c})" for c in COUNTERS)}
    FROM unnest($1::text[], $2::text[], $3::date[], {_COUNTER_TYPES})
        AS d(agency_code, field, day, {_COLUMNS})
    CROSS JOIN LATERAL reporting.buckets_of(d.day) AS b
    GROUP BY 1, 2, 3, 4
    HAVING {" OR ".join(f"sum(d.{c}) <> 0" for c in COUNTERS)}
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (grain, bucket, agency_code, field) DO UPDATE SET {_SET_COUNTERS}
"""


async def apply_rollup_delta(conn: Conn, d: Delta, fd: FieldDelta) -> None:
    """Add a delta to the daily rollup and its projection per field (fixed key order: no deadlocks).

    ``fd`` is per (agency, field, day); the statement books each day in all its buckets.
    """
    if d:
        keys = sorted(d)
        await conn.execute(
            _DAILY_UPSERT,
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
            *[[d[k][c] for k in keys] for c in COUNTERS],
        )
    if fd:
        fkeys = sorted(fd)
        await conn.execute(
            _FIELD_UPSERT,
            [k[0] for k in fkeys],
            [k[1] for k in fkeys],
            [k[2] for k in fkeys],
            *[[fd[k][c] for k in fkeys] for c in COUNTERS],
        )


async def apply_nc_delta(conn: Conn, d: Counter[NcKey]) -> None:
    if not d:
        return
    keys = sorted(d)
    await conn.execute(
        """
        INSERT INTO reporting.nonconformity_rollup AS r (agency_code, procedure_code, day, code, status, n)
        SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::text[], $5::text[], $6::int[])
        ON CONFLICT (agency_code, procedure_code, day, code, status) DO UPDATE SET n = r.n + EXCLUDED.n
        """,
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
        [k[3] for k in keys],
        [k[4] for k in keys],
        [d[k] for k in keys],
    )


_SUMS = ", ".join(f"sum({c})::bigint AS {c}" for c in COUNTERS)
_MOVE_FIELD = f"""
    WITH per_day AS (
        SELECT agency_code, day, {_SUMS}
        FROM reporting.daily_rollup WHERE procedure_code = $1 GROUP BY agency_code, day
    ), per_bucket AS (
        SELECT g.grain, g.bucket, p.agency_code, {", ".join(f"sum(p.{c})::bigint AS {c}" for c in COUNTERS)}
        FROM per_day p
        CROSS JOIN LATERAL reporting.buckets_of(p.day) AS g  -- every grain (migration 0002)
        GROUP BY 1, 2, 3
    ), signed AS (
        SELECT grain, bucket, agency_code, $2::text AS field, {", ".join(f"-{c} AS {c}" for c in COUNTERS)} FROM per_bucket
        UNION ALL
        SELECT grain, bucket, agency_code, $3::text AS field, {", ".join(COUNTERS)} FROM per_bucket
    )
    INSERT INTO reporting.field_rollup AS r (grain, bucket, agency_code, field, {_COLUMNS})
    SELECT grain, bucket, agency_code, field, {", ".join(f"sum({c})" for c in COUNTERS)}
    FROM signed GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (grain, bucket, agency_code, field) DO UPDATE SET {_SET_COUNTERS}
"""


async def move_procedure_field(conn: Conn, procedure: str, old_field: str, new_field: str) -> None:
    """Re-book every count of ``procedure`` from ``old_field`` to ``new_field`` (set-based)."""
    if old_field != new_field:
        await conn.execute(_MOVE_FIELD, procedure, old_field, new_field)
