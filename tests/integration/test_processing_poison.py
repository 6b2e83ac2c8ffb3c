"""One dossier the engine fails on, or one event nothing can store, never stops the others.

Real PostgreSQL; the compliance and dead-letter topics are an in-memory outbox, except in the
re-drive test, which goes through the real broker and the `tthc dlq` command.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from click.testing import CliRunner
from prometheus_client import REGISTRY

from services.cli import main
from services.processing.adapters import repository
from services.processing.domain.engine import evaluate
from services.processing.handlers import (
    ProcessingContext,
    RawMessage,
    apply_registry_change,
    fire_timers,
    handle_event_batch,
)
from shared.contracts import RegistryChange
from shared.contracts.events import DossierEvent
from shared.db import Conn, create_pool
from shared.kafka import RawPublisher, TopicSpec, ensure_topics
from shared.settings import CommonSettings
from tests.conftest import Infra, create_database
from tests.integration.streams import AGENCY, dossier_events, procedure_change, read_topic
from tests.integration.test_processing_timers import Outbox, context

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
START = datetime(2025, 3, 3, 8, tzinfo=TZ)


class FailingEngine:
    """The real engine, except that it raises for the dossiers in ``poisoned``."""

    def __init__(self, poisoned: set[str]) -> None:
        self.poisoned = poisoned

    def __call__(self, history: Sequence[DossierEvent], *args: Any) -> Any:
        if history and history[0].dossier_code in self.poisoned:
            raise ValueError("no working day found for this position")
        return evaluate(history, *args)


def failures(path: str) -> float:
    return REGISTRY.get_sample_value("tthc_assessment_failures_total", {"path": path}) or 0.0


def messages(events: list[dict[str, Any]], topic: str = "events") -> list[RawMessage]:
    return [
        RawMessage(str(e["dossier_code"]).encode(), json.dumps(e).encode(), topic, 0, i)
        for i, e in enumerate(events)
    ]


async def stored_ids(pool: asyncpg.Pool) -> set[str]:
    async with pool.acquire() as conn:
        return {r["event_id"] for r in await conn.fetch("SELECT event_id FROM processing.events")}


async def test_a_dossier_the_engine_fails_on_is_dead_lettered_and_the_others_assessed(database: str) -> None:
    events = dossier_events(4, start=START)
    poisoned = str(events[4]["dossier_code"])  # dossier 1
    outbox = Outbox()
    pool = await create_pool(database)
    ctx = context(pool, outbox, datetime(2025, 4, 1, tzinfo=TZ))
    ctx.evaluate = FailingEngine({poisoned})
    await apply_registry_change(ctx, RegistryChange.model_validate(procedure_change(days=2)))
    before = failures("events")
    batch = messages(events)
    try:
        await handle_event_batch(ctx, batch)
        stored = await stored_ids(pool)
    finally:
        await pool.close()
    good = {str(e["event_id"]) for e in events if e["dossier_code"] != poisoned}
    assert stored == good  # the poisoned dossier keeps none of its events: a re-drive brings them back
    assessed = {str(body["dossier_code"]) for topic, body in outbox.sent if topic == "compliance"}
    assert assessed == {str(e["dossier_code"]) for e in events} - {poisoned}
    dead = [body for topic, body in outbox.sent if topic == "dlq"]
    assert [d["kind"] for d in dead] == ["assessment_failed"] * 4
    assert all("ValueError: no working day found" in str(d["reason"]) for d in dead)
    originals = sorted(d["original"]["text"] for d in dead)  # type: ignore[index]
    assert originals == sorted(m.value.decode() for m in batch if m.key == poisoned.encode())
    assert failures("events") == before + 1


async def test_one_refused_event_among_many_is_isolated_in_a_few_transactions(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Halving, not event by event: 256 events with one bad cost at most 1 + 2·log2(256) attempts."""
    real_insert = repository.insert_events
    attempts = 0

    async def picky_insert(
        conn: Conn, events: Sequence[DossierEvent], bodies: Sequence[str] | None = None
    ) -> set[str]:
        nonlocal attempts
        attempts += 1
        if any(e.event_id == "d17-s" for e in events):
            raise asyncpg.DataError("date/time field value out of range")
        return await real_insert(conn, events, bodies)

    monkeypatch.setattr(repository, "insert_events", picky_insert)
    events = dossier_events(64, start=START)
    outbox = Outbox()
    pool = await create_pool(database)
    try:
        await handle_event_batch(context(pool, outbox, datetime(2025, 6, 1, tzinfo=TZ)), messages(events))
        stored = await stored_ids(pool)
    finally:
        await pool.close()
    assert stored == {str(e["event_id"]) for e in events} - {"d17-s"}
    assert attempts <= 17, attempts  # event by event would be 257
    [dead] = [body for topic, body in outbox.sent if topic == "dlq"]
    assert dead["kind"] == "storage_rejected" and "out of range" in str(dead["reason"])


async def test_any_lasting_error_is_isolated_but_a_dependency_away_fails_the_batch(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_insert = repository.insert_events
    error: Exception = RuntimeError("a bug that fails this event every time")

    async def insert(
        conn: Conn, events: Sequence[DossierEvent], bodies: Sequence[str] | None = None
    ) -> set[str]:
        if any(e.event_id == "d2-r" for e in events):
            raise error
        return await real_insert(conn, events, bodies)

    monkeypatch.setattr(repository, "insert_events", insert)
    events = dossier_events(3, start=START)
    outbox = Outbox()
    pool = await create_pool(database)
    ctx = context(pool, outbox, datetime(2025, 6, 1, tzinfo=TZ))
    try:
        await handle_event_batch(ctx, messages(events))  # returns: the batch is committed
        assert await stored_ids(pool) == {str(e["event_id"]) for e in events} - {"d2-r"}
        [dead] = [body for topic, body in outbox.sent if topic == "dlq"]
        assert dead["kind"] == "assessment_failed" and "RuntimeError: a bug" in str(dead["reason"])

        # PostgreSQL going away is not the event's fault: the batch fails and is consumed again
        error = asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle")
        with pytest.raises(asyncpg.exceptions.ConnectionDoesNotExistError):
            await handle_event_batch(ctx, messages(events))
        error = ConnectionResetError("reset by peer")
        with pytest.raises(ConnectionResetError):
            await handle_event_batch(ctx, messages(events))
        assert len([t for t, _ in outbox.sent if t == "dlq"]) == 1  # nothing more dead-lettered
    finally:
        await pool.close()


async def test_the_timer_sweep_goes_on_past_a_failing_dossier_and_retries_it_later(database: str) -> None:
    outbox = Outbox()
    pool = await create_pool(database)
    ctx = context(pool, outbox, datetime(2025, 3, 3, 12, tzinfo=TZ))
    events = [e for e in dossier_events(3, start=START) if e["event_type"] == "dossier.accepted"]
    codes = sorted(str(e["dossier_code"]) for e in events)
    try:
        await apply_registry_change(ctx, RegistryChange.model_validate(procedure_change(days=2)))
        await handle_event_batch(ctx, messages(events))
        later = datetime(2025, 3, 20, 9, tzinfo=TZ)  # every due date has passed
        ctx.clock = lambda: later
        ctx.evaluate = FailingEngine({codes[1]})
        before = failures("timer")
        outbox.sent.clear()
        assert await fire_timers(ctx) == 3
        overdue = {str(b["dossier_code"]) for t, b in outbox.sent if t == "compliance"}
        assert overdue == {codes[0], codes[2]}
        assert failures("timer") == before + 1
        assert await fire_timers(ctx) == 0  # no spinning on the failing dossier
        async with pool.acquire() as conn:
            retry_at = await conn.fetchval(
                "SELECT next_deadline FROM processing.dossiers WHERE dossier_code = $1", codes[1]
            )
        assert retry_at == later + timedelta(seconds=ctx.retry_failed_after_s)

        ctx.evaluate = evaluate  # fixed and redeployed: the retry assesses it
        ctx.clock = lambda: retry_at
        outbox.sent.clear()
        assert await fire_timers(ctx) >= 1
        assert codes[1] in {str(b["dossier_code"]) for t, b in outbox.sent if t == "compliance"}
    finally:
        await pool.close()


async def test_a_registry_change_reassesses_the_others_when_one_dossier_fails(database: str) -> None:
    outbox = Outbox()
    pool = await create_pool(database)
    now = datetime(2025, 3, 3, 12, tzinfo=TZ)
    ctx = context(pool, outbox, now)
    events = [e for e in dossier_events(3, start=START) if e["event_type"] == "dossier.accepted"]
    codes = sorted(str(e["dossier_code"]) for e in events)
    try:
        await apply_registry_change(ctx, RegistryChange.model_validate(procedure_change(days=2)))
        await handle_event_batch(ctx, messages(events))
        ctx.evaluate = FailingEngine({codes[0]})
        outbox.sent.clear()
        before = failures("registry")
        await apply_registry_change(ctx, RegistryChange.model_validate(procedure_change(days=5, version=2)))
        moved = {str(b["dossier_code"]): b["due_at"] for t, b in outbox.sent if t == "compliance"}
        assert set(moved) == {codes[1], codes[2]}  # 5 working days now
        assert failures("registry") == before + 1
        async with pool.acquire() as conn:
            retry_at = await conn.fetchval(
                "SELECT next_deadline FROM processing.dossiers WHERE dossier_code = $1", codes[0]
            )
        assert retry_at == now + timedelta(seconds=ctx.retry_failed_after_s)
    finally:
        await pool.close()


def test_assessment_failures_go_through_the_broker_and_come_back_with_dlq_redrive(
    infra: Infra, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = f"t{unique}.dossier-events.v1"
    settings = CommonSettings(kafka_bootstrap_servers=infra.bootstrap_servers)
    topics = [TopicSpec(topic, 1), TopicSpec(f"{topic}.dlq", 1), TopicSpec(f"t{unique}.compliance", 1)]
    asyncio.run(ensure_topics(settings, topics))
    dsn = asyncio.run(create_database(infra))
    events = dossier_events(2, start=START)
    poisoned = str(events[0]["dossier_code"])

    async def consume(batch: list[RawMessage], engine: Any) -> set[str]:
        publisher = RawPublisher(settings, client_id="poison-test")
        await publisher.start()
        pool = await create_pool(dsn)
        try:
            ctx: ProcessingContext = context(pool, Outbox(), datetime(2025, 4, 1, tzinfo=TZ))
            ctx.publish_many = publisher.publish_many
            ctx.compliance_topic, ctx.dlq_topic, ctx.evaluate = (
                f"t{unique}.compliance",
                f"{topic}.dlq",
                engine,
            )
            await apply_registry_change(ctx, RegistryChange.model_validate(procedure_change(days=2)))
            await handle_event_batch(ctx, batch)
            async with pool.acquire() as conn:
                return {
                    r["dossier_code"]
                    for r in await conn.fetch("SELECT dossier_code FROM processing.dossiers")
                }
        finally:
            await pool.close()
            await publisher.stop()

    assessed = asyncio.run(consume(messages(events, topic), FailingEngine({poisoned})))
    assert assessed == {str(events[4]["dossier_code"])}

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", infra.bootstrap_servers)
    monkeypatch.setenv("TTHC_TOPIC_DOSSIER_EVENTS", topic)
    runner = CliRunner()
    listed = runner.invoke(main, ["dlq", "list", "--kind", "assessment_failed"])
    assert listed.exit_code == 0, listed.output
    assert "4 dead letter(s) of kind assessment_failed" in listed.output
    assert "no working day found" in listed.output
    redriven = runner.invoke(main, ["dlq", "redrive", "--kind", "assessment_failed"])
    assert redriven.exit_code == 0 and "re-drove 4" in redriven.output, redriven.output

    back = asyncio.run(read_topic(infra.bootstrap_servers, topic, 4))
    assert sorted(r.value for r in back) == sorted(json.dumps(e).encode() for e in events[:4])
    again = [RawMessage(r.key, r.value, r.topic, r.partition, r.offset) for r in back]
    assessed = asyncio.run(consume(again, evaluate))  # the engine is fixed
    assert assessed == {str(events[0]["dossier_code"]), str(events[4]["dossier_code"])}


async def test_registry_changes_processing_cannot_use_are_dead_lettered_and_the_next_applied(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.processing.adapters import registry_copy
    from services.processing.handlers import handle_registry_batch

    real_apply = registry_copy.apply_change

    async def apply(conn: Conn, change: RegistryChange) -> Any:
        if change.entity_id == "9.999999":
            raise RuntimeError("a bug in the local copy")
        return await real_apply(conn, change)

    monkeypatch.setattr(registry_copy, "apply_change", apply)
    outbox = Outbox()
    pool = await create_pool(database)
    ctx = context(pool, outbox, datetime(2025, 4, 1, tzinfo=TZ))
    invalid = b'{"entity": "procedure"}'
    failing = json.dumps(procedure_change(code="9.999999")).encode()
    good = json.dumps(procedure_change(days=4)).encode()
    try:
        await handle_registry_batch(
            ctx,
            [RawMessage(b"k", v, "tthc.registry.v1", 0, i) for i, v in enumerate([invalid, failing, good])],
        )
        async with pool.acquire() as conn:
            kept = await conn.fetchval(
                "SELECT count(*) FROM processing.procedures WHERE code = $1", "1.004845"
            )
    finally:
        await pool.close()
    assert kept == 1
    dead = [(topic, body["kind"], body["original"]["text"]) for topic, body in outbox.sent]  # type: ignore[index]
    assert dead == [
        (ctx.registry_dlq_topic, "invalid_registry_change", invalid.decode()),
        (ctx.registry_dlq_topic, "registry_change_failed", failing.decode()),
    ]


async def test_the_fault_injection_event_of_issue_11_no_longer_stalls_the_batch(database: str) -> None:
    """An ``occurred_at`` in 3025 (a typo for 2025) made the engine raise and the batch retry for ever.

    Now its dossier is dead-lettered (by the engine's failure, or by the contract once it bounds
    dates) and the valid events of the same batch are stored and assessed.
    """
    valid = dossier_events(5, start=START)
    typo = dict(valid[0]) | {
        "event_id": "typo-3025",
        "dossier_code": f"{AGENCY}-250303-9999",
        "occurred_at": "3025-03-03T08:00:00+07:00",
    }
    outbox = Outbox()
    pool = await create_pool(database)
    ctx = context(pool, outbox, datetime(2025, 4, 1, tzinfo=TZ))
    try:
        await apply_registry_change(ctx, RegistryChange.model_validate(procedure_change(days=2)))
        await handle_event_batch(ctx, messages([typo, *valid]))
        stored = await stored_ids(pool)
    finally:
        await pool.close()
    assert stored == {str(e["event_id"]) for e in valid}
    [dead] = [body for topic, body in outbox.sent if topic == "dlq"]
    assert dead["kind"] in {"assessment_failed", "invalid_event"}, dead
    assert json.loads(str(dead["original"]["text"]))["event_id"] == "typo-3025"  # type: ignore[index]


async def test_what_a_failing_dossier_had_stored_before_stays(database: str) -> None:
    accepted, step, resolved, returned = dossier_events(1, start=START)
    code = str(accepted["dossier_code"])
    outbox = Outbox()
    pool = await create_pool(database)
    ctx = context(pool, outbox, datetime(2025, 4, 1, tzinfo=TZ))
    try:
        await handle_event_batch(ctx, messages([accepted, step]))
        ctx.evaluate = FailingEngine({code})  # from now on the engine fails on it
        outbox.sent.clear()
        await handle_event_batch(ctx, messages([step, resolved, returned]))  # a redelivery and two new
        stored = await stored_ids(pool)
    finally:
        await pool.close()
    assert stored == {accepted["event_id"], step["event_id"]}
    dead = sorted(json.loads(str(b["original"]["text"]))["event_id"] for t, b in outbox.sent if t == "dlq")  # type: ignore[index]
    assert dead == sorted([str(resolved["event_id"]), str(returned["event_id"])])
