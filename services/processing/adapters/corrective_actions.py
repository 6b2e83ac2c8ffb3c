"""Corrective actions in PostgreSQL: load, save with the audit entry, and move their nonconformities.

The workflow's rules are in :mod:`services.processing.domain.corrective_action`; this adapter
keeps its state, and sets the grouped nonconformities' register status through
:func:`nonconformities.change_status` (so the assessments are re-published and reporting's
register follows): corrective_action while the action runs, closed when it closes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import orjson

from services.processing.adapters import nonconformities
from services.processing.domain.corrective_action import Audit, CorrectiveAction, NcRef, State
from shared.db import Conn


async def nonconformity_agencies(
    conn: Conn, refs: Sequence[NcRef]
) -> dict[NcRef, tuple[str, str, int | None]]:
    """(agency, status, corrective action id) of each known nonconformity among ``refs``."""
    rows = await conn.fetch(
        """
        SELECT n.dossier_code, n.nc_key, n.agency_code, n.status, i.action_id
        FROM unnest($1::text[], $2::text[]) AS r(d, k)
        JOIN processing.nonconformities n ON n.dossier_code = r.d AND n.nc_key = r.k
        LEFT JOIN processing.corrective_action_items i ON i.dossier_code = n.dossier_code AND i.nc_key = n.nc_key
        """,
        [r.dossier_code for r in refs],
        [r.nc_key for r in refs],
    )
    return {
        NcRef(r["dossier_code"], r["nc_key"]): (r["agency_code"], r["status"], r["action_id"]) for r in rows
    }


def _of(row: Any, refs: Sequence[NcRef]) -> CorrectiveAction:
    return CorrectiveAction(
        agency_code=row["agency_code"],
        state=State(row["state"]),
        correction=row["correction"],
        root_cause=row["root_cause"],
        action=row["action"],
        responsible=row["responsible"],
        due_date=row["due_date"],
        nonconformities=tuple(refs),
        created_at=row["created_at"],
        created_by=row["created_by"],
        verification=row["verification"],
        verified_at=row["verified_at"],
        closed_at=row["closed_at"],
    )


async def load(conn: Conn, action_id: int, *, for_update: bool = False) -> CorrectiveAction | None:
    row = await conn.fetchrow(
        "SELECT * FROM processing.corrective_actions WHERE id = $1" + (" FOR UPDATE" if for_update else ""),
        action_id,
    )
    if row is None:
        return None
    items = await conn.fetch(
        "SELECT dossier_code, nc_key FROM processing.corrective_action_items WHERE action_id = $1 "
        "ORDER BY dossier_code, nc_key",
        action_id,
    )
    return _of(row, [NcRef(i["dossier_code"], i["nc_key"]) for i in items])


async def save(conn: Conn, action_id: int | None, ca: CorrectiveAction, audit: Audit) -> int:
    """Insert or update ``ca``, add its new nonconformities and the audit entry; returns its id."""
    values = (
        ca.agency_code,
        ca.state.value,
        ca.correction,
        ca.root_cause,
        ca.action,
        ca.responsible,
        ca.due_date,
        ca.verification,
        ca.verified_at,
        ca.closed_at,
    )
    if action_id is None:
        action_id = await conn.fetchval(
            """
            INSERT INTO processing.corrective_actions (agency_code, state, correction, root_cause, action,
                responsible, due_date, verification, verified_at, closed_at, created_at, created_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id
            """,
            *values,
            ca.created_at,
            ca.created_by,
        )
    else:
        await conn.execute(
            """
            UPDATE processing.corrective_actions SET agency_code = $2, state = $3, correction = $4,
                root_cause = $5, action = $6, responsible = $7, due_date = $8, verification = $9,
                verified_at = $10, closed_at = $11
            WHERE id = $1
            """,
            action_id,
            *values,
        )
    assert action_id is not None
    await conn.execute(
        """
        INSERT INTO processing.corrective_action_items (action_id, dossier_code, nc_key)
        SELECT $1, d, k FROM unnest($2::text[], $3::text[]) AS r(d, k) ON CONFLICT DO NOTHING
        """,
        action_id,
        [r.dossier_code for r in ca.nonconformities],
        [r.nc_key for r in ca.nonconformities],
    )
    await conn.execute(
        "INSERT INTO processing.corrective_action_audit (action_id, at, by_whom, what, change) "
        "VALUES ($1, $2, $3, $4, $5::text::jsonb)",
        action_id,
        audit.at,
        audit.by,
        audit.what,
        orjson.dumps(audit.change).decode(),
    )
    return int(action_id)


async def set_statuses(conn: Conn, refs: Sequence[NcRef], status: str, action: str, by: str) -> None:
    """Move the nonconformities to ``status`` where the register's lifecycle allows it."""
    current = await nonconformity_agencies(conn, refs)
    for ref in refs:
        known = current.get(ref)
        if known is None or known[1] == status or (known[1], status) not in nonconformities.ALLOWED:
            continue
        await nonconformities.change_status(conn, ref.dossier_code, ref.nc_key, status, action, by)


async def listing(
    conn: Conn,
    agencies: Sequence[str] | None,
    *,
    state: str | None,
    overdue_on: date | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """Corrective actions of ``agencies`` (None: all), newest first; ``overdue_on``: planned, due before it."""
    where = """
        ($1::text[] IS NULL OR agency_code = ANY($1::text[])) AND ($2::text IS NULL OR state = $2)
        AND ($3::date IS NULL OR (state = 'planned' AND due_date < $3))
    """
    args = (list(agencies) if agencies is not None else None, state, overdue_on)
    total = await conn.fetchval(f"SELECT count(*) FROM processing.corrective_actions WHERE {where}", *args)
    rows = await conn.fetch(
        f"""
        SELECT a.*, (SELECT count(*) FROM processing.corrective_action_items i WHERE i.action_id = a.id)
               AS nonconformities
        FROM processing.corrective_actions a WHERE {where}
        ORDER BY a.id DESC LIMIT $4 OFFSET $5
        """,
        *args,
        limit,
        offset,
    )
    return [dict(r) for r in rows], int(total)


async def detail(conn: Conn, action_id: int) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM processing.corrective_actions WHERE id = $1", action_id)
    if row is None:
        return None
    items = await conn.fetch(
        """
        SELECT n.dossier_code, n.nc_key, n.code, n.procedure_code, n.detected_at, n.status
        FROM processing.corrective_action_items i
        JOIN processing.nonconformities n ON n.dossier_code = i.dossier_code AND n.nc_key = i.nc_key
        WHERE i.action_id = $1 ORDER BY n.detected_at, n.dossier_code
        """,
        action_id,
    )
    audit = await conn.fetch(
        "SELECT at, by_whom, what, change FROM processing.corrective_action_audit WHERE action_id = $1 ORDER BY id",
        action_id,
    )
    return {
        **dict(row),
        "nonconformities": [dict(i) for i in items],
        "audit": [
            {**dict(a), "change": orjson.loads(a["change"]) if isinstance(a["change"], str) else a["change"]}
            for a in audit
        ],
    }
