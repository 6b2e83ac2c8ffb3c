"""The at-risk warning on real PostgreSQL: learned from resolved dossiers in processing's tables,
raised by a timer with no event, published, counted per agency, and the same after a restart.

Model by hand: 20 dossiers resolved 10, 11, …, 29 hours after acceptance; quantile 0.5. The
median of the durations longer than the elapsed time first exceeds the 24 h allowed (1 working
day from Mon 09:00 to Tue 09:00) once 19 h have passed: of 19…29 h (11 values) the 6th is 25 h.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from services.processing.adapters import forecast_store
from services.processing.handlers import (
    RawMessage,
    apply_registry_change,
    fire_timers,
    handle_event_batch,
    publish_unpublished,
)
from shared.contracts import RegistryChange
from shared.db import create_pool
from tests.integration.streams import AGENCY, PROCEDURE, procedure_change
from tests.integration.test_processing_timers import TZ, Outbox, context

TRAINED = datetime(2025, 3, 3, 9, 0, tzinfo=TZ)  # Mon
ACCEPTED = datetime(2025, 3, 10, 9, 0, tzinfo=TZ)  # Mon; due Tue 11 Mar 09:00


def event(code: str, n: str, kind: str, at: datetime) -> RawMessage:
    body = {
        "event_id": f"{code}-{n}",
        "event_type": f"dossier.{kind}",
        "occurred_at": at.isoformat(),
        "source": "test",
        "dossier_code": code,
        "agency_code": AGENCY,
        "procedure_code": PROCEDURE,
        "payload": {"channel": 2} if kind == "accepted" else {},
    }
    return RawMessage(code.encode(), json.dumps(body).encode(), "events", 0, 0)


async def test_at_risk_is_learned_raised_by_a_timer_published_and_counted(database: str) -> None:
    outbox = Outbox()
    pool = await create_pool(database)
    try:
        ctx = context(pool, outbox, ACCEPTED)
        await apply_registry_change(ctx, RegistryChange.model_validate(procedure_change(days=1)))
        history = []
        for k in range(20):
            code = f"{AGENCY}-250303-{k:04d}"
            history += [
                event(code, "a", "accepted", TRAINED),
                event(code, "r", "resolved", TRAINED + timedelta(hours=10 + k)),
            ]
        await handle_event_batch(ctx, history)
        async with pool.acquire() as conn:
            ctx.forecast_model = await forecast_store.learn(conn, quantile=0.5, min_samples=20)
        assert ctx.forecast_model.samples == {
            (PROCEDURE, "accepted"): tuple(float(3600 * (10 + k)) for k in range(20))
        }
        code = f"{AGENCY}-250310-0001"
        await handle_event_batch(ctx, [event(code, "a", "accepted", ACCEPTED)])
        _, first = outbox.sent[-1]
        assert first["at_risk_since"] is None
        # open 0 h: median of all 20 (10…29 h) is the 11th, 20 h after acceptance
        assert datetime.fromisoformat(str(first["forecast_resolved_at"])) == ACCEPTED + timedelta(hours=20)
        async with pool.acquire() as conn:
            timer = await conn.fetchval(
                "SELECT next_deadline FROM processing.dossiers WHERE dossier_code = $1", code
            )
            assert await forecast_store.at_risk_by_agency(conn) == {}
        assert timer == ACCEPTED + timedelta(hours=19)
    finally:
        await pool.close()

    # restart: nothing in memory survives; the model is relearned from the tables, the timer is a row
    pool = await create_pool(database)
    try:
        later = context(pool, outbox, ACCEPTED + timedelta(hours=19, minutes=30))
        async with pool.acquire() as conn:
            later.forecast_model = await forecast_store.learn(conn, quantile=0.5, min_samples=20)
        assert await fire_timers(later) == 1
        _, warned = outbox.sent[-1]
        assert warned["dossier_code"] == code
        assert datetime.fromisoformat(str(warned["at_risk_since"])) == ACCEPTED + timedelta(hours=19)
        assert warned["outcome"] == "pending_within"
        async with pool.acquire() as conn:
            assert await forecast_store.export_at_risk(conn) == {AGENCY: 1}
        # /metrics: one series per agency, never per dossier
        assert gauge() == {(("agency", AGENCY),): 1.0}
        async with pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT assessment, at_risk_since FROM processing.dossiers WHERE dossier_code = $1", code
            )
            # beside the stored assessment, not in it: that stays a function of the events alone
            assert row["at_risk_since"] == ACCEPTED + timedelta(hours=19)
            assert not {"at_risk_since", "forecast_resolved_at"} & set(row["assessment"])
            # a message lost in a crash is published again from the table, warning included
            await conn.execute(
                "UPDATE processing.dossiers SET published_revision = 0 WHERE dossier_code = $1", code
            )
        assert await publish_unpublished(later) == 1
        _, again = outbox.sent[-1]
        instants = {
            k: datetime.fromisoformat(str(again[k])) for k in ("at_risk_since", "forecast_resolved_at")
        }
        assert instants == {k: datetime.fromisoformat(str(warned[k])) for k in instants}
        assert again["dossier_code"] == code
        # resolved: no longer counted as an open dossier at risk, the first warning stays on record
        await handle_event_batch(later, [event(code, "r", "resolved", ACCEPTED + timedelta(hours=20))])
        _, done = outbox.sent[-1]
        assert datetime.fromisoformat(str(done["at_risk_since"])) == ACCEPTED + timedelta(hours=19)
        async with pool.acquire() as conn:
            assert await forecast_store.export_at_risk(conn) == {}
        assert gauge() == {}
        # past its due moment a warned dossier is pending overdue: counted there, no longer at risk
        overdue = context(pool, outbox, ACCEPTED + timedelta(hours=25))
        overdue.forecast_model = later.forecast_model
        await handle_event_batch(overdue, [event(f"{AGENCY}-250310-0002", "a", "accepted", ACCEPTED)])
        _, past = outbox.sent[-1]
        assert (past["outcome"], past["at_risk_since"] is not None) == ("pending_overdue", True)
        async with pool.acquire() as conn:
            assert await forecast_store.export_at_risk(conn) == {}
    finally:
        await pool.close()


def gauge() -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of tthc_agency_dossiers_at_risk as /metrics shows them: labels → value."""
    text = generate_latest(REGISTRY).decode()
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        if family.name == "tthc_agency_dossiers_at_risk"
        for s in family.samples
    }
