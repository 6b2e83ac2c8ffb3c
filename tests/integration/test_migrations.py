"""The migration runner on the real PostgreSQL: repeatable, concurrent-safe, tamper-evident."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from shared.db import Migration, MigrationError, all_migrations, migrate
from tests.conftest import Infra, create_database

pytestmark = pytest.mark.integration


async def test_concurrent_runs_apply_each_migration_exactly_once(infra: Infra) -> None:
    dsn = await create_database(infra, migrated=False)
    conns = [await asyncpg.connect(dsn) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(c, all_migrations()) for c in conns))
        applied = [name for r in results for name in r]
        assert sorted(applied) == sorted(f"{m.service}/{m.name}" for m in all_migrations())
        assert await migrate(conns[0], all_migrations()) == []  # repeat: nothing to do
        count = await conns[0].fetchval("SELECT count(*) FROM public.tthc_schema_migrations")
        assert count == len(all_migrations())
        schemas = {r["nspname"] for r in await conns[0].fetch("SELECT nspname FROM pg_namespace")}
        assert {"registry", "processing", "reporting"} <= schemas
    finally:
        for c in conns:
            await c.close()


async def test_an_edited_applied_migration_is_refused(infra: Infra) -> None:
    dsn = await create_database(infra, migrated=False)
    conn = await asyncpg.connect(dsn)
    try:
        first = Migration("demo", "0001", "0001_t.sql", "CREATE TABLE public.t_demo (x int);")
        await migrate(conn, [first])
        edited = Migration("demo", "0001", "0001_t.sql", "CREATE TABLE public.t_demo (x bigint);")
        with pytest.raises(MigrationError, match="add a new migration file"):
            await migrate(conn, [edited])
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_nothing_behind(infra: Infra) -> None:
    dsn = await create_database(infra, migrated=False)
    conn = await asyncpg.connect(dsn)
    try:
        bad = Migration("demo", "0001", "0001_bad.sql", "CREATE TABLE public.t_half (x int); SELECT 1/0;")
        with pytest.raises(asyncpg.DivisionByZeroError):
            await migrate(conn, [bad])
        assert await conn.fetchval("SELECT to_regclass('public.t_half')") is None
        assert await conn.fetchval("SELECT count(*) FROM public.tthc_schema_migrations") == 0
    finally:
        await conn.close()
