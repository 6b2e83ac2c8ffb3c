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
from services.reporting.domain.index766_facts import FACT_TYPES
from services.reporting.handlers import ReportingContext
from shared import metrics
from shared.contracts.events import DossierEvent, EventType, parse_dossier_event

log = logging.getLogger(__name__)


#: the event types that always carry a 766 fact (``index766_facts.FACT_TYPES``), as JSON text
_FACT_TYPES = tuple(f'"{t.value}"'.encode() for t in sorted(FACT_TYPES))
#: … and the one that carries it when the citizen rated the result
_RESULT_RETURNED = f'"{EventType.RESULT_RETURNED.value}"'.encode()


def may_carry_facts(raw: bytes) -> bool:
    """False only for an event that cannot carry a 766 fact, read from the bytes without decoding them.

    A fact needs one of the types of ``carries_facts`` written in the message (a result returned
    also needs the word ``satisfaction``); a ``\\u`` escape anywhere (a type could be spelt with
    one) sends the event to full validation. True is no promise: the event is then validated and
    ``carries_facts`` decides. So an invalid event of another type is skipped here without a log
    line (processing dead-letters it, as before).
    """
    if b"\\u" in raw:
        return True
    for marker in _FACT_TYPES:
        if marker in raw:
            return True
    return _RESULT_RETURNED in raw and b"satisfaction" in raw


async def handle_dossier_events(ctx: ReportingContext, values: Sequence[bytes], topic: str) -> None:
    """Record the 766 facts of a batch of dossier events (idempotent, in any order)."""
    started = time.perf_counter()
    events: list[DossierEvent] = []
    for raw in values:
        if not may_carry_facts(raw):
            continue  # no 766 fact in it whatever else it holds: not validated (issue #16)
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
