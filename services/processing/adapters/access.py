"""Which agencies a caller of processing's read API may see (its officer's agency subtree)."""

from __future__ import annotations

from services.processing.adapters import registry_copy
from shared.auth import Principal, scope_root
from shared.db import Conn


async def agency_subtree(conn: Conn, root: str) -> list[str]:
    """``root`` and every agency below it, from the agency entities of the registry feed."""
    rows = await conn.fetch(
        """
        WITH RECURSIVE down(code, depth) AS (
            SELECT $1::text, 0
            UNION
            SELECT r.entity_id, down.depth + 1 FROM down
            JOIN processing.registry_entities r
              ON r.entity = 'agency' AND NOT r.deleted AND r.data->>'parent_code' = down.code
            WHERE down.depth < 20
        )
        SELECT DISTINCT code FROM down ORDER BY code
        """,
        root,
    )
    return [r["code"] for r in rows]


async def may_see(conn: Conn, who: Principal, agency_code: str) -> bool:
    """Whether ``who`` may see data of ``agency_code``: its root is the agency or one of its parents."""
    root = scope_root(who)
    return root is None or root in await registry_copy.agency_lineage(conn, agency_code)
