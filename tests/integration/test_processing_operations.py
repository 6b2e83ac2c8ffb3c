"""Operating processing: graceful SIGTERM and two replicas sharing one consumer group."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from shared.kafka import ensure_topics
from shared.settings import CommonSettings
from tests.conftest import Infra, create_database
from tests.integration.service_process import ServiceProcess, isolated_topics, topic_specs_for
from tests.integration.streams import as_messages, dossier_events, procedure_change, produce, wait_until

pytestmark = pytest.mark.integration

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


async def prepare(infra: Infra, unique: str, partitions: int) -> dict[str, str]:
    env = isolated_topics(unique) | {
        "TTHC_CONSUMER_GROUP_PREFIX": f"g{unique}",
        "TTHC_KAFKA_MAX_BATCH": "300",
    }
    await ensure_topics(
        CommonSettings(kafka_bootstrap_servers=infra.bootstrap_servers), topic_specs_for(env, partitions)
    )
    await produce(
        infra.bootstrap_servers,
        env["TTHC_TOPIC_REGISTRY"],
        [(b"procedure:1.004845", json.dumps(procedure_change()).encode())],
    )
    return env


def metric(url: str, name: str) -> float:
    """Sum of every series of ``name`` (a bare name, or a name with a label prefix) on /metrics."""
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return sum(float(v) for v in re.findall(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.M))


async def test_sigterm_finishes_and_commits_the_batch_in_hand(
    infra: Infra, unique: str, tmp_path: Path
) -> None:
    env = await prepare(infra, unique, 3)
    events = dossier_events(3000, start=datetime(2025, 3, 3, 8, tzinfo=TZ))
    await produce(infra.bootstrap_servers, env["TTHC_TOPIC_DOSSIER_EVENTS"], as_messages(events))
    dsn = await create_database(infra)
    first = ServiceProcess("processing", dsn, infra.bootstrap_servers, env, tmp_path / "a.log").start()
    conn = await asyncpg.connect(dsn)
    try:
        while await conn.fetchval("SELECT count(*) FROM processing.events") < 2000:
            await asyncio.sleep(0.02)
    finally:
        await conn.close()
    started = time.monotonic()
    assert first.stop() == 0  # SIGTERM mid-stream: clean exit
    assert time.monotonic() - started < 20

    second = ServiceProcess("processing", dsn, infra.bootstrap_servers, env, tmp_path / "b.log").start()
    try:
        await wait_until(dsn, "SELECT count(*) FROM processing.events", len(events))
        # every batch stored before the stop was also committed: nothing is consumed twice
        assert metric(second.url, "tthc_events_duplicate_total") == 0
    finally:
        assert second.stop() == 0


async def test_two_replicas_in_one_group_give_each_dossier_one_correct_state(
    infra: Infra, unique: str, tmp_path: Path
) -> None:
    env = await prepare(infra, unique, 6)
    events = dossier_events(2000, start=datetime(2025, 3, 3, 8, tzinfo=TZ))
    dsn = await create_database(infra)
    replicas = [
        ServiceProcess("processing", dsn, infra.bootstrap_servers, env, tmp_path / f"r{i}.log").start()
        for i in range(2)
    ]
    try:
        await produce(infra.bootstrap_servers, env["TTHC_TOPIC_DOSSIER_EVENTS"], as_messages(events))
        await wait_until(dsn, "SELECT count(*) FROM processing.events", len(events))
        await wait_until(
            dsn, "SELECT count(*) FROM processing.dossiers WHERE published_revision = revision", 2000
        )
        handled = [metric(r.url, "tthc_messages_consumed_total") for r in replicas]
    finally:
        for r in replicas:
            r.stop()
    assert all(n > 0 for n in handled), f"both replicas should own partitions: {handled}"
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT dossier_code, outcome, status FROM processing.dossiers")
    finally:
        await conn.close()
    assert len(rows) == 2000
    late = {r["dossier_code"] for r in rows if r["outcome"] == "late"}
    expected_late = {e["dossier_code"] for i, e in enumerate(events[::4]) if i % 5 == 0}
    assert late == expected_late
    assert {r["status"] for r in rows} == {10}
