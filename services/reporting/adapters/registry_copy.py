"""Reporting's local copy of the registry (agencies, QMS records, procedures).

Newest ``version`` per entity wins; a deletion is a tombstone that keeps its version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.contracts.registry import (
    AgencyRecord,
    ApiTokenRecord,
    ProcedureRecord,
    QmsRecord,
    RegistryChange,
)
from shared.db import Conn

#: the entities reporting keeps (ISO processes only for the step names of the control slip); the
#: others (calendar, legal profiles) are processing's business
KEPT = ("agency", "qms", "procedure", "api_token", "iso_process")


@dataclass(frozen=True)
class Applied:
    """What a change did: whether it was newer, and for a procedure its field before and after."""

    applied: bool
    old_field: str | None = None
    new_field: str | None = None


async def apply_change(conn: Conn, change: RegistryChange) -> Applied:
    """Store ``change`` if it is newer than what we hold."""
    if change.entity not in KEPT:
        return Applied(False)
    record = None if change.deleted else change.record()
    data: dict[str, Any] | None = record.model_dump(mode="json") if record is not None else None
    if change.entity == "agency":
        a = record if isinstance(record, AgencyRecord) else None
        status = await conn.execute(
            """
            INSERT INTO reporting.agencies AS t (code, version, deleted, name, parent_code, level,
                iso_obligation, valid_from, valid_to, data)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (code) DO UPDATE SET version = EXCLUDED.version, deleted = EXCLUDED.deleted,
                name = EXCLUDED.name, parent_code = EXCLUDED.parent_code, level = EXCLUDED.level,
                iso_obligation = EXCLUDED.iso_obligation, valid_from = EXCLUDED.valid_from,
                valid_to = EXCLUDED.valid_to, data = EXCLUDED.data
            WHERE t.version < EXCLUDED.version
            """,
            change.entity_id,
            change.version,
            a is None,
            a.name if a else None,
            a.parent_code if a else None,
            a.level.value if a else None,
            a.iso_obligation.value if a else None,
            a.valid_from if a else None,
            a.valid_to if a else None,
            data,
        )
        return Applied(status.endswith(" 1"))
    if change.entity == "api_token":
        status = await conn.execute(
            """
            INSERT INTO reporting.api_tokens AS t (token_hash, version, deleted, data) VALUES ($1, $2, $3, $4)
            ON CONFLICT (token_hash) DO UPDATE SET version = EXCLUDED.version, deleted = EXCLUDED.deleted,
                data = EXCLUDED.data
            WHERE t.version < EXCLUDED.version
            """,
            change.entity_id,
            change.version,
            record is None,
            data,
        )
        return Applied(status.endswith(" 1"))
    if change.entity == "iso_process":
        agency, _, rest = change.entity_id.partition("|")
        procedure, _, version = rest.partition("|")
        status = await conn.execute(
            """
            INSERT INTO reporting.iso_processes AS t (entity_id, version, deleted, agency_code,
                procedure_code, process_version, data)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (entity_id) DO UPDATE SET version = EXCLUDED.version, deleted = EXCLUDED.deleted,
                data = EXCLUDED.data
            WHERE t.version < EXCLUDED.version
            """,
            change.entity_id,
            change.version,
            record is None,
            agency,
            procedure,
            int(version) if version.isdigit() else None,
            data,
        )
        return Applied(status.endswith(" 1"))
    if change.entity == "qms":
        q = record if isinstance(record, QmsRecord) else None
        status = await conn.execute(
            """
            INSERT INTO reporting.qms AS t (agency_code, version, deleted, state, data)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (agency_code) DO UPDATE SET version = EXCLUDED.version, deleted = EXCLUDED.deleted,
                state = EXCLUDED.state, data = EXCLUDED.data
            WHERE t.version < EXCLUDED.version
            """,
            change.entity_id,
            change.version,
            q is None,
            q.state.value if q else None,
            data,
        )
        return Applied(status.endswith(" 1"))
    p = record if isinstance(record, ProcedureRecord) else None
    old = await conn.fetchrow(
        "SELECT version, deleted, coalesce(field, '') AS field FROM reporting.procedures WHERE code = $1 FOR UPDATE",
        change.entity_id,
    )
    if old is not None and old["version"] >= change.version:
        return Applied(False)
    await conn.execute(
        """
        INSERT INTO reporting.procedures AS t (code, version, deleted, name, field, level, data)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (code) DO UPDATE SET version = EXCLUDED.version, deleted = EXCLUDED.deleted,
            name = EXCLUDED.name, field = EXCLUDED.field, level = EXCLUDED.level, data = EXCLUDED.data
        """,
        change.entity_id,
        change.version,
        p is None,
        p.name if p else None,
        p.field if p else None,
        p.level if p else None,
        data,
    )
    old_field = "" if old is None or old["deleted"] else old["field"]
    new_field = (p.field or "") if p else ""
    return Applied(True, old_field, new_field)


async def token_record(conn: Conn, token_hash: str) -> ApiTokenRecord | None:
    """The live token with this hash, if the feed has published it and not revoked it."""
    data = await conn.fetchval(
        "SELECT data FROM reporting.api_tokens WHERE token_hash = $1 AND NOT deleted", token_hash
    )
    return ApiTokenRecord.model_validate(data) if data is not None else None
