"""Timers: OVERDUE and the apology deadline are raised with no event at all, from database state."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import asyncpg

from services.processing.adapters import repository
from services.processing.domain.engine import ClockRules
from services.processing.handlers import (
    ProcessingContext,
    RawMessage,
    apply_registry_change,
    fire_timers,
    handle_event_batch,
    reassess,
)
from shared.contracts import RegistryChange
from shared.contracts.events import parse_dossier_event
from shared.db import create_pool
from shared.settings import CommonSettings
from tests.integration.streams import AGENCY, procedure_change

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


class Outbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, object]]] = []

    async def __call__(self, topic: str, messages: Sequence[tuple[bytes, bytes]]) -> None:
        self.sent += [(topic, json.loads(v)) for _, v in messages]


def context(pool: asyncpg.Pool, outbox: Outbox, now: datetime) -> ProcessingContext:
    settings = CommonSettings()
    return ProcessingContext(
        pool=pool,
        publish_many=outbox,
        calendar=settings.calendar(),
        rules=ClockRules(settings.in_person_cutoff, Decimal(3), Decimal(1)),
        compliance_topic="compliance",
        dlq_topic="dlq",
        clock=lambda: now,
    )


async def test_overdue_is_raised_by_the_timer_after_a_restart(database: str) -> None:
    outbox = Outbox()
    pool = await create_pool(database)
    ctx = context(pool, outbox, datetime(2025, 3, 10, 10, 0, tzinfo=TZ))
    await apply_registry_change(ctx, RegistryChange.model_validate(procedure_change(days=2)))
    accepted = {
        "event_id": "t-1",
        "event_type": "dossier.accepted",
        "occurred_at": "2025-03-10T09:00:00+07:00",
        "source": "test",
        "dossier_code": f"{AGENCY}-250310-0001",
        "agency_code": AGENCY,
        "procedure_code": "1.004845",
        "payload": {"channel": 2},
    }
    await handle_event_batch(ctx, [RawMessage(b"k", json.dumps(accepted).encode(), "events", 0, 0)])
    [(_, first)] = outbox.sent
    assert first["outcome"] == "pending_within"
    assert first["due_at"] == "2025-03-12T09:00:00+07:00"  # 2 working days
    async with pool.acquire() as conn:
        timer = await conn.fetchval("SELECT next_deadline FROM processing.dossiers")
    # the apology (phiếu xin lỗi) is due 1 working day before the due moment
    assert timer == datetime(2025, 3, 11, 9, 0, tzinfo=TZ)
    await pool.close()

    # "restart": a new pool and context; nothing in memory survives, the timer is a row
    pool = await create_pool(database)
    try:
        nothing = context(pool, outbox, datetime(2025, 3, 11, 8, 59, tzinfo=TZ))
        assert await fire_timers(nothing) == 0
        later = context(pool, outbox, datetime(2025, 3, 12, 9, 30, tzinfo=TZ))
        assert await fire_timers(later) == 1
        _, last = outbox.sent[-1]
        assert last["outcome"] == "pending_overdue"
        codes = sorted(str(n["code"]) for n in last["nonconformities"])  # type: ignore[union-attr]
        assert "OVERDUE" in codes and "APOLOGY_MISSING" in codes
        assert int(str(last["revision"])) > int(str(first["revision"]))
        assert await fire_timers(later) == 0  # fired once; the next timer is later or none
    finally:
        await pool.close()


async def test_an_assessment_racing_an_event_batch_never_stores_the_older_verdict(database: str) -> None:
    """A registry change or a timer re-assesses a dossier while an event batch resolves it.

    Seen in the walking-skeleton test before dossier locks: the re-assessment read the events
    before the batch committed, wrote after it, and left a resolved dossier without its outcome.
    """
    outbox = Outbox()
    pool = await create_pool(database)
    ctx = context(pool, outbox, datetime(2025, 4, 1, 10, 0, tzinfo=TZ))
    code = f"{AGENCY}-250310-0003"
    base = {"source": "test", "dossier_code": code, "agency_code": AGENCY, "procedure_code": "1.004845"}
    resolved = {
        **base,
        "event_id": "r-2",
        "event_type": "dossier.resolved",
        "occurred_at": "2025-03-13T10:00:00+07:00",
        "payload": {},
    }
    accepted = {
        **base,
        "event_id": "r-1",
        "event_type": "dossier.accepted",
        "occurred_at": "2025-03-10T09:00:00+07:00",
        "payload": {"channel": 3},
    }
    try:
        await apply_registry_change(ctx, RegistryChange.model_validate(procedure_change(days=2)))
        # the resolution arrives first: no acceptance yet, no verdict
        await handle_event_batch(ctx, [RawMessage(b"k", json.dumps(resolved).encode(), "events", 0, 0)])
        # the batch with the acceptance, held open after assessing (late: resolved a day after its due day)
        batch = await pool.acquire()
        tx = batch.transaction()
        await tx.start()
        event = parse_dossier_event(json.dumps(accepted))
        await repository.insert_events(batch, [event], [json.dumps(accepted)])
        await reassess(batch, ctx, [code], in_hand={code: [event]})
        # meanwhile the registry sends the procedure again (a new version): every dossier is re-assessed
        change = RegistryChange.model_validate(procedure_change(days=2, version=2))
        racing = asyncio.create_task(apply_registry_change(ctx, change))
        await asyncio.sleep(0.5)  # the re-assessment is under way, waiting on the batch
        await tx.commit()
        await pool.release(batch)
        await asyncio.wait_for(racing, 30)
        async with pool.acquire() as conn:
            outcome = await conn.fetchval(
                "SELECT outcome FROM processing.dossiers WHERE dossier_code = $1", code
            )
        assert outcome == "late"
    finally:
        await pool.close()
