"""Service layer of processing: one function per thing that happens to it.

Event batches, registry changes and timers all end in :func:`reassess`: load the dossiers'
histories and what the registry says about them, run the pure engine, store the results
(with their nonconformity statuses and next deadlines) and hand back what must be published.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
from pydantic import TypeAdapter, ValidationError

from services.processing.adapters import nonconformities, registry_copy, repository
from services.processing.domain.engine import ClockRules, ProcedureTerms, ProcessContext, evaluate
from services.processing.domain.forecast import RemainingTimes
from services.processing.domain.legal_profile import LegalProfiles, judging_date
from shared import metrics
from shared.calendar import WorkingCalendar
from shared.contracts import DossierAssessment, RegistryChange
from shared.contracts.events import DossierEvent, parse_dossier_event
from shared.db import Conn

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
PublishMany = Callable[[str, Sequence[tuple[bytes, bytes]]], Awaitable[None]]

CHUNK = 2_000
# Errors that are about the data, not the connection: retrying the same batch cannot help.
REFUSED_BY_DATABASE = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.CardinalityViolationError,
)  # dossiers re-assessed per transaction after a registry change or by the timer


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RawMessage:
    """What the consumer hands us: bytes as they were on the topic."""

    key: bytes | None
    value: bytes
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A stored assessment on its way to the compliance topic."""

    dossier_code: str
    revision: int
    message: bytes
    nonconformity_codes: tuple[str, ...]


_INSTANT: TypeAdapter[datetime] = TypeAdapter(datetime)


def compliance_message(assessment: DossierAssessment, stored: str, revision: int) -> bytes:
    """The topic's JSON for ``assessment`` at ``revision``, from its :func:`repository.stored_json`.

    The assessment is serialised once (for the table); the message is that text with the
    revision and the assessment time put in front, which is the same object.
    """
    head = b'{"revision":%d,"assessed_at":%s,' % (revision, _INSTANT.dump_json(assessment.assessed_at))
    return head + stored[1:].encode()


@dataclass
class ProcessingContext:
    pool: asyncpg.Pool
    publish_many: PublishMany
    calendar: WorkingCalendar
    rules: ClockRules
    compliance_topic: str
    dlq_topic: str
    clock: Clock = field(default=_utc_now)
    make_calendar: Callable[..., WorkingCalendar] | None = None  # rebuilds the calendar with overrides
    profiles: LegalProfiles | None = None  # legal profiles; None: every dossier on calendar and rules
    forecast_model: RemainingTimes | None = None  # the at-risk model (dự báo trễ hạn); None: no warning


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{loc or '(message)'}: {err.get('msg')}")
    return "; ".join(parts)


def dead_letter(msg: RawMessage, reason: str, kind: str) -> bytes:
    """The DLQ record: the reason and the original bytes (as text if UTF-8, else base64)."""
    try:
        original: dict[str, str] = {"text": msg.value.decode("utf-8")}
    except UnicodeDecodeError:
        original = {"base64": base64.b64encode(msg.value).decode()}
    return json.dumps(
        {
            "reason": reason,
            "kind": kind,
            "source": {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset},
            "key": msg.key.decode("utf-8", "replace") if msg.key else None,
            "original": original,
            "failed_at": datetime.now(UTC).isoformat(),
        },
        ensure_ascii=False,
    ).encode()


def _lock_keys(events: Sequence[DossierEvent]) -> list[str]:
    return [f"procedure:{e.procedure_code}" for e in events] + [f"agency:{e.agency_code}" for e in events]


async def handle_event_batch(ctx: ProcessingContext, batch: Sequence[RawMessage]) -> None:
    """Validate, store, assess and publish one consumed batch; returns once all of it is durable."""
    started = time.perf_counter()
    events: list[DossierEvent] = []
    bodies: list[str] = []
    valid_msgs: list[RawMessage] = []
    dead: list[tuple[bytes, bytes]] = []
    for msg in batch:
        try:
            events.append(parse_dossier_event(msg.value))
            bodies.append(msg.value.decode())
            valid_msgs.append(msg)
        except ValidationError as exc:
            types = {e["type"] for e in exc.errors()}
            kind = (
                "invalid_json"
                if "json_invalid" in types
                else ("unknown_event_type" if "union_tag_invalid" in types else "invalid_event")
            )
            reason = _reason(exc)
            dead.append((msg.key or b"", dead_letter(msg, reason, kind)))
            metrics.DLQ_MESSAGES.labels("processing", ctx.dlq_topic, kind).inc()
            log.warning("dead-lettered", extra={"kind": kind, "reason": reason, "offset": msg.offset})
    if dead:
        await ctx.publish_many(ctx.dlq_topic, dead)

    if events:
        try:
            await _store_and_assess(ctx, events, bodies)
        except REFUSED_BY_DATABASE:
            # Something in the batch cannot be stored. Find it event by event so the rest go on and
            # the culprit goes to the dead-letter topic with the database's reason (never a stuck partition).
            log.warning("batch rejected by the database; isolating the event(s) at fault", exc_info=True)
            for event, body, msg in zip(events, bodies, valid_msgs, strict=True):
                try:
                    await _store_and_assess(ctx, [event], [body])
                except REFUSED_BY_DATABASE as exc:
                    reason = f"the database refused it: {type(exc).__name__}: {exc}"
                    await ctx.publish_many(
                        ctx.dlq_topic, [(msg.key or b"", dead_letter(msg, reason, "storage_rejected"))]
                    )
                    metrics.DLQ_MESSAGES.labels("processing", ctx.dlq_topic, "storage_rejected").inc()
    topic = batch[0].topic if batch else ""
    metrics.BATCH_SECONDS.labels("processing", topic).observe(time.perf_counter() - started)
    metrics.MESSAGES_CONSUMED.labels("processing", topic).inc(len(batch))


async def _store_and_assess(
    ctx: ProcessingContext, events: Sequence[DossierEvent], bodies: Sequence[str]
) -> None:
    async with ctx.pool.acquire() as conn, conn.transaction():
        await repository.lock_keys(conn, _lock_keys(events), exclusive=False)
        new_ids = await repository.insert_events(conn, events, bodies)
        if len(new_ids) < len(events):
            metrics.EVENTS_DUPLICATE.inc(len(events) - len(new_ids))
        changed = sorted({e.dossier_code for e in events if e.event_id in new_ids})
        in_hand: dict[str, list[DossierEvent]] = {}
        for e in events:
            in_hand.setdefault(e.dossier_code, []).append(e)
        outgoing = await reassess(conn, ctx, changed, in_hand=in_hand) if changed else []
    processed = Counter(e.event_type.value for e in events if e.event_id in new_ids)
    for event_type, n in processed.items():
        metrics.EVENTS_PROCESSED.labels(event_type).inc(n)
    await publish(ctx, outgoing)


async def reassess(
    conn: Conn,
    ctx: ProcessingContext,
    dossier_codes: Sequence[str],
    now: datetime | None = None,
    in_hand: dict[str, list[DossierEvent]] | None = None,
) -> list[Outgoing]:
    """Re-run the engine for ``dossier_codes``; store; return the assessments to publish.

    ``in_hand``: events of this batch, already parsed (they are stored too, but not re-read).
    """
    now = now or ctx.clock()
    await repository.lock_dossiers(conn, dossier_codes)
    histories = await repository.load_histories(
        conn, dossier_codes, {c: in_hand[c] for c in dossier_codes if c in in_hand} if in_hand else None
    )
    heads = {code: h[0] for code, h in histories.items() if h}
    procedures = await registry_copy.procedures(conn, sorted({e.procedure_code for e in heads.values()}))
    pairs = sorted({(e.agency_code, e.procedure_code) for e in heads.values()})
    processes = await registry_copy.iso_processes(conn, pairs)
    qms = await registry_copy.qms_records(conn, sorted({a for a, _ in pairs}))
    terms = {code: ProcedureTerms.from_record(rec) for code, rec in procedures.items()}
    named = await registry_copy.agency_profiles(conn, sorted({a for a, _ in pairs})) if ctx.profiles else {}
    results: list[DossierAssessment] = []
    deadlines: list[datetime | None] = []
    for code in dossier_codes:
        head = heads.get(code)
        if head is None:
            continue
        process = ProcessContext.from_registry(
            qms.get(head.agency_code),
            processes.get((head.agency_code, head.procedure_code), ()),
            head.procedure_code,
        )
        calendar, rules = ctx.calendar, ctx.rules
        if ctx.profiles is not None:
            record = procedures.get(head.procedure_code)
            calendar, rules = ctx.profiles.for_dossier(
                record.legal_profile if record else None,
                named.get(head.agency_code),
                judging_date(histories[code]),
            )
        evaluation = evaluate(
            histories[code], terms.get(head.procedure_code), calendar, rules, now, process, ctx.forecast_model
        )
        results.append(evaluation.assessment)
        deadlines.append(evaluation.next_deadline)
    merged = await nonconformities.merge_statuses(conn, results)
    bodies = [repository.stored_json(a) for a in merged]
    revisions = await repository.save_assessments(conn, merged, deadlines, bodies)
    return [
        Outgoing(
            a.dossier_code,
            revisions[a.dossier_code],
            compliance_message(a, body, revisions[a.dossier_code]),
            tuple(nc.code for nc in a.nonconformities),
        )
        for a, body in zip(merged, bodies, strict=True)
        if a.dossier_code in revisions
    ]


async def publish(ctx: ProcessingContext, outgoing: Sequence[Outgoing]) -> None:
    """Put assessments on the compliance topic, then remember they are published."""
    if not outgoing:
        return
    await ctx.publish_many(ctx.compliance_topic, [(o.dossier_code.encode(), o.message) for o in outgoing])
    raised = Counter(code for o in outgoing for code in o.nonconformity_codes)
    for code, n in raised.items():
        metrics.NONCONFORMITIES_RAISED.labels(code).inc(n)
    async with ctx.pool.acquire() as conn:
        await repository.mark_published(conn, [(o.dossier_code, o.revision) for o in outgoing])
    metrics.ASSESSMENTS_PUBLISHED.inc(len(outgoing))


async def publish_unpublished(ctx: ProcessingContext, limit: int = CHUNK) -> int:
    """Recovery: publish stored assessments that never reached the topic (e.g. after a crash)."""
    async with ctx.pool.acquire() as conn:
        pending = await repository.unpublished(conn, limit)
    if not pending:
        return 0
    now = ctx.clock().isoformat()
    messages = [
        (
            code.encode(),
            json.dumps({**body, "revision": revision, "assessed_at": now}, ensure_ascii=False).encode(),
        )
        for code, revision, body in pending
    ]
    await ctx.publish_many(ctx.compliance_topic, messages)
    async with ctx.pool.acquire() as conn:
        await repository.mark_published(conn, [(c, r) for c, r, _ in pending])
    metrics.ASSESSMENTS_PUBLISHED.inc(len(messages))
    return len(messages)


async def fire_timers(ctx: ProcessingContext, limit: int = CHUNK) -> int:
    """Re-assess dossiers whose next deadline has passed (OVERDUE, STEP_OVERDUE, apology, index).

    Timers are rows of the database (``next_deadline``), so they survive restarts; several
    replicas share the work: a dossier another transaction holds is skipped (``claim_due_timers``).
    """
    now = ctx.clock()
    async with ctx.pool.acquire() as conn, conn.transaction():
        due = await repository.claim_due_timers(conn, now, limit)
        outgoing = await reassess(conn, ctx, due, now) if due else []
    await publish(ctx, outgoing)
    return len(due)


async def handle_registry_batch(ctx: ProcessingContext, batch: Sequence[RawMessage]) -> None:
    """Keep the local copy of the registry; re-assess the dossiers a change concerns."""
    for msg in batch:
        try:
            change = RegistryChange.model_validate_json(msg.value)
            change.record()
        except ValidationError as exc:
            log.error("invalid registry change", extra={"offset": msg.offset, "reason": _reason(exc)})
            metrics.DLQ_MESSAGES.labels("processing", "tthc.registry.v1", "invalid_registry_change").inc()
            continue
        await apply_registry_change(ctx, change)


async def apply_registry_change(ctx: ProcessingContext, change: RegistryChange) -> None:
    lock = {
        "procedure": f"procedure:{change.entity_id}",
        "iso_process": f"procedure:{change.entity_id.split('|')[1]}"
        if change.entity == "iso_process"
        else "",
        "qms": f"agency:{change.entity_id}",
    }.get(change.entity)
    async with ctx.pool.acquire() as conn, conn.transaction():
        if lock:
            # a batch assessing with the old data finishes first, or sees the new data
            await repository.lock_keys(conn, [lock], exclusive=True)
        applied = await registry_copy.apply_change(conn, change)
    if applied is None:
        return
    if applied.entity == "calendar_override" and ctx.make_calendar is not None:
        async with ctx.pool.acquire() as conn:
            ctx.calendar = ctx.make_calendar(await registry_copy.calendar_overrides(conn))
    if applied.entity in ("calendar_override", "legal_profile") and ctx.profiles is not None:
        async with ctx.pool.acquire() as conn:
            ctx.profiles.default_calendar = ctx.calendar
            ctx.profiles.refresh(
                await registry_copy.legal_profiles(conn), await registry_copy.calendar_overrides(conn)
            )
    after = ""
    while True:
        async with ctx.pool.acquire() as conn, conn.transaction():
            if applied.entity == "legal_profile" and ctx.profiles is not None:
                code = applied.entity_id.split("|")[0]
                is_default = code == ctx.profiles.default_code
                chunk = await registry_copy.dossiers_judged_by(conn, code, is_default, after, CHUNK)
            else:
                chunk = await repository.affected_dossiers(conn, applied, after, CHUNK)
            outgoing = await reassess(conn, ctx, chunk) if chunk else []
        await publish(ctx, outgoing)
        if len(chunk) < CHUNK:
            return
        after = chunk[-1]
