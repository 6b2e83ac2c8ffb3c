"""Reporting's consumer of ``tthc.dossier-events.v1``: the Decision 766 facts the assessments do not
carry (digitised dossier and result, online payment, the citizen's rating), kept per dossier.

Its own consumer group (``TTHC_REPORTING_EVENTS_GROUP_ID``): processing's pipeline is not touched.
An event that does not validate is processing's to dead-letter (and count); here it is logged and
skipped, so one bad message never blocks the partition.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from pydantic import ValidationError

from services.reporting.adapters import index766
from services.reporting.handlers import ReportingContext
from shared import metrics
from shared.contracts.events import DossierEvent, parse_dossier_event

log = logging.getLogger(__name__)


async def handle_dossier_events(ctx: ReportingContext, values: Sequence[bytes], topic: str) -> None:
    """Record the 766 facts of a batch of dossier events (idempotent, in any order)."""
    started = time.perf_counter()
    events: list[DossierEvent] = []
    for raw in values:
        try:
            events.append(parse_dossier_event(raw))
        except ValidationError as exc:
            log.warning(
                "%s: skipping an invalid dossier event (processing dead-letters it): %s",
                topic,
                exc.errors()[:2],
            )
    if events:
        async with ctx.pool.acquire() as conn, conn.transaction():
            await index766.record(conn, events, ctx.tz)
    metrics.BATCH_SECONDS.labels("reporting", "dossier_events").observe(time.perf_counter() - started)
    metrics.MESSAGES_CONSUMED.labels("reporting", "dossier_events").inc(len(values))
