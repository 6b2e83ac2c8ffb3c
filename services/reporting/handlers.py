"""Service layer of reporting: one function per thing that happens to it."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import asyncpg
from pydantic import ValidationError

from services.reporting.adapters import registry_copy, repository
from services.reporting.domain.assessment import AssessmentView, read_json
from services.reporting.domain.nonconformities import NcFact, NcKey, nc_delta
from services.reporting.domain.rollup import Accumulator, add_delta, grouped, project_to_fields
from shared import metrics
from shared.contracts import RegistryChange
from shared.dead_letters import RawMessage, dead_letter, is_transient
from shared.kafka import PublishMany
from shared.settings import Topics

log = logging.getLogger(__name__)


@dataclass
class ReportingContext:
    pool: asyncpg.Pool
    tz: ZoneInfo
    compliance_topic: str = "tthc.compliance.v1"
    registry_topic: str = "tthc.registry.v1"
    # publishes dead letters (``<topic>.dlq``); None: an unusable message is only logged and counted
    publish_many: PublishMany | None = None


Incoming = bytes | RawMessage


def _raw(item: Incoming, topic: str) -> RawMessage:
    return item if isinstance(item, RawMessage) else RawMessage(None, item, topic, -1, -1)


async def _dead_letter(ctx: ReportingContext, msg: RawMessage, reason: str, kind: str) -> None:
    topic = Topics.dlq(msg.topic)
    log.error("dead-lettered", extra={"kind": kind, "reason": reason[:500], "offset": msg.offset})
    metrics.DLQ_MESSAGES.labels("reporting", topic, kind).inc()
    if ctx.publish_many is not None:
        await ctx.publish_many(topic, [(msg.key or b"", dead_letter(msg, reason, kind))])


def _reason(exc: ValidationError) -> str:
    errors = exc.errors()
    if errors and errors[0]["type"] == "json_invalid":
        return f"not valid JSON: {errors[0].get('msg')}"
    return "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ())) or '(message)'}: {e.get('msg')}" for e in errors[:5]
    )


def _read(value: bytes) -> tuple[AssessmentView, str]:
    """The validated view and the message's text, from one pass over the bytes (issue #16 item 2).

    pydantic parses the JSON and validates the fields reporting uses in one go (no stdlib ``json``
    first); the text is stored as it came (``reporting.dossier_facts.assessment`` is cast to jsonb
    by PostgreSQL), so the document is neither decoded to Python objects nor encoded again.
    """
    view = read_json(value)
    return view, value.decode()


async def handle_assessments(ctx: ReportingContext, values: Sequence[Incoming]) -> None:
    """Apply a batch of assessments: newest revision per dossier wins; rollups move by the delta.

    An invalid message goes to the dead-letter topic (``invalid_assessment``); a dossier whose
    assessment the database refuses for good is found by halving and dead-lettered
    (``assessment_rejected``); the rest of the batch is applied and committed.
    """
    started = time.perf_counter()
    newest: dict[str, tuple[AssessmentView, str, RawMessage]] = {}
    for item in values:
        msg = _raw(item, ctx.compliance_topic)
        try:
            a, doc = _read(msg.value)
        except ValidationError as exc:  # bad JSON, not an object, or a field that does not validate
            await _dead_letter(ctx, msg, _reason(exc), "invalid_assessment")
            continue
        prior = newest.get(a.dossier_code)
        if prior is None or a.revision > prior[0].revision:
            newest[a.dossier_code] = (a, doc, msg)
    if newest:
        await _apply_isolating(ctx, sorted(newest.items()))
    metrics.BATCH_SECONDS.labels("reporting", "compliance").observe(time.perf_counter() - started)
    metrics.MESSAGES_CONSUMED.labels("reporting", "compliance").inc(len(values))


Newest = tuple[str, tuple[AssessmentView, str, RawMessage]]


async def _apply_isolating(ctx: ReportingContext, items: Sequence[Newest]) -> None:
    try:
        await _apply(ctx, items)
    except Exception as exc:
        if is_transient(exc):
            raise
        if len(items) == 1:
            reason = f"the database refused it: {type(exc).__name__}: {exc}"
            await _dead_letter(ctx, items[0][1][2], reason, "assessment_rejected")
            return
        half = len(items) // 2
        await _apply_isolating(ctx, items[:half])
        await _apply_isolating(ctx, items[half:])


async def _apply(ctx: ReportingContext, items: Sequence[Newest]) -> None:
    fresh: list[tuple[AssessmentView, str]] = []
    drop: list[str] = []  # dossiers whose stored register is replaced …
    fill: list[str] = []  # … and those whose new register has rows
    async with ctx.pool.acquire() as conn, conn.transaction():
        current = await repository.current_facts(conn, [code for code, _ in items])
        procedures = {a.procedure_code for _, (a, _, _) in items}
        procedures |= {c.fact.procedure_code for c in current.values()}
        await repository.lock_procedures(conn, sorted(procedures), exclusive=False)
        field_of = await repository.fields_of(conn, sorted(procedures))
        # the batch's delta is summed in plain dicts and grouped once (issue #16: no Counter per dossier)
        acc: Accumulator = {}
        ncs: Counter[NcKey] = Counter()
        tz = ctx.tz
        for code, (a, doc, _) in items:
            old = current.get(code)
            if old is not None and old.revision >= a.revision:
                continue  # already applied (redelivery or replay)
            new = repository.to_fact(a)
            add_delta(acc, old.fact if old else None, new, tz)
            register = repository.register_of(a)
            if (
                old is None
                or old.register != register
                or old.fact.agency_code != new.agency_code
                or old.fact.procedure_code != new.procedure_code
            ):
                # most revisions leave the register as it was: its rows are then neither deleted,
                # written again nor counted (issue #16, session 6)
                old_ncs = repository.nc_facts_of(old.fact, old.register) if old else []
                if old_ncs or register:
                    gone, added = _changed(old_ncs, repository.to_nc_facts(a))
                    if gone or added:
                        ncs.update(nc_delta(gone, added, tz))
                if old is not None and old.register:
                    drop.append(code)
                if register:
                    fill.append(code)
            fresh.append((a, doc))
        total = grouped(acc)
        await repository.upsert_facts(conn, fresh)
        await repository.replace_nonconformities(conn, drop, fill)
        await repository.apply_rollup_delta(conn, total, project_to_fields(total, field_of))
        await repository.apply_nc_delta(conn, Counter({k: v for k, v in ncs.items() if v}))
    metrics.ROLLUP_UPDATES.inc(len(fresh))


def _changed(old: Sequence[NcFact], new: Sequence[NcFact]) -> tuple[list[NcFact], list[NcFact]]:
    """The nonconformities only in ``old`` and only in ``new`` (as multisets, in any order).

    A register that did not change (the usual revision; the stored one comes back in any order)
    then costs no local day and no count: ``nc_delta`` is a sum over its facts.
    """
    gone = list(old)
    added: list[NcFact] = []
    for f in new:
        try:
            gone.remove(f)
        except ValueError:
            added.append(f)
    return gone, added


async def handle_registry_changes(ctx: ReportingContext, values: Sequence[Incoming]) -> None:
    """Keep the local copy of agencies, QMS records and procedures; re-book a procedure whose field changed.

    An invalid change goes to the registry's dead-letter topic (``invalid_registry_change``), one
    the local copy refuses for good too (``registry_change_failed``); the changes after it go on.
    """
    started = time.perf_counter()
    for item in values:
        msg = _raw(item, ctx.registry_topic)
        try:
            change = RegistryChange.model_validate_json(msg.value)
            if not change.deleted:
                change.record()  # the data must validate as its entity's record
        except ValidationError as exc:
            await _dead_letter(ctx, msg, _reason(exc), "invalid_registry_change")
            continue
        if change.entity not in registry_copy.KEPT:
            continue
        try:
            await _apply_registry_change(ctx, change)
        except Exception as exc:
            if is_transient(exc):
                raise
            reason = f"applying it failed: {type(exc).__name__}: {exc}"
            await _dead_letter(ctx, msg, reason, "registry_change_failed")
    metrics.BATCH_SECONDS.labels("reporting", "registry").observe(time.perf_counter() - started)
    metrics.MESSAGES_CONSUMED.labels("reporting", "registry").inc(len(values))


async def _apply_registry_change(ctx: ReportingContext, change: RegistryChange) -> None:
    async with ctx.pool.acquire() as conn, conn.transaction():
        if change.entity == "procedure":
            await repository.lock_procedures(conn, [change.entity_id], exclusive=True)
        applied = await registry_copy.apply_change(conn, change)
        if applied.applied and applied.old_field is not None and applied.new_field is not None:
            await repository.move_procedure_field(
                conn, change.entity_id, applied.old_field, applied.new_field
            )
