"""One event the database refuses must not stop its batch: it goes to the DLQ, the rest is stored."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from services.processing.adapters import repository
from services.processing.handlers import RawMessage, handle_event_batch
from shared.contracts.events import DossierEvent
from shared.db import Conn, create_pool
from tests.integration.streams import dossier_events
from tests.integration.test_processing_timers import Outbox, context

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


async def test_a_refused_event_is_dead_lettered_and_the_others_stored(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_insert = repository.insert_events

    async def picky_insert(
        conn: Conn, events: Sequence[DossierEvent], bodies: Sequence[str] | None = None
    ) -> set[str]:
        if any(e.event_id == "d1-s" for e in events):
            raise asyncpg.DataError('invalid byte sequence for encoding "UTF8": 0x00')
        return await real_insert(conn, events, bodies)

    monkeypatch.setattr(repository, "insert_events", picky_insert)
    events = dossier_events(3, start=datetime(2025, 3, 3, 8, tzinfo=TZ))
    batch = [
        RawMessage(str(e["dossier_code"]).encode(), json.dumps(e).encode(), "events", 0, i)
        for i, e in enumerate(events)
    ]
    outbox = Outbox()
    pool = await create_pool(database)
    try:
        await handle_event_batch(context(pool, outbox, datetime(2025, 4, 1, tzinfo=TZ)), batch)
        async with pool.acquire() as conn:
            stored = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM processing.events")}
    finally:
        await pool.close()
    assert stored == {str(e["event_id"]) for e in events} - {"d1-s"}
    dead = [body for topic, body in outbox.sent if topic == "dlq"]
    assert len(dead) == 1
    assert dead[0]["kind"] == "storage_rejected" and "0x00" in str(dead[0]["reason"])
    assert json.loads(str(dead[0]["original"]["text"]))["event_id"] == "d1-s"  # type: ignore[index]
