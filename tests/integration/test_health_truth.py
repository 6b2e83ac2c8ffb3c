"""A running processing service tells the truth about itself.

- /healthz answers 503 naming the database within a second while PostgreSQL is stopped (SIGSTOP:
  it hung before), and 200 again once it runs;
- /readyz answers 503 while its consumer has lag and makes no progress (the events table is locked
  by someone else), and 200 once it moves again;
- tthc_consumer_lag_messages is exported for each of its consumers.
"""

from __future__ import annotations

import asyncio
import signal
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import psutil
import pytest

from shared.db import all_migrations, migrate
from shared.devstack import LocalPostgres
from shared.kafka import ensure_topics
from shared.settings import CommonSettings
from tests.conftest import Infra, create_database
from tests.integration.service_process import ServiceProcess, isolated_topics, topic_specs_for
from tests.integration.streams import as_messages, dossier_events, produce

pytestmark = pytest.mark.integration

FAST_WATCH = {"TTHC_CONSUMER_STALL_S": "3", "TTHC_CONSUMER_WATCH_INTERVAL_S": "0.5"}


def timed_get(url: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    r = httpx.get(url, timeout=10)
    return r, time.monotonic() - started


def poll(url: str, status: int, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(url, timeout=10)
        if r.status_code == status or time.monotonic() > deadline:
            return r
        time.sleep(0.3)


@pytest.fixture
def own_postgres() -> Iterator[LocalPostgres]:
    """A PostgreSQL of this test's own: it is going to be stopped."""
    with tempfile.TemporaryDirectory(prefix="tthc-health-", dir="/tmp") as work:
        pg = LocalPostgres(Path(work) / "pg", fsync=False).start()
        try:
            yield pg
        finally:
            assert pg.proc is not None
            for p in [psutil.Process(pg.proc.pid), *psutil.Process(pg.proc.pid).children(recursive=True)]:
                p.send_signal(signal.SIGCONT)
            pg.stop()


def test_healthz_answers_503_in_time_while_postgresql_is_stopped(
    own_postgres: LocalPostgres, infra: Infra, unique: str, tmp_path: Path
) -> None:
    async def migrated() -> None:
        conn = await asyncpg.connect(own_postgres.dsn)
        try:
            await migrate(conn, all_migrations())
        finally:
            await conn.close()

    asyncio.run(migrated())
    env = isolated_topics(unique) | {"TTHC_CONSUMER_GROUP_PREFIX": f"g{unique}"}
    asyncio.run(
        ensure_topics(CommonSettings(kafka_bootstrap_servers=infra.bootstrap_servers), topic_specs_for(env))
    )
    proc = ServiceProcess("processing", own_postgres.dsn, infra.bootstrap_servers, env, tmp_path / "p.log")
    proc.start()
    assert own_postgres.proc is not None
    postgres = [psutil.Process(own_postgres.proc.pid), *psutil.Process(own_postgres.proc.pid).children(True)]
    try:
        for p in postgres:
            p.send_signal(signal.SIGSTOP)
        for _ in range(3):  # the first times a check hangs, then: still hanging, not piled up
            r, took = timed_get(f"{proc.url}/healthz")
            assert r.status_code == 503 and took < 1.5, (r.status_code, took)
            assert r.json()["checks"]["database"].startswith("error:")
            assert r.json()["checks"]["kafka"] == "ok"
        assert httpx.get(f"{proc.url}/readyz", timeout=10).status_code == 503
    finally:
        for p in postgres:
            p.send_signal(signal.SIGCONT)
    try:
        assert poll(f"{proc.url}/healthz", 200).status_code == 200
    finally:
        proc.stop()


def test_readyz_fails_while_the_consumer_is_stuck_and_lag_is_exported(
    infra: Infra, unique: str, tmp_path: Path
) -> None:
    env = isolated_topics(unique) | {"TTHC_CONSUMER_GROUP_PREFIX": f"g{unique}"} | FAST_WATCH
    asyncio.run(
        ensure_topics(CommonSettings(kafka_bootstrap_servers=infra.bootstrap_servers), topic_specs_for(env))
    )
    dsn = asyncio.run(create_database(infra))
    proc = ServiceProcess("processing", dsn, infra.bootstrap_servers, env, tmp_path / "p.log").start()
    messages = as_messages(
        dossier_events(5, start=datetime(2025, 3, 3, 8, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")))
    )

    async def stuck_then_released() -> None:
        blocker = await asyncpg.connect(dsn)
        try:
            tx = blocker.transaction()
            await tx.start()
            await blocker.execute("LOCK TABLE processing.events IN ACCESS EXCLUSIVE MODE")
            await produce(infra.bootstrap_servers, env["TTHC_TOPIC_DOSSIER_EVENTS"], messages)
            deadline = time.monotonic() + 30
            async with httpx.AsyncClient(timeout=10) as client:
                while True:
                    r = await client.get(f"{proc.url}/readyz")
                    if r.status_code == 503 or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.3)
                assert r.status_code == 503, r.text
                [(topic, stalled)] = r.json()["stalled"].items()
                assert topic == env["TTHC_TOPIC_DOSSIER_EVENTS"] and stalled["lag"] == len(messages)
                assert r.json()["checks"] == {"database": "ok", "kafka": "ok"}  # /healthz alone says ok
                exposed = (await client.get(f"{proc.url}/metrics")).text
                assert (
                    f'tthc_consumer_lag_messages{{service="processing",topic="{topic}"}} {len(messages)}.0'
                    in exposed
                )
                assert (
                    f'tthc_consumer_lag_messages{{service="processing",topic="{env["TTHC_TOPIC_REGISTRY"]}"}}'
                    in exposed
                )
            await tx.rollback()
        finally:
            await blocker.close()

    try:
        asyncio.run(stuck_then_released())
        assert poll(f"{proc.url}/readyz", 200).status_code == 200
    finally:
        proc.stop()
