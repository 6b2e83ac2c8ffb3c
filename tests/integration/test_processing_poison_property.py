"""Random schema-valid event streams through handle_event_batch on real PostgreSQL (hypothesis).

Every event type, any order, duplicates inside and across batches, and an engine that raises for
some dossiers (injected through the context): nothing escapes the handler, every event of a good
dossier is stored and the dossier assessed and published, every message of a poisoned dossier is
dead-lettered (``assessment_failed``) with its exact bytes and nothing of it is stored.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.processing.handlers import RawMessage, apply_registry_change, handle_event_batch
from shared.contracts import RegistryChange
from shared.contracts.events import EventType
from shared.db import create_pool
from tests.integration.streams import AGENCY, PROCEDURE, procedure_change
from tests.integration.test_processing_poison import FailingEngine
from tests.integration.test_processing_timers import Outbox, context

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
EXAMPLE = itertools.count(100)
WINDOW_START, WINDOW_DAYS = datetime(2000, 1, 1, tzinfo=UTC), 31 * 366  # 2000 … 2030

INSTANTS = st.builds(
    lambda days, minutes, offset: (WINDOW_START + timedelta(days=days, minutes=minutes)).astimezone(
        ZoneInfo(offset)
    ),
    st.integers(0, WINDOW_DAYS),
    st.integers(0, 24 * 60 - 1),
    st.sampled_from(["Asia/Ho_Chi_Minh", "UTC", "Asia/Tokyo"]),
)
# near each other most of the time (a real dossier's life), anywhere in the window sometimes
NEAR = st.integers(0, 30 * 24 * 60)


def payload(kind: EventType, draw: Any) -> dict[str, Any]:
    moment = draw(INSTANTS).isoformat()
    return {
        EventType.SUBMITTED: lambda: {"channel": draw(st.sampled_from([1, 2, 3]))},
        EventType.ACCEPTED: lambda: (
            {"channel": draw(st.sampled_from([1, 2, 3]))}
            | ({"appointed_return_at": moment} if draw(st.booleans()) else {})
        ),
        EventType.NOT_ACCEPTED: lambda: {"reason": "thiếu giấy tờ"},
        EventType.STEP_COMPLETED: lambda: (
            {
                "step_code": draw(st.sampled_from(["B1", "B2", "B3"])),
                "from_unit": draw(st.sampled_from(["MC", "TP", "LD"])),
            }
            | ({"to_unit": "LD", "handler": "Nguyễn Văn A"} if draw(st.booleans()) else {})
        ),
        EventType.SUPPLEMENT_REQUESTED: lambda: {"reason": "bổ sung bản sao"},
        EventType.SUPPLEMENT_RECEIVED: lambda: {},
        EventType.FEE_REQUESTED: lambda: {"amount": "50000.00", "online": draw(st.booleans())},
        EventType.FEE_PAID: lambda: {"amount": "50000", "online": draw(st.booleans())},
        EventType.WITHDRAWN: lambda: {},
        EventType.STOPPED: lambda: {"reason": "không đủ điều kiện"},
        EventType.RESOLVED: lambda: {"result_code": "KQ1"} if draw(st.booleans()) else {},
        EventType.RESULT_RETURNED: lambda: {},
        EventType.APOLOGY_ISSUED: lambda: {"new_appointment_at": moment},
    }[kind]()


@st.composite
def streams(draw: Any) -> tuple[list[list[RawMessage]], set[str], dict[str, list[str]]]:
    """(batches, poisoned dossier codes, dossier code → its event ids)."""
    n = next(EXAMPLE)
    dossiers = [f"{AGENCY}-250310-{n:04d}{i}" for i in range(draw(st.integers(1, 4)))]
    poisoned = {d for d in dossiers if draw(st.booleans())}
    messages: list[RawMessage] = []
    ids: dict[str, list[str]] = {}
    for d in dossiers:
        start = draw(INSTANTS)
        for j in range(draw(st.integers(1, 6))):
            kind = draw(st.sampled_from(list(EventType)))
            at = start + timedelta(minutes=draw(NEAR)) if draw(st.integers(0, 9)) else draw(INSTANTS)
            event = {
                "event_id": f"p{n}-{d[-5:]}-{j}",
                "event_type": kind.value,
                "occurred_at": at.isoformat(),
                "source": "hypothesis",
                "dossier_code": d,
                "agency_code": AGENCY,
                "procedure_code": PROCEDURE,
                "payload": payload(kind, draw),
            }
            ids.setdefault(d, []).append(str(event["event_id"]))
            messages.append(
                RawMessage(d.encode(), json.dumps(event, ensure_ascii=False).encode(), "events", 0, 0)
            )
    messages += draw(st.lists(st.sampled_from(messages), max_size=4))  # redeliveries
    messages = draw(st.permutations(messages))
    cuts = sorted(draw(st.lists(st.integers(0, len(messages)), max_size=2)))
    bounds = [0, *cuts, len(messages)]
    batches = [
        [
            RawMessage(m.key, m.value, m.topic, m.partition, offset)
            for offset, m in enumerate(messages[a:b], a)
        ]
        for a, b in itertools.pairwise(bounds)
    ]
    return [b for b in batches if b], poisoned, ids


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=streams())
async def test_random_streams_with_poisoned_dossiers(
    database: str, stream: tuple[list[list[RawMessage]], set[str], dict[str, list[str]]]
) -> None:
    batches, poisoned, ids = stream
    outbox = Outbox()
    pool = await create_pool(database, min_size=1, max_size=2)
    try:
        ctx = context(pool, outbox, datetime(2031, 1, 1, tzinfo=TZ))
        await apply_registry_change(ctx, RegistryChange.model_validate(procedure_change(days=3)))
        ctx.evaluate = FailingEngine(poisoned)
        for batch in batches:
            await handle_event_batch(ctx, batch)  # nothing escapes
        codes = list(ids)
        async with pool.acquire() as conn:
            stored = await conn.fetch(
                "SELECT event_id, dossier_code FROM processing.events WHERE dossier_code = ANY($1::text[])",
                codes,
            )
            rows = {
                r["dossier_code"]: r
                for r in await conn.fetch(
                    "SELECT dossier_code, revision, published_revision FROM processing.dossiers "
                    "WHERE dossier_code = ANY($1::text[])",
                    codes,
                )
            }
    finally:
        await pool.close()

    good = [d for d in codes if d not in poisoned]
    assert sorted(r["event_id"] for r in stored) == sorted(e for d in good for e in ids[d])
    assert set(rows) == set(good)  # every good dossier assessed, no poisoned one
    assert all(r["published_revision"] == r["revision"] >= 1 for r in rows.values())
    published = {str(body["dossier_code"]) for topic, body in outbox.sent if topic == "compliance"}
    assert published == set(good)

    dead = [body for topic, body in outbox.sent if topic == "dlq"]
    sent_poisoned = [m.value.decode() for b in batches for m in b if m.key and m.key.decode() in poisoned]
    assert all(d["kind"] == "assessment_failed" for d in dead), [d["reason"] for d in dead]
    assert sorted(d["original"]["text"] for d in dead) == sorted(sent_poisoned)  # type: ignore[index]
