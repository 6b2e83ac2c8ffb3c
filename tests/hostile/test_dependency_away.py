"""The ingress while PostgreSQL is away: 503 with Retry-After (never a 500), and back once it returns."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx
import pytest

from services.processing.adapters import emitter_keys
from shared.db import all_migrations, migrate
from shared.devstack import LocalPostgres
from shared.kafka import ensure_topics
from shared.settings import CommonSettings
from tests.conftest import Infra
from tests.hostile.generate import TZ, valid_events
from tests.integration.service_process import ServiceProcess, isolated_topics, topic_specs_for
from tests.integration.streams import AGENCY, procedure_change, produce

pytestmark = pytest.mark.integration


@pytest.fixture
def own_postgres() -> Iterator[LocalPostgres]:
    """A PostgreSQL of this test's own, so that stopping it disturbs no other test."""
    workdir = Path(tempfile.mkdtemp(prefix="tthc-away-", dir="/tmp"))  # outside $HOME, as LocalPostgres wants
    pg = LocalPostgres(workdir / "pg", fsync=False).start()
    try:
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)


async def prepare(pg: LocalPostgres) -> str:
    conn = await asyncpg.connect(pg.dsn)
    try:
        await migrate(conn, all_migrations())
        return await emitter_keys.create_key(conn, "away", [AGENCY])
    finally:
        await conn.close()


def test_the_ingress_answers_503_with_retry_after_while_postgresql_is_away(
    own_postgres: LocalPostgres, infra: Infra, unique: str, tmp_path: Path
) -> None:
    env = isolated_topics(f"away{unique}") | {
        "TTHC_CONSUMER_GROUP_PREFIX": f"away{unique}",
        "TTHC_INGEST_DB_TIMEOUT_S": "2",
        "TTHC_INGEST_RETRY_AFTER_S": "3",
    }
    asyncio.run(
        ensure_topics(CommonSettings(kafka_bootstrap_servers=infra.bootstrap_servers), topic_specs_for(env))
    )
    asyncio.run(
        produce(
            infra.bootstrap_servers,
            env["TTHC_TOPIC_REGISTRY"],
            [(b"procedure:1.004845", json.dumps(procedure_change()).encode())],
        )
    )
    key = asyncio.run(prepare(own_postgres))
    proc = ServiceProcess("processing", own_postgres.dsn, infra.bootstrap_servers, env, tmp_path / "p.log")
    proc.start()
    auth = {"Authorization": f"Bearer {key}"}
    batches = [valid_events(AGENCY, 2, datetime(2025, 3, d, 8, tzinfo=TZ), f"away{d}-") for d in (3, 4, 5)]
    try:
        with httpx.Client(base_url=proc.url, timeout=30, headers=auth) as http:
            assert http.post("/api/v1/events", json=batches[0]).json()["accepted"] == 10

            own_postgres.stop()
            for path, body in (
                ("/api/v1/events", batches[1]),
                (
                    "/api/v1/portal-sync",
                    [
                        {
                            "MaHoSo": f"{AGENCY}-250306-0001",
                            "MaTTHC": "1.004845",
                            "TrangThaiHoSo": 2,
                            "KenhThucHien": 1,
                            "NgayTiepNhan": "20250306083000",
                        }
                    ],
                ),
            ):
                started = time.monotonic()
                away = http.post(path, json=body)
                assert away.status_code == 503, (path, away.status_code, away.text[:300])
                assert away.headers["retry-after"] == "3"
                assert away.headers["content-type"] == "application/problem+json"
                assert "PostgreSQL did not answer" in away.json()["detail"]
                assert time.monotonic() - started < 10

            own_postgres.start()
            deadline = time.monotonic() + 30
            while True:  # what an emitter does with a 503: the same request again, after Retry-After
                back = http.post("/api/v1/events", json=batches[1])
                if back.status_code == 200 or time.monotonic() > deadline:
                    break
                assert back.status_code == 503, back.text[:300]
                time.sleep(0.5)
            assert back.status_code == 200 and back.json()["accepted"] + back.json()["duplicates"] == 10
            assert http.post("/api/v1/events", json=batches[2]).json()["accepted"] == 10
        metrics = httpx.get(f"{proc.url}/metrics", timeout=5).text
        assert 'tthc_ingest_refused_requests_total{reason="database_unavailable",route="events"}' in metrics
    finally:
        proc.stop()
