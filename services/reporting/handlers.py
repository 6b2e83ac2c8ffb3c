"""Service layer of reporting: one function per thing that happens to it."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from pydantic import ValidationError

from services.reporting.adapters import registry_copy, repository
from services.reporting.domain.assessment import AssessmentView, parse
from services.reporting.domain.nonconformities import NcKey, nc_delta
from services.reporting.domain.rollup import Delta, delta, merge, project_to_fields
from shared import metrics
from shared.contracts import RegistryChange

log = logging.getLogger(__name__)


@dataclass
class ReportingContext:
    pool: asyncpg.Pool
    tz: ZoneInfo
    compliance_topic: str = "tthc.compliance.v1"
    registry_topic: str = "tthc.registry.v1"


async def handle_assessments(ctx: ReportingContext, values: Sequence[bytes]) -> None:
    """Apply a batch of assessments: newest revision per dossier wins; rollups move by the delta."""
    started = time.perf_counter()
    newest: dict[str, tuple[AssessmentView, dict[str, Any]]] = {}
    for raw in values:
        try:
            a, doc = parse(raw)
        except ValueError as exc:  # pydantic's ValidationError and JSON errors alike
            reason = exc.errors()[:3] if isinstance(exc, ValidationError) else str(exc)[:200]
            log.error("skipping an invalid assessment: %s", reason)
            metrics.DLQ_MESSAGES.labels("reporting", ctx.compliance_topic, "invalid_assessment").inc()
            continue
        prior = newest.get(a.dossier_code)
        if prior is None or a.revision > prior[0].revision:
            newest[a.dossier_code] = (a, doc)
    fresh: list[tuple[AssessmentView, dict[str, Any]]] = []
    if newest:
        async with ctx.pool.acquire() as conn, conn.transaction():
            current = await repository.current_facts(conn, sorted(newest))
            procedures = {a.procedure_code for a, _ in newest.values()}
            procedures |= {c[1].procedure_code for c in current.values()}
            await repository.lock_procedures(conn, sorted(procedures), exclusive=False)
            field_of = await repository.fields_of(conn, sorted(procedures))
            total: Delta = {}
            ncs: Counter[NcKey] = Counter()
            for code, (a, doc) in sorted(newest.items()):
                old = current.get(code)
                if old is not None and old[0] >= a.revision:
                    continue  # already applied (redelivery or replay)
                merge(total, delta(old[1] if old else None, repository.to_fact(a), ctx.tz))
                ncs.update(nc_delta(old[2] if old else (), repository.to_nc_facts(a), ctx.tz))
                fresh.append((a, doc))
            await repository.upsert_facts(conn, fresh)
            await repository.replace_nonconformities(conn, [a for a, _ in fresh])
            await repository.apply_rollup_delta(conn, total, project_to_fields(total, field_of))
            await repository.apply_nc_delta(conn, Counter({k: v for k, v in ncs.items() if v}))
        metrics.ROLLUP_UPDATES.inc(len(fresh))
    metrics.BATCH_SECONDS.labels("reporting", "compliance").observe(time.perf_counter() - started)
    metrics.MESSAGES_CONSUMED.labels("reporting", "compliance").inc(len(values))


async def handle_registry_changes(ctx: ReportingContext, values: Sequence[bytes]) -> None:
    """Keep the local copy of agencies, QMS records and procedures; re-book a procedure whose field changed."""
    started = time.perf_counter()
    for raw in values:
        try:
            change = RegistryChange.model_validate_json(raw)
            if not change.deleted:
                change.record()  # the data must validate as its entity's record
        except ValidationError as exc:
            log.error("skipping an invalid registry change: %s", exc.errors()[:3])
            metrics.DLQ_MESSAGES.labels("reporting", ctx.registry_topic, "invalid_registry_change").inc()
            continue
        if change.entity not in registry_copy.KEPT:
            continue
        async with ctx.pool.acquire() as conn, conn.transaction():
            if change.entity == "procedure":
                await repository.lock_procedures(conn, [change.entity_id], exclusive=True)
            applied = await registry_copy.apply_change(conn, change)
            if applied.applied and applied.old_field is not None and applied.new_field is not None:
                await repository.move_procedure_field(
                    conn, change.entity_id, applied.old_field, applied.new_field
                )
    metrics.BATCH_SECONDS.labels("reporting", "registry").observe(time.perf_counter() - started)
    metrics.MESSAGES_CONSUMED.labels("reporting", "registry").inc(len(values))
