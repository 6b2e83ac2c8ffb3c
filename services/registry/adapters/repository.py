"""Registry tables: plain SQL. Every change writes its row, its outbox message and its audit
entry in the caller's transaction, so the three commit or roll back together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg
from pydantic import BaseModel

from shared.contracts.registry import RECORD_MODELS, ApiTokenRecord, RegistryChange
from shared.db import Conn

Outcome = Literal["created", "updated", "unchanged", "deleted"]


@dataclass(frozen=True)
class Actor:
    """Who makes a change, for the audit trail."""

    subject: str
    role: str
    agency_code: str | None
    via: str  # api, import, seed, cli


@dataclass(frozen=True)
class Stored:
    entity: str
    entity_id: str
    version: int
    deleted: bool
    data: dict[str, Any]
    updated_at: datetime

    def record(self) -> BaseModel:
        return RECORD_MODELS[self.entity].model_validate(self.data)


def _stored(row: asyncpg.Record) -> Stored:
    return Stored(
        row["entity"], row["entity_id"], row["version"], row["deleted"], row["data"], row["updated_at"]
    )


def _audit_view(
    entity: str, entity_id: str, data: dict[str, Any] | None
) -> tuple[str, dict[str, Any] | None]:
    """Token hashes stay out of the audit trail (readable by every token holder): show 12 digits."""
    if entity != "api_token":
        return entity_id, data
    short = entity_id[:12]
    return short, None if data is None else {**data, "token_hash": short}


async def _audit(
    conn: Conn,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: str,
    version: int,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    shown_id, before = _audit_view(entity, entity_id, before)
    _, after = _audit_view(entity, entity_id, after)
    await conn.execute(
        """
        INSERT INTO registry.audit
            (actor, actor_role, actor_agency, via, action, entity, entity_id, version, before, after)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        """,
        actor.subject,
        actor.role,
        actor.agency_code,
        actor.via,
        action,
        entity,
        shown_id,
        version,
        before,
        after,
    )


async def _outbox(
    conn: Conn, entity: str, entity_id: str, version: int, data: dict[str, Any] | None, at: datetime
) -> None:
    change = RegistryChange.model_validate(
        {
            "entity": entity,
            "entity_id": entity_id,
            "version": version,
            "deleted": data is None,
            "changed_at": at,
            "data": data,
        }
    )
    await conn.execute(
        "INSERT INTO registry.outbox (entity, entity_id, version, message) VALUES ($1, $2, $3, $4)",
        entity,
        entity_id,
        version,
        change.model_dump(mode="json"),
    )


def _require_transaction(conn: Conn) -> None:
    if not conn.is_in_transaction():
        raise RuntimeError("registry writes must run inside a transaction (row, outbox and audit together)")


async def save(
    conn: Conn, entity: str, entity_id: str, record: BaseModel, actor: Actor
) -> tuple[Stored, Outcome]:
    """Create or replace one entity; an unchanged record writes nothing."""
    _require_transaction(conn)
    old = await conn.fetchrow(
        "SELECT * FROM registry.entities WHERE entity = $1 AND entity_id = $2 FOR UPDATE", entity, entity_id
    )
    if old is not None and not old["deleted"]:
        previous = _stored(old)
        if previous.record() == record:
            return previous, "unchanged"
    data = record.model_dump(mode="json")
    now = datetime.now(UTC)
    row = await conn.fetchrow(
        """
        INSERT INTO registry.entities (entity, entity_id, version, deleted, data, updated_at)
        VALUES ($1, $2, 1, false, $3, $4)
        ON CONFLICT (entity, entity_id) DO UPDATE SET
            version = registry.entities.version + 1, deleted = false, data = EXCLUDED.data,
            updated_at = EXCLUDED.updated_at
        RETURNING *
        """,
        entity,
        entity_id,
        data,
        now,
    )
    assert row is not None
    stored = _stored(row)
    existed = old is not None and not old["deleted"]
    await _outbox(conn, entity, entity_id, stored.version, data, now)
    await _audit(
        conn,
        actor,
        "update" if existed else "create",
        entity,
        entity_id,
        stored.version,
        old["data"] if existed and old is not None else None,
        data,
    )
    return stored, "updated" if existed else "created"


async def delete(conn: Conn, entity: str, entity_id: str, actor: Actor) -> Stored | None:
    """Mark one entity deleted and publish the deletion; None when there is nothing to delete."""
    _require_transaction(conn)
    now = datetime.now(UTC)
    row = await conn.fetchrow(
        """
        UPDATE registry.entities SET deleted = true, version = version + 1, updated_at = $3
        WHERE entity = $1 AND entity_id = $2 AND NOT deleted
        RETURNING *
        """,
        entity,
        entity_id,
        now,
    )
    if row is None:
        return None
    stored = _stored(row)
    await _outbox(conn, entity, entity_id, stored.version, None, now)
    await _audit(conn, actor, "delete", entity, entity_id, stored.version, stored.data, None)
    return stored


async def get(conn: Conn, entity: str, entity_id: str) -> Stored | None:
    row = await conn.fetchrow(
        "SELECT * FROM registry.entities WHERE entity = $1 AND entity_id = $2 AND NOT deleted",
        entity,
        entity_id,
    )
    return None if row is None else _stored(row)


async def get_many(conn: Conn, entity: str, ids: Sequence[str]) -> dict[str, Stored]:
    rows = await conn.fetch(
        "SELECT * FROM registry.entities WHERE entity = $1 AND entity_id = ANY($2::text[]) AND NOT deleted",
        entity,
        list(ids),
    )
    return {r["entity_id"]: _stored(r) for r in rows}


async def all_of(conn: Conn, entity: str) -> list[Stored]:
    rows = await conn.fetch(
        "SELECT * FROM registry.entities WHERE entity = $1 AND NOT deleted ORDER BY entity_id", entity
    )
    return [_stored(r) for r in rows]


@dataclass(frozen=True)
class Page:
    items: list[Stored]
    total: int


# Filters per entity kind: name → SQL condition on the row (values always as parameters).
_FILTERS: dict[str, dict[str, str]] = {
    "agency": {
        "level": "data->>'level' = {}",
        "parent_code": "data->>'parent_code' = {}",
        "iso_obligation": "data->>'iso_obligation' = {}",
        "valid_on": "(data->>'valid_from' IS NULL OR (data->>'valid_from')::date <= {0}::date) "
        "AND (data->>'valid_to' IS NULL OR (data->>'valid_to')::date >= {0}::date)",
        "q": "(data->>'name' ILIKE '%' || {0} || '%' OR entity_id = {0})",
    },
    "procedure": {
        "field": "data->>'field' = {}",
        "level": "data->>'level' ILIKE '%' || {} || '%'",
        "q": "(data->>'name' ILIKE '%' || {0} || '%' OR entity_id = {0})",
    },
    "qms": {
        "state": "data->>'state' = {}",
        "agency_code": "data->>'agency_code' = {}",
    },
    "iso_process": {
        "agency_code": "data->>'agency_code' = {}",
        "procedure_code": "data->>'procedure_code' = {}",
        "effective_on_or_before": "(data->>'effective_from')::date <= {}::date",
    },
    "calendar_override": {},
    "api_token": {"role": "data->>'role' = {}", "subject": "data->>'subject' = {}"},
}
_FILTERS["legal_profile"] = {"code": "data->>'code' = {}"}

_ORDER = {
    "iso_process": "data->>'agency_code', data->>'procedure_code', (data->>'version')::int",
    "calendar_override": "(data->>'year')::int",
    "legal_profile": "data->>'code', (data->>'version')::int",
}


async def page(conn: Conn, entity: str, filters: dict[str, Any], limit: int, offset: int) -> Page:
    """One page of live entities of a kind, filtered by the names in ``_FILTERS[entity]``."""
    conditions = ["entity = $1", "NOT deleted"]
    args: list[Any] = [entity]
    for name, value in filters.items():
        if value is None:
            continue
        args.append(value)
        conditions.append(_FILTERS[entity][name].format(f"${len(args)}"))
    where = " AND ".join(conditions)
    total = await conn.fetchval(f"SELECT count(*) FROM registry.entities WHERE {where}", *args)
    order = _ORDER.get(entity, "entity_id")
    rows = await conn.fetch(
        f"SELECT * FROM registry.entities WHERE {where} ORDER BY {order} "
        f"LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
        *args,
        limit,
        offset,
    )
    return Page([_stored(r) for r in rows], int(total))


async def processes_of(conn: Conn, agency_code: str, procedure_code: str | None = None) -> list[Stored]:
    rows = await conn.fetch(
        """
        SELECT * FROM registry.entities
        WHERE entity = 'iso_process' AND NOT deleted AND data->>'agency_code' = $1
          AND ($2::text IS NULL OR data->>'procedure_code' = $2)
        ORDER BY data->>'procedure_code', (data->>'version')::int
        """,
        agency_code,
        procedure_code,
    )
    return [_stored(r) for r in rows]


async def subtree(conn: Conn, agency_code: str) -> set[str]:
    """``agency_code`` and the codes of every live agency below it."""
    rows = await conn.fetch(
        """
        WITH RECURSIVE sub(code) AS (
            SELECT $1::text
            UNION
            SELECT e.entity_id FROM registry.entities e JOIN sub ON e.data->>'parent_code' = sub.code
            WHERE e.entity = 'agency' AND NOT e.deleted
        )
        SELECT code FROM sub
        """,
        agency_code,
    )
    return {r["code"] for r in rows}


async def token_record(conn: Conn, token_hash: str) -> ApiTokenRecord | None:
    found = await get(conn, "api_token", token_hash)
    return None if found is None else ApiTokenRecord.model_validate(found.data)


async def token_by_id(conn: Conn, token_id: str) -> Stored | None:
    """A live token by the first 12+ hex digits of its hash (its public id)."""
    rows = await conn.fetch(
        "SELECT * FROM registry.entities WHERE entity = 'api_token' AND NOT deleted AND starts_with(entity_id, $1)",
        token_id,
    )
    return _stored(rows[0]) if len(rows) == 1 else None


async def audit_page(
    conn: Conn,
    *,
    entity: str | None,
    entity_id: str | None,
    actor: str | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    where = (
        "($1::text IS NULL OR entity = $1) AND ($2::text IS NULL OR entity_id = $2) "
        "AND ($3::text IS NULL OR actor = $3)"
    )
    total = await conn.fetchval(
        f"SELECT count(*) FROM registry.audit WHERE {where}", entity, entity_id, actor
    )
    rows = await conn.fetch(
        f"SELECT * FROM registry.audit WHERE {where} ORDER BY id DESC LIMIT $4 OFFSET $5",
        entity,
        entity_id,
        actor,
        limit,
        offset,
    )
    items = [
        {
            "id": r["id"],
            "at": r["at"].isoformat(),
            "actor": r["actor"],
            "actor_role": r["actor_role"],
            "actor_agency": r["actor_agency"],
            "via": r["via"],
            "action": r["action"],
            "entity": r["entity"],
            "entity_id": r["entity_id"],
            "version": r["version"],
            "before": r["before"],
            "after": r["after"],
        }
        for r in rows
    ]
    return items, int(total)


# --- outbox ------------------------------------------------------------------------------------


async def unpublished(conn: Conn, limit: int = 500) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT id, entity, entity_id, message FROM registry.outbox WHERE published_at IS NULL "
            "ORDER BY id LIMIT $1",
            limit,
        )
    )


async def mark_published(conn: Conn, ids: list[int]) -> None:
    await conn.execute("UPDATE registry.outbox SET published_at = now() WHERE id = ANY($1::bigint[])", ids)


async def current_state(conn: Conn) -> list[RegistryChange]:
    """Every entity's latest state as a feed message (deletions included), for republishing."""
    rows = await conn.fetch("SELECT * FROM registry.entities ORDER BY entity, entity_id")
    return [
        RegistryChange(
            entity=r["entity"],
            entity_id=r["entity_id"],
            version=r["version"],
            deleted=r["deleted"],
            changed_at=r["updated_at"],
            data=None if r["deleted"] else r["data"],
        )
        for r in rows
    ]
