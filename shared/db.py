"""asyncpg pool and the migration runner.

Migrations are plain versioned SQL files per service (``services/<name>/migrations/NNNN_*.sql``),
applied in order, each in its own transaction, under a PostgreSQL advisory lock: running
the runner concurrently or repeatedly is safe. An applied file whose text changed is an
error, never silently re-applied.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

log = logging.getLogger(__name__)

#: A connection, pooled or not (the adapters accept both).
Conn = asyncpg.Connection | PoolConnectionProxy

_MIGRATION_LOCK = 7_245_310_001  # advisory-lock key shared by every migration runner
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def _encode_json(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    # orjson: several times faster than the json module on the hot consumer paths
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(typ, encoder=_encode_json, decoder=orjson.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections decode json/jsonb to Python objects."""
    if not dsn:
        raise ValueError("DATABASE_URL is empty: set it or start the system with `tthc up`")
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init_connection)
    assert pool is not None
    return pool


@dataclass(frozen=True)
class Migration:
    """One SQL file."""

    service: str
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    """A migration cannot be applied safely."""


def load_migrations(service: str, directory: Path) -> list[Migration]:
    """The service's migration files, ordered by version."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise MigrationError(f"{path}: migration files are named NNNN_snake_case.sql")
        found.append(Migration(service, m.group(1), path.name, path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"{directory}: two migration files share a version number")
    return found


async def migrate(conn: asyncpg.Connection, migrations: list[Migration]) -> list[str]:
    """Apply what is not applied yet; return the names applied now."""
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
    try:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS public.tthc_schema_migrations (
                service    text NOT NULL,
                version    text NOT NULL,
                name       text NOT NULL,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (service, version)
            )
            """
        )
        rows = await conn.fetch("SELECT service, version, name, checksum FROM public.tthc_schema_migrations")
        done: dict[tuple[str, str], Any] = {(r["service"], r["version"]): r for r in rows}
        for m in migrations:
            prior = done.get((m.service, m.version))
            if prior is not None:
                if prior["checksum"] != m.checksum:
                    raise MigrationError(
                        f"{m.service}/{m.name} was changed after it was applied; "
                        "add a new migration file instead of editing an applied one"
                    )
                continue
            async with conn.transaction():
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO public.tthc_schema_migrations (service, version, name, checksum) "
                    "VALUES ($1, $2, $3, $4)",
                    m.service,
                    m.version,
                    m.name,
                    m.checksum,
                )
            log.info("applied migration %s/%s", m.service, m.name)
            applied_now.append(f"{m.service}/{m.name}")
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied_now


def all_migrations() -> list[Migration]:
    """Every service's migrations, registry first (others may read its tables)."""
    root = Path(__file__).resolve().parent.parent / "services"
    result: list[Migration] = []
    for service in ("registry", "processing", "reporting"):
        result += load_migrations(service, root / service / "migrations")
    return result


async def migrate_all(dsn: str) -> list[str]:
    """Apply every service's migrations to the database at ``dsn``."""
    conn = await asyncpg.connect(dsn)
    try:
        return await migrate(conn, all_migrations())
    finally:
        await conn.close()
