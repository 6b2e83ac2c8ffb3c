"""A change of the law processing holds in memory (a legal profile) while an event batch is in flight.

The regression behind the skipped receipt replay (issue #17): the replay writes the log's end into
its legal profile while processing is still consuming the log's last cases. A batch that judged its
new dossiers by the old profile and committed after the change had listed the dossiers to re-judge
left them "pending overdue" for ever instead of "open at end of log".
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from services.processing.adapters import repository
from services.processing.domain.legal_profile import LegalProfiles
from services.processing.handlers import RawMessage, apply_registry_change, handle_event_batch
from shared.contracts import RegistryChange
from shared.contracts.registry import LegalProfileRecord
from shared.db import create_pool
from tests.integration.streams import AGENCY, PROCEDURE, procedure_change
from tests.integration.test_processing_timers import TZ, Outbox, context

LOG_END = datetime(2025, 6, 30, 17, 0, tzinfo=TZ)
CODE = f"{AGENCY}-250310-0001"


def profile_change(version: int, observed_until: datetime | None) -> RegistryChange:
    record = LegalProfileRecord(
        code="LOG",
        version=1,
        effective_from=date(2000, 1, 1),
        name="a log's law",
        observed_until=observed_until,
    )
    return RegistryChange(
        entity="legal_profile",
        entity_id=record.entity_id,
        version=version,
        changed_at=datetime.now(UTC),
        data=record.model_dump(mode="json"),
    )


def accepted() -> RawMessage:
    body = {
        "event_id": "law-1",
        "event_type": "dossier.accepted",
        "occurred_at": "2025-03-10T09:00:00+07:00",
        "source": "test",
        "dossier_code": CODE,
        "agency_code": AGENCY,
        "procedure_code": PROCEDURE,
        "payload": {"channel": 2},
    }
    return RawMessage(CODE.encode(), json.dumps(body).encode(), "events", 0, 0)


async def test_the_log_end_written_during_a_batch_censors_the_dossiers_that_batch_creates(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = Outbox()
    pool = await create_pool(database)
    try:
        ctx = context(pool, outbox, datetime(2026, 12, 1, 10, 0, tzinfo=TZ))
        ctx.profiles = LegalProfiles(ctx.calendar, ctx.rules)
        naming = procedure_change(days=2)
        naming["data"]["legal_profile"] = "LOG"
        await apply_registry_change(ctx, RegistryChange.model_validate(naming))
        await apply_registry_change(ctx, profile_change(1, None))

        # the batch judges its new dossier (by the profile without an end), then waits to store it
        judged, release = asyncio.Event(), asyncio.Event()
        save = repository.save_assessments

        async def held(*args: Any, **kwargs: Any) -> dict[str, int]:
            judged.set()
            await release.wait()
            return await save(*args, **kwargs)

        monkeypatch.setattr(repository, "save_assessments", held)
        batch = asyncio.create_task(handle_event_batch(ctx, [accepted()]))
        await asyncio.wait_for(judged.wait(), 10)
        monkeypatch.setattr(repository, "save_assessments", save)
        # the replay records the log's end meanwhile; given time, it must not be done before the batch
        end = asyncio.create_task(apply_registry_change(ctx, profile_change(2, LOG_END)))
        done, _ = await asyncio.wait({end}, timeout=0.5)
        release.set()
        await asyncio.wait_for(asyncio.gather(batch, end), 20)

        async with pool.acquire() as conn:
            outcome = await conn.fetchval(
                "SELECT outcome FROM processing.dossiers WHERE dossier_code = $1", CODE
            )
        assert outcome == "open_at_end_of_log"
        last = [body for _, body in outbox.sent if body["dossier_code"] == CODE][-1]
        assert (last["outcome"], last["closed_at"]) == ("open_at_end_of_log", LOG_END.isoformat())
        assert not done, "the profile change finished while a batch judged by the old profile was in flight"
    finally:
        await pool.close()
