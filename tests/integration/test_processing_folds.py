"""Issue #16 on real PostgreSQL: folds kept between batches, the registry copy kept as domain
objects, events stored by COPY — and the assessments exactly those of the full path.

Two contexts on one database stand for two replicas (each with its own memory); the topics
are an in-memory outbox.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from prometheus_client import REGISTRY

from services.processing.adapters.folds import FoldStore
from services.processing.handlers import RawMessage, apply_registry_change, handle_event_batch, reassess
from shared.contracts import RegistryChange
from shared.db import create_pool
from tests.integration.streams import dossier_events, procedure_change
from tests.integration.test_processing_poison import messages
from tests.integration.test_processing_timers import Outbox, context

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
START = datetime(2025, 3, 3, 8, tzinfo=TZ)
NOW = datetime(2025, 4, 1, tzinfo=TZ)


def folds(how: str) -> float:
    return REGISTRY.get_sample_value("tthc_dossier_folds_total", {"how": how}) or 0.0


def of_kind(events: list[dict[str, Any]], suffix: str) -> list[dict[str, Any]]:
    return [e for e in events if str(e["event_id"]).endswith(suffix)]


async def stored(pool: asyncpg.Pool) -> dict[str, tuple[int, Any]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT dossier_code, revision, assessment FROM processing.dossiers")
    return {r["dossier_code"]: (r["revision"], r["assessment"]) for r in rows}


async def test_batches_continue_kept_folds_and_assess_as_a_full_fold_would(database: str) -> None:
    events = dossier_events(3, start=START)  # per dossier: accepted, step, resolved, returned
    outbox = Outbox()
    pool = await create_pool(database)
    try:
        a, b = context(pool, outbox, NOW), context(pool, outbox, NOW)  # two replicas
        await apply_registry_change(a, RegistryChange.model_validate(procedure_change(days=2)))
        await handle_event_batch(a, messages(of_kind(events, "-a")))
        continued, again = folds("continued"), folds("refolded")
        await handle_event_batch(a, messages(of_kind(events, "-s")))
        assert (folds("continued") - continued, folds("refolded") - again) == (3, 0)
        # the resolutions go to the other replica (a rebalance): it folds from the stored events
        await handle_event_batch(b, messages(of_kind(events, "-r")))
        assert folds("refolded") - again == 3
        # back on the first: its kept folds lack the resolutions; their tokens tell it so
        continued, again = folds("continued"), folds("refolded")
        await handle_event_batch(a, messages(of_kind(events, "-t")))
        assert (folds("continued") - continued, folds("refolded") - again) == (0, 3)
        # an event older than the last one folded: folded again, in its place
        late = {**events[1], "event_id": "late-step", "occurred_at": (START + timedelta(hours=1)).isoformat()}
        await handle_event_batch(a, messages([late]))
        assert folds("refolded") - again == 4
        incremental = await stored(pool)
        # a cold replica assesses every dossier from all of its stored events: nothing changes
        cold = context(pool, outbox, NOW)
        cold.folds = FoldStore(0)
        async with pool.acquire() as conn, conn.transaction():
            await reassess(conn, cold, sorted(incremental))
        assert await stored(pool) == incremental
    finally:
        await pool.close()
    resolved = [body for topic, body in outbox.sent if topic == "compliance" and body["resolved_at"]]
    assert {str(body["dossier_code"]) for body in resolved} == {str(e["dossier_code"]) for e in events}
    late_step = incremental[str(late["dossier_code"])][1]["steps"]
    assert len(late_step) == 2  # the late step is in the control slip


async def test_a_registry_change_taken_by_another_replica_is_seen_by_the_next_batch(database: str) -> None:
    first, second = dossier_events(2, start=START)[:4], dossier_events(2, start=START)[4:]
    outbox = Outbox()
    pool = await create_pool(database)
    try:
        a, b = context(pool, outbox, NOW), context(pool, outbox, NOW)
        await apply_registry_change(a, RegistryChange.model_validate(procedure_change(days=2)))
        await handle_event_batch(a, messages(first))  # a now holds the procedure's terms (2 days)
        await apply_registry_change(b, RegistryChange.model_validate(procedure_change(days=20, version=2)))
        await handle_event_batch(a, messages(second))
        after = await stored(pool)
    finally:
        await pool.close()
    for e in (first[0], second[0]):
        accepted = datetime.fromisoformat(str(e["occurred_at"]))
        due = datetime.fromisoformat(after[str(e["dossier_code"])][1]["due_at"])
        assert due - accepted > timedelta(days=20)  # 20 working days, not 2


async def test_copy_stores_each_body_as_sent_once(database: str) -> None:
    events = dossier_events(1, start=START)
    events[0]["source"] = 'quầy 1\t"B" \\ C'  # a tab, quotes and a backslash inside a text
    pretty = json.dumps(events[0], indent="\t", ensure_ascii=False)  # tabs and newlines between tokens
    batch = messages(events)
    batch[0] = RawMessage(batch[0].key, pretty.encode(), "events", 0, 0)
    outbox = Outbox()
    pool = await create_pool(database)
    try:
        ctx = context(pool, outbox, NOW)
        await apply_registry_change(ctx, RegistryChange.model_validate(procedure_change(days=2)))
        await handle_event_batch(ctx, [*batch, batch[0]])  # the first one twice in the batch
        await handle_event_batch(ctx, batch[:2])  # and again later
        async with pool.acquire() as conn:
            rows = await conn.fetch("SELECT event_id, body FROM processing.events ORDER BY occurred_at")
    finally:
        await pool.close()
    assert [r["event_id"] for r in rows] == [e["event_id"] for e in events]
    assert [r["body"] for r in rows] == events


def gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value(name)


async def test_the_fold_store_keeps_folds_within_its_event_budget_and_exports_what_it_holds(
    database: str,
) -> None:
    events = dossier_events(4, start=START)  # per dossier: accepted, step, resolved, returned
    outbox = Outbox()
    pool = await create_pool(database)
    try:
        ctx = context(pool, outbox, NOW)
        ctx.folds = FoldStore(max_events=5)
        await apply_registry_change(ctx, RegistryChange.model_validate(procedure_change(days=2)))
        await handle_event_batch(ctx, messages(of_kind(events, "-a")))  # 4 open dossiers of 1 event
        assert (len(ctx.folds), ctx.folds.events) == (4, 4)
        assert (gauge("tthc_fold_store_dossiers"), gauge("tthc_fold_store_events")) == (4, 4)
        await handle_event_batch(ctx, messages(of_kind(events, "-s")))  # 2 events each: 2 dossiers fit
        assert (len(ctx.folds), ctx.folds.events) == (2, 4)
        assert (gauge("tthc_fold_store_dossiers"), gauge("tthc_fold_store_events")) == (2, 4)
        continued, again = folds("continued"), folds("refolded")
        await handle_event_batch(ctx, messages(of_kind(events, "-r")))
        # the two kept were continued, the two evicted folded again from their stored events
        assert (folds("continued") - continued, folds("refolded") - again) == (2, 2)
        incremental = await stored(pool)
        cold = context(pool, outbox, NOW)
        cold.folds = FoldStore(0)
        async with pool.acquire() as conn, conn.transaction():
            await reassess(conn, cold, sorted(incremental))
        assert await stored(pool) == incremental  # the same assessments, kept or evicted
        assert (gauge("tthc_fold_store_dossiers"), gauge("tthc_fold_store_events")) == (0, 0)
    finally:
        await pool.close()
