"""Processing on the real broker and PostgreSQL: poison messages and kill -9 mid-stream."""

from __future__ import annotations

import json
import random
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from shared.kafka import ensure_topics
from shared.settings import CommonSettings
from tests.conftest import Infra, create_database
from tests.integration.service_process import ServiceProcess, isolated_topics, topic_specs_for
from tests.integration.streams import (
    as_messages,
    dossier_events,
    procedure_change,
    produce,
    read_topic,
    wait_until,
)

pytestmark = pytest.mark.integration

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


async def prepare(infra: Infra, unique: str) -> dict[str, str]:
    env = isolated_topics(unique) | {"TTHC_CONSUMER_GROUP_PREFIX": f"g{unique}"}
    await ensure_topics(CommonSettings(kafka_bootstrap_servers=infra.bootstrap_servers), topic_specs_for(env))
    await produce(
        infra.bootstrap_servers,
        env["TTHC_TOPIC_REGISTRY"],
        [(b"procedure:1.004845", json.dumps(procedure_change()).encode())],
    )
    return env


def poison(i: int) -> bytes:
    kinds = [
        b"{not json",
        b"\xff\xfe\x00 binary",
        json.dumps({"event_id": f"p{i}", "event_type": "dossier.teleported"}).encode(),
        json.dumps(
            {
                "event_id": f"p{i}",
                "event_type": "dossier.accepted",
                "occurred_at": "2025-03-10T09:00:00",
                "source": "x",
                "dossier_code": "000.00.13.H13-250310-0001",
                "agency_code": "000.00.13.H13",
                "procedure_code": "1.004845",
                "payload": {"channel": 1},
            }
        ).encode(),  # no offset
    ]
    return kinds[i % len(kinds)]


async def test_poison_messages_go_to_the_dlq_and_the_stream_moves_on(
    infra: Infra, unique: str, tmp_path: Path
) -> None:
    env = await prepare(infra, unique)
    dsn = await create_database(infra)
    valid = as_messages(dossier_events(500, start=datetime(2025, 3, 3, 8, 0, tzinfo=TZ)))
    rng = random.Random(1)
    mixed = list(valid)
    for i in range(1000):
        mixed.insert(rng.randrange(len(mixed) + 1), (b"poison", poison(i)))
    await produce(infra.bootstrap_servers, env["TTHC_TOPIC_DOSSIER_EVENTS"], mixed)

    proc = ServiceProcess(
        "processing", dsn, infra.bootstrap_servers, env, tmp_path / "processing.log"
    ).start()
    try:
        await wait_until(dsn, "SELECT count(*) FROM processing.events", len(valid))
        await wait_until(
            dsn, "SELECT count(*) FROM processing.dossiers WHERE published_revision = revision", 500
        )
        dead = await read_topic(infra.bootstrap_servers, env["TTHC_TOPIC_DOSSIER_EVENTS"] + ".dlq", 1000)
    finally:
        assert proc.stop() == 0
    assert len(dead) == 1000
    bodies = [json.loads(r.value) for r in dead]
    kinds = {b["kind"] for b in bodies}
    assert kinds == {"invalid_json", "unknown_event_type", "invalid_event"}
    assert all(b["reason"] and b["source"]["topic"] == env["TTHC_TOPIC_DOSSIER_EVENTS"] for b in bodies)
    no_offset = [b for b in bodies if "occurred_at" in b["reason"]]
    assert len(no_offset) == 250 and all("timezone" in b["reason"] for b in no_offset)
    binary = [b for b in bodies if "base64" in b["original"]]
    assert len(binary) == 250  # the original bytes are kept, even when they are not text
    conn = await asyncpg.connect(dsn)
    try:
        late = await conn.fetchval("SELECT count(*) FROM processing.dossiers WHERE outcome = 'late'")
    finally:
        await conn.close()
    assert late == 100  # every 5th dossier took 6 days for a 2-working-day procedure


async def final_state(dsn: str) -> dict[str, tuple[object, ...]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT dossier_code, status, outcome, accepted_at, due_at, index_due_at, resolved_at, "
            "assessment - 'revision' AS a FROM processing.dossiers"
        )
        events = await conn.fetchval("SELECT count(*) FROM processing.events")
    finally:
        await conn.close()
    state = {r["dossier_code"]: tuple(r.values())[1:] for r in rows}
    state["__events__"] = (events,)
    return state


async def test_kill_9_mid_stream_ends_in_the_same_state_as_an_uninterrupted_run(
    infra: Infra, unique: str, tmp_path: Path
) -> None:
    env = await prepare(infra, unique)
    events = dossier_events(5000, start=datetime(2025, 1, 6, 8, 0, tzinfo=TZ))  # 20,000 events, across Tết
    assert len(events) == 20_000
    await produce(infra.bootstrap_servers, env["TTHC_TOPIC_DOSSIER_EVENTS"], as_messages(events))
    small_batches = {"TTHC_KAFKA_MAX_BATCH": "500"}

    crashed_db = await create_database(infra)
    first = ServiceProcess(
        "processing", crashed_db, infra.bootstrap_servers, env | small_batches, tmp_path / "crash1.log"
    ).start()
    conn = await asyncpg.connect(crashed_db)
    try:
        while await conn.fetchval("SELECT count(*) FROM processing.events") < 4000:
            import asyncio

            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    first.kill()  # kill -9 in the middle of the stream
    second = ServiceProcess(
        "processing", crashed_db, infra.bootstrap_servers, env | small_batches, tmp_path / "crash2.log"
    ).start()
    try:
        await wait_until(crashed_db, "SELECT count(*) FROM processing.events", 20_000, timeout=120)
        await wait_until(
            crashed_db, "SELECT count(*) FROM processing.dossiers WHERE published_revision < revision", 0
        )
    finally:
        second.stop()

    clean_db = await create_database(infra)
    clean_env = env | {"TTHC_CONSUMER_GROUP_PREFIX": f"clean{unique}"}
    clean = ServiceProcess(
        "processing", clean_db, infra.bootstrap_servers, clean_env, tmp_path / "clean.log"
    ).start()
    try:
        await wait_until(clean_db, "SELECT count(*) FROM processing.events", 20_000, timeout=120)
        await wait_until(
            clean_db, "SELECT count(*) FROM processing.dossiers WHERE published_revision < revision", 0
        )
    finally:
        clean.stop()

    crashed, uninterrupted = await final_state(crashed_db), await final_state(clean_db)
    assert len(uninterrupted) == 5001
    assert crashed == uninterrupted
