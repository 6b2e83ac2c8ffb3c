"""Read models only the dashboard needs: the agency tree, names, and filtered dossier lists.

The figures themselves come from :mod:`services.reporting.reports` (the API's functions) and
:mod:`services.reporting.adapters.views`; these reads add what a screen needs around them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.db import Conn


@dataclass(frozen=True)
class Node:
    """One agency of the registry copy, with its parent."""

    code: str
    name: str
    parent: str | None
    level: str


async def agency_nodes(conn: Conn) -> dict[str, Node]:
    rows = await conn.fetch(
        "SELECT code, coalesce(name, code) AS name, parent_code, coalesce(level, 'other') AS level "
        "FROM reporting.agencies WHERE NOT deleted ORDER BY code"
    )
    return {r["code"]: Node(r["code"], r["name"], r["parent_code"], r["level"]) for r in rows}


async def procedure_names(conn: Conn) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT code, name FROM reporting.procedures WHERE NOT deleted AND name IS NOT NULL"
    )
    return {r["code"]: r["name"] for r in rows}


async def procedure_known(conn: Conn, agency: str, procedure: str) -> bool:
    """The procedure is in the registry copy, or the agency has dossiers of it."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM reporting.procedures WHERE code = $2 AND NOT deleted) "
            "OR EXISTS (SELECT 1 FROM reporting.dossier_facts WHERE agency_code = $1 AND procedure_code = $2)",
            agency,
            procedure,
        )
    )


async def dossiers(
    conn: Conn,
    agency: str,
    procedure: str,
    start: datetime,
    end: datetime,
    *,
    overdue_only: bool,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """Dossiers of one agency and procedure accepted in [start, end) or still pending then.

    ``overdue_only``: only those late (resolved after the due time) or pending past it.
    """
    where = """
        agency_code = $1 AND procedure_code = $2 AND accepted_at < $4
        AND (accepted_at >= $3 OR closed_at IS NULL OR closed_at >= $3)
        AND (NOT $5 OR outcome IN ('late', 'pending_overdue'))
    """
    args = (agency, procedure, start, end, overdue_only)
    total = await conn.fetchval(f"SELECT count(*) FROM reporting.dossier_facts WHERE {where}", *args)
    rows = await conn.fetch(
        f"""
        SELECT dossier_code, status, outcome, channel, accepted_at, due_at, resolved_at, closed_at,
               jsonb_array_length(coalesce(assessment->'nonconformities', '[]'::jsonb)) AS nonconformities
        FROM reporting.dossier_facts WHERE {where}
        ORDER BY accepted_at, dossier_code LIMIT $6 OFFSET $7
        """,
        *args,
        limit,
        offset,
    )
    return [dict(r) for r in rows], int(total)


async def dossier_agency(conn: Conn, code: str) -> str | None:
    """The agency of a dossier reporting knows (search by code)."""
    value = await conn.fetchval(
        "SELECT agency_code FROM reporting.dossier_facts WHERE dossier_code = $1", code
    )
    return str(value) if value is not None else None


async def step_names(conn: Conn, agency: str, procedure: str, version: int | None) -> dict[str, str]:
    """Step code → name in the ISO process the dossier was judged by (its version; else the newest)."""
    data = await conn.fetchval(
        """
        SELECT data FROM reporting.iso_processes
        WHERE agency_code = $1 AND procedure_code = $2 AND NOT deleted
          AND ($3::integer IS NULL OR process_version = $3)
        ORDER BY process_version DESC LIMIT 1
        """,
        agency,
        procedure,
        version,
    )
    if data is None:
        return {}
    return {s["code"]: s["name"] for s in data.get("steps", []) if s.get("name")}
