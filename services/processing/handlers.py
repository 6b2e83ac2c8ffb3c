"""Service layer of processing: one function per thing that happens to it.

Event batches, registry changes and timers all end in :func:`reassess`: load the dossiers'
histories and what the registry says about them, run the pure engine, store the results
(with their nonconformity statuses and next deadlines) and hand back what must be published.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
from pydantic import TypeAdapter, ValidationError

from services.processing.adapters import ingress_outbox, nonconformities, registry_copy, repository
from services.processing.adapters.folds import FoldStore, new_token
from services.processing.adapters.registry_copy import RegistryView
from services.processing.domain.engine import ClockRules, Evaluation, evaluate
from services.processing.domain.forecast import RemainingTimes
from services.processing.domain.history import Fold, fold_more
from services.processing.domain.legal_profile import LegalProfiles, judging_date
from services.processing.settings import ProcessingSettings
from shared import metrics
from shared.calendar import WorkingCalendar
from shared.contracts import DossierAssessment, RegistryChange
from shared.contracts.events import DossierEvent, parse_dossier_event
from shared.db import Conn
from shared.dead_letters import RawMessage as RawMessage  # re-exported: tests and consumers build them
from shared.dead_letters import dead_letter, is_transient
from shared.kafka import PublishMany

log = logging.getLogger(__name__)

for _path in ("events", "timer", "registry"):  # exported at 0 from the start: the alert sees the first one
    metrics.ASSESSMENT_FAILURES.labels(_path)

Clock = Callable[[], datetime]
Evaluate = Callable[..., Evaluation]  # the engine's ``evaluate`` (injectable: tests make it raise)

CHUNK = 2_000
# Errors that are about the data, not the connection: retrying the same batch cannot help.
REFUSED_BY_DATABASE = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.CardinalityViolationError,
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A stored assessment on its way to the compliance topic."""

    dossier_code: str
    revision: int
    message: bytes
    nonconformity_codes: tuple[str, ...]


_INSTANT: TypeAdapter[datetime] = TypeAdapter(datetime)
_MAYBE_INSTANT: TypeAdapter[datetime | None] = TypeAdapter(datetime | None)
# the settings' default (one place): a context made without the settings (tests, benches) keeps as much
_FOLD_STORE_EVENTS: int = ProcessingSettings.model_fields["fold_store_events"].default


def compliance_message(assessment: DossierAssessment, stored: str, revision: int) -> bytes:
    """The topic's JSON for ``assessment`` at ``revision``, from its :func:`repository.stored_json`.

    The assessment is serialised once (for the table); the message is that text with what is
    kept beside it (:data:`repository.NOT_STORED`: the revision, the assessment time, the at-risk
    warning) put in front, which is the same object.
    """
    head = b'{"revision":%d,"assessed_at":%s,"at_risk_since":%s,"forecast_resolved_at":%s,' % (
        revision,
        _INSTANT.dump_json(assessment.assessed_at),
        _MAYBE_INSTANT.dump_json(assessment.at_risk_since),
        _MAYBE_INSTANT.dump_json(assessment.forecast_resolved_at),
    )
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
    evaluate: Evaluate = evaluate
    # a dossier whose re-assessment by a timer or a registry change failed is tried again this much later
    retry_failed_after_s: float = 3_600.0
    registry_dlq_topic: str = "tthc.registry.v1.dlq"
    profiles: LegalProfiles | None = None  # legal profiles; None: every dossier on calendar and rules
    forecast_model: RemainingTimes | None = None  # the at-risk model (dự báo trễ hạn); None: no warning
    # open dossiers' folds kept between batches, bounded by the events they hold (TTHC_FOLD_STORE_EVENTS)
    folds: FoldStore = field(default_factory=lambda: FoldStore(_FOLD_STORE_EVENTS))
    registry: RegistryView = field(default_factory=RegistryView)  # the registry copy as domain objects


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{loc or '(message)'}: {err.get('msg')}")
    return "; ".join(parts)


# The law processing holds in memory (the calendar and the legal profiles): an event batch takes
# this key shared, a change of it exclusive while it refreshes the memory (see apply_registry_change).
LAW_KEY = "law"
LAW_ENTITIES = ("calendar_override", "legal_profile")


def _lock_keys(events: Sequence[DossierEvent]) -> list[str]:
    return (
        [LAW_KEY]
        + [f"procedure:{p}" for p in {e.procedure_code for e in events}]
        + [f"agency:{a}" for a in {e.agency_code for e in events}]
    )


async def handle_event_batch(ctx: ProcessingContext, batch: Sequence[RawMessage]) -> None:
    """Validate, store, assess and publish one consumed batch; returns once all of it is durable.

    Nothing one message or one dossier does can stop the batch: invalid messages, events the
    database refuses and the events of a dossier the engine fails on go to the dead-letter topic
    with the reason and their bytes; only a dependency that is away (:func:`is_transient`) makes
    the batch fail, to be consumed again.
    """
    started = time.perf_counter()
    valid: list[_Valid] = []
    dead: list[tuple[bytes, bytes]] = []
    for msg in batch:
        try:
            valid.append(_Valid(parse_dossier_event(msg.value), msg.value.decode(), msg))
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
    if valid:
        await _store_isolating(ctx, valid)
        async with ctx.pool.acquire() as conn:  # stored or dead-lettered: the ingress outbox may forget them
            await ingress_outbox.settle(conn, [v.event.event_id for v in valid])
    topic = batch[0].topic if batch else ""
    metrics.BATCH_SECONDS.labels("processing", topic).observe(time.perf_counter() - started)
    metrics.MESSAGES_CONSUMED.labels("processing", topic).inc(len(batch))


@dataclass(frozen=True, slots=True)
class _Valid:
    """A message that parsed: the event, its text and where it came from."""

    event: DossierEvent
    body: str
    msg: RawMessage


async def _store_isolating(ctx: ProcessingContext, items: Sequence[_Valid]) -> None:
    """Store and assess ``items``; a part that fails for good is found by halving, then dead-lettered.

    One bad event among n costs about 2·log2(n) extra transactions instead of n.
    """
    try:
        removed = await _store_and_assess(ctx, items)
    except Exception as exc:
        if is_transient(exc):
            raise
        if len(items) > 1:
            log.warning(
                "%d events refused (%s: %s); halving to isolate the event(s) at fault",
                len(items),
                type(exc).__name__,
                str(exc)[:200],
            )
            half = len(items) // 2
            await _store_isolating(ctx, items[:half])
            await _store_isolating(ctx, items[half:])
            return
        [item] = items
        if isinstance(exc, REFUSED_BY_DATABASE):
            kind, reason = "storage_rejected", f"the database refused it: {type(exc).__name__}: {exc}"
        else:
            kind, reason = "assessment_failed", f"storing or assessing it failed: {type(exc).__name__}: {exc}"
            metrics.ASSESSMENT_FAILURES.labels("events").inc()
        log.error("dead-lettered", extra={"kind": kind, "reason": reason[:500], "offset": item.msg.offset})
        await _dead_letter(ctx, [(item.msg, reason)], kind)
        return
    if removed:
        await _dead_letter(ctx, removed, "assessment_failed")


async def _dead_letter(ctx: ProcessingContext, letters: Sequence[tuple[RawMessage, str]], kind: str) -> None:
    await ctx.publish_many(
        ctx.dlq_topic, [(msg.key or b"", dead_letter(msg, reason, kind)) for msg, reason in letters]
    )
    metrics.DLQ_MESSAGES.labels("processing", ctx.dlq_topic, kind).inc(len(letters))


async def _store_and_assess(ctx: ProcessingContext, items: Sequence[_Valid]) -> list[tuple[RawMessage, str]]:
    """One transaction: store the events, assess their dossiers, then publish.

    A dossier the engine fails on keeps none of this batch's events (they are removed in the same
    transaction); they are returned with the reason, for the dead-letter topic, so that
    ``tthc dlq redrive --kind assessment_failed`` brings them back as new events after a fix.
    """
    events = [i.event for i in items]
    failed: dict[str, str] = {}
    removed: list[tuple[RawMessage, str]] = []
    async with ctx.pool.acquire() as conn, conn.transaction():
        await repository.lock_keys(conn, _lock_keys(events), exclusive=False)
        # before the insert: the look-up of known ids and the COPY see no other writer of these dossiers
        await repository.lock_dossiers(conn, sorted({e.dossier_code for e in events}))
        new_ids = await repository.insert_events(conn, events, [i.body for i in items])
        if len(new_ids) < len(events):
            metrics.EVENTS_DUPLICATE.inc(len(events) - len(new_ids))
        in_hand: dict[str, list[DossierEvent]] = {}  # the new events only: a copy of a stored one is not
        for e in events:
            if e.event_id in new_ids:
                in_hand.setdefault(e.dossier_code, []).append(e)
        changed = sorted(in_hand)
        outgoing = (
            await reassess(conn, ctx, changed, in_hand=in_hand, failed=failed, locked=True) if changed else []
        )
        if failed:
            removed = [
                (i.msg, failed[i.event.dossier_code])
                for i in items
                if i.event.dossier_code in failed and i.event.event_id in new_ids
            ]
            await repository.delete_events(  # only this batch's new ones: what was stored before stays
                conn,
                sorted({e.event_id for e in events if e.dossier_code in failed and e.event_id in new_ids}),
            )
            metrics.ASSESSMENT_FAILURES.labels("events").inc(len(failed))
    processed = Counter(
        e.event_type for e in events if e.event_id in new_ids and e.dossier_code not in failed
    )
    for event_type, n in processed.items():
        metrics.EVENTS_PROCESSED.labels(event_type.value).inc(n)
    await publish(ctx, outgoing)
    return removed


async def reassess(
    conn: Conn,
    ctx: ProcessingContext,
    dossier_codes: Sequence[str],
    now: datetime | None = None,
    in_hand: dict[str, list[DossierEvent]] | None = None,
    failed: dict[str, str] | None = None,
    locked: bool = False,
) -> list[Outgoing]:
    """Re-run the engine for ``dossier_codes``; store; return the assessments to publish.

    ``locked``: the caller holds the dossiers' locks (:func:`repository.lock_dossiers`) already.

    ``in_hand``: the events this transaction stored (new ids only), already parsed: folded onto the
    dossier's kept fold, or read with the stored ones when it is folded again.
    A dossier the engine raises on is left as it was (nothing stored for it) and put in ``failed``
    with the reason, so one dossier can never stop the others; the caller decides what becomes of it.
    """
    now = now or ctx.clock()
    if not locked:
        await repository.lock_dossiers(conn, dossier_codes)
    folds = await _folds(conn, ctx, dossier_codes, in_hand or {})
    heads = {code: f[0] for code, f in folds.items()}
    pairs = sorted({(e.agency_code, e.procedure_code) for e in heads.values()})
    registry = await ctx.registry.refresh(
        conn,
        sorted({p for _, p in pairs}),
        pairs,
        sorted({a for a, _ in pairs}) if ctx.profiles is not None else (),
    )
    results: list[DossierAssessment] = []
    deadlines: list[datetime | None] = []
    for code in dossier_codes:
        head = heads.get(code)
        if head is None:
            continue
        try:
            procedure = registry.procedures.get(head.procedure_code)
            calendar, rules = ctx.calendar, ctx.rules
            if ctx.profiles is not None:
                calendar, rules = ctx.profiles.for_dossier(
                    procedure.legal_profile if procedure else None,
                    registry.agency_profiles.get(head.agency_code),
                    judging_date(folds[code]),
                )
            evaluation = ctx.evaluate(
                folds[code],
                procedure.terms if procedure else None,
                calendar,
                rules,
                now,
                registry.coverage[(head.agency_code, head.procedure_code)],
                ctx.forecast_model,
            )
        except Exception as exc:  # an engine bug or data it cannot handle: this dossier only
            ctx.folds.discard(code)
            reason = f"the engine failed on dossier {code}: {type(exc).__name__}: {exc}"[:1_000]
            log.error("assessment failed", extra={"dossier_code": code, "reason": reason}, exc_info=True)
            if failed is None:
                raise
            failed[code] = reason
            continue
        results.append(evaluation.assessment)
        deadlines.append(evaluation.next_deadline)
    merged = await nonconformities.merge_statuses(conn, results)
    bodies = [repository.stored_json(a) for a in merged]
    tokens = [new_token() for _ in merged]
    revisions = await repository.save_assessments(conn, merged, deadlines, bodies, tokens)
    for a, token in zip(merged, tokens, strict=True):
        # valid only once this transaction commits: until then the table holds the old token
        ctx.folds.put(a.dossier_code, token, folds[a.dossier_code])
    metrics.FOLD_STORE_EVENTS.set(ctx.folds.events)
    metrics.FOLD_STORE_DOSSIERS.set(len(ctx.folds))
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


async def _folds(
    conn: Conn, ctx: ProcessingContext, dossier_codes: Sequence[str], new: dict[str, list[DossierEvent]]
) -> dict[str, Fold]:
    """Each dossier's fold: the one kept from its last assessment continued with ``new`` (its new
    events of this batch, already stored), or else folded again from all of its stored events."""
    tokens = await repository.fold_tokens(conn, dossier_codes)
    folds: dict[str, Fold] = {}
    again: list[str] = []
    for code in dossier_codes:
        kept = ctx.folds.get(code, tokens.get(code))
        continued = fold_more(kept, new.get(code, ())) if kept is not None else None
        if continued is None:  # not kept, kept for another state, or an event older than the last one
            again.append(code)
        else:
            folds[code] = continued
    if again:
        histories = await repository.load_histories(conn, again, {c: new[c] for c in again if c in new})
        for code, events in histories.items():
            refolded = fold_more(None, events)
            if refolded is not None:
                folds[code] = refolded
    metrics.FOLDS.labels("continued").inc(len(folds) - len(again))
    metrics.FOLDS.labels("refolded").inc(len(again))
    return folds


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
            orjson.dumps({**body, "revision": revision, "assessed_at": now}),
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
    A dossier that cannot be re-assessed is tried again later (:func:`_retry_later`), never in a
    loop, and never holds up the others.
    """
    now = ctx.clock()
    due: list[str] = []
    failed: dict[str, str] = {}
    try:
        async with ctx.pool.acquire() as conn, conn.transaction():
            due = await repository.claim_due_timers(conn, now, limit)
            outgoing = await reassess(conn, ctx, due, now, failed=failed) if due else []
            await _retry_later(conn, ctx, failed, now, "timer")
    except Exception as exc:
        if is_transient(exc) or not due:
            raise
        await _reassess_isolating(ctx, due, now, "timer", exc)
        return len(due)
    await publish(ctx, outgoing)
    return len(due)


async def _reassess_isolating(
    ctx: ProcessingContext, codes: Sequence[str], now: datetime, path: str, exc: Exception | None = None
) -> None:
    """Re-assess ``codes`` (after ``exc`` failed them together): halves in their own transactions,
    down to the dossier at fault, which keeps its last assessment and is tried again later."""
    if exc is None:
        failed: dict[str, str] = {}
        try:
            async with ctx.pool.acquire() as conn, conn.transaction():
                outgoing = await reassess(conn, ctx, codes, now, failed=failed)
                await _retry_later(conn, ctx, failed, now, path)
        except Exception as err:
            if is_transient(err):
                raise
            exc = err
        else:
            await publish(ctx, outgoing)
            return
    if len(codes) == 1:
        reason = f"storing its assessment failed: {type(exc).__name__}: {exc}"[:1_000]
        log.error("assessment failed", extra={"dossier_code": codes[0], "reason": reason})
        async with ctx.pool.acquire() as conn:
            await _retry_later(conn, ctx, {codes[0]: reason}, now, path)
        return
    half = len(codes) // 2
    await _reassess_isolating(ctx, codes[:half], now, path)
    await _reassess_isolating(ctx, codes[half:], now, path)


async def _retry_later(
    conn: Conn, ctx: ProcessingContext, failed: dict[str, str], now: datetime, path: str
) -> None:
    """Dossiers the engine failed on keep their last assessment; their timer tries again later.

    Without this a failing dossier would stay due and the sweep would spin on it.
    """
    if not failed:
        return
    metrics.ASSESSMENT_FAILURES.labels(path).inc(len(failed))
    await repository.retry_later(conn, sorted(failed), now + timedelta(seconds=ctx.retry_failed_after_s))


async def handle_registry_batch(ctx: ProcessingContext, batch: Sequence[RawMessage]) -> None:
    """Keep the local copy of the registry; re-assess the dossiers a change concerns.

    An invalid change, or one the local copy cannot take, goes to the registry's dead-letter topic
    with the reason (the registry can publish it again); the changes after it go on.
    """
    for msg in batch:
        try:
            change = RegistryChange.model_validate_json(msg.value)
            change.record()
        except ValidationError as exc:
            await _registry_dead_letter(ctx, msg, _reason(exc), "invalid_registry_change")
            continue
        try:
            await apply_registry_change(ctx, change)
        except Exception as exc:
            if is_transient(exc):
                raise
            reason = f"applying it failed: {type(exc).__name__}: {exc}"[:1_000]
            await _registry_dead_letter(ctx, msg, reason, "registry_change_failed")


async def _registry_dead_letter(ctx: ProcessingContext, msg: RawMessage, reason: str, kind: str) -> None:
    log.error("dead-lettered", extra={"kind": kind, "reason": reason[:500], "offset": msg.offset})
    await ctx.publish_many(ctx.registry_dlq_topic, [(msg.key or b"", dead_letter(msg, reason, kind))])
    metrics.DLQ_MESSAGES.labels("processing", ctx.registry_dlq_topic, kind).inc()


async def _refresh_law(ctx: ProcessingContext, conn: Conn) -> None:
    """The in-memory calendar and legal profiles from the local copy of the registry."""
    overrides = await registry_copy.calendar_overrides(conn)
    if ctx.make_calendar is not None:
        ctx.calendar = ctx.make_calendar(overrides)
    if ctx.profiles is not None:
        ctx.profiles.default_calendar = ctx.calendar
        ctx.profiles.refresh(await registry_copy.legal_profiles(conn), overrides)


async def _affected(
    ctx: ProcessingContext, conn: Conn, applied: registry_copy.Applied, after: str
) -> list[str]:
    """A page of the dossiers ``applied`` concerns, after code ``after``."""
    if applied.entity == "legal_profile" and ctx.profiles is not None:
        code = applied.entity_id.split("|")[0]
        is_default = code == ctx.profiles.default_code
        return await registry_copy.dossiers_judged_by(conn, code, is_default, after, CHUNK)
    return await repository.affected_dossiers(conn, applied, after, CHUNK)


async def _mark_affected_due(
    ctx: ProcessingContext, conn: Conn, applied: registry_copy.Applied, now: datetime
) -> None:
    after = ""
    while True:
        chunk = await _affected(ctx, conn, applied, after)
        if chunk:
            await repository.retry_later(conn, chunk, now)
        if len(chunk) < CHUNK:
            return
        after = chunk[-1]


async def apply_registry_change(ctx: ProcessingContext, change: RegistryChange) -> None:
    lock = {
        "procedure": f"procedure:{change.entity_id}",
        "iso_process": f"procedure:{change.entity_id.split('|')[1]}"
        if change.entity == "iso_process"
        else "",
        "qms": f"agency:{change.entity_id}",
    }.get(change.entity)
    async with ctx.pool.acquire() as conn:
        law = change.entity in LAW_ENTITIES
        if law:
            # The calendar and the profiles live in memory, read by every batch when it evaluates.
            # Held from before the change is stored until the memory holds it: a batch in flight
            # commits first (so the dossiers it creates are found below and re-judged), a later
            # batch judges by the new law. The lock is the session's: it outlives the commit.
            await repository.lock_session_key(conn, LAW_KEY)
        try:
            async with conn.transaction():
                if lock:
                    # a batch assessing with the old data finishes first, or sees the new data
                    await repository.lock_keys(conn, [lock], exclusive=True)
                applied = await registry_copy.apply_change(conn, change)
                if applied is not None:
                    # due now, in the change's transaction: if this process dies before it has
                    # re-assessed them all below, the timers do it (the change is not applied twice)
                    await _mark_affected_due(ctx, conn, applied, ctx.clock())
            if applied is not None and law:
                await _refresh_law(ctx, conn)
        finally:
            if law:
                await repository.unlock_session_key(conn, LAW_KEY)
    if applied is None:
        return
    after = ""
    while True:
        async with ctx.pool.acquire() as conn:
            chunk = await _affected(ctx, conn, applied, after)
        if chunk:
            # a dossier the engine fails on keeps its last assessment and is retried by its timer
            await _reassess_isolating(ctx, chunk, ctx.clock(), "registry")
        if len(chunk) < CHUNK:
            return
        after = chunk[-1]
