"""Composition root of the processing service."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from fastapi import FastAPI

from services.processing.adapters import forecast_store, registry_copy
from services.processing.adapters.folds import FoldStore
from services.processing.domain.engine import ClockRules
from services.processing.domain.forecast import RemainingTimes
from services.processing.domain.legal_profile import LegalProfiles
from services.processing.entrypoints.consumers import declare_consumers
from services.processing.entrypoints.corrective import router as corrective_router
from services.processing.entrypoints.http import router
from services.processing.entrypoints.ingest import install_ingress
from services.processing.handlers import ProcessingContext, fire_timers, publish_unpublished
from services.processing.settings import ProcessingSettings
from shared import metrics
from shared.auth import install_auth_errors
from shared.contracts.events import set_contract_limits
from shared.kafka import RawPublisher
from shared.runtime import Resources, broker_for, build_service_app, stop_tasks
from shared.settings import Topics

log = logging.getLogger(__name__)


def relearn_every(model: RemainingTimes | None, settings: ProcessingSettings) -> float:
    """Seconds between relearnings of the at-risk model: ``TTHC_FORECAST_REFRESH_S``, or the shorter
    ``TTHC_FORECAST_WARMUP_REFRESH_S`` while the model cannot estimate anything (a new system, whose
    model was learned from no resolution at start, would otherwise warn of nothing for an hour)."""
    if model is not None and model.usable:
        return settings.forecast_refresh_s
    return min(settings.forecast_refresh_s, settings.forecast_warmup_refresh_s)


def create_app(settings: ProcessingSettings | None = None) -> FastAPI:
    settings = settings or ProcessingSettings()
    set_contract_limits(settings.contract_limits())  # the date window and message bounds of every event
    broker = broker_for("processing", settings)
    holder: dict[str, ProcessingContext] = {}
    declare_consumers(broker, settings, holder)

    publisher = RawPublisher(settings, client_id="tthc-processing-out")

    async def publish_many(topic: str, messages: Sequence[tuple[bytes, bytes]]) -> None:
        await publisher.publish_many(topic, messages)

    async def wire(r: Resources) -> Callable[[], Awaitable[None]]:
        await publisher.start()
        async with r.pool.acquire() as conn:
            overrides = await registry_copy.calendar_overrides(conn)
            profile_records = await registry_copy.legal_profiles(conn)
        calendar = settings.calendar(overrides)
        rules = ClockRules.from_settings(settings)
        ctx = holder["ctx"] = ProcessingContext(
            pool=r.pool,
            publish_many=publish_many,
            calendar=calendar,
            make_calendar=settings.calendar,
            rules=rules,
            profiles=LegalProfiles(
                calendar, rules, settings.legal_profile, tuple(profile_records), overrides
            ),
            compliance_topic=settings.topics.compliance,
            dlq_topic=Topics.dlq(settings.topics.dossier_events),
            retry_failed_after_s=settings.assessment_retry_s,
            registry_dlq_topic=Topics.dlq(settings.topics.registry),
            folds=FoldStore(settings.fold_store_events),
        )
        app.state.ctx = ctx

        async def learn() -> None:
            async with r.pool.acquire() as conn:
                ctx.forecast_model = await forecast_store.learn(
                    conn, settings.forecast_quantile, settings.forecast_min_samples
                )
            metrics.FORECAST_SAMPLES.set(sum(len(v) for v in ctx.forecast_model.samples.values()))

        if settings.forecast_enabled:
            # before the consumers start: no batch after a restart is judged without the model (it
            # would publish the dossiers' warnings as withdrawn until the first relearning)
            await learn()

        async def run_timers() -> None:
            # timers live in the database (next_deadline), so a restart loses none
            while True:
                try:
                    fired = await fire_timers(ctx)
                    await publish_unpublished(ctx)
                except Exception:
                    log.exception("timer sweep failed; retrying")
                    fired = 0
                if not fired:
                    await asyncio.sleep(settings.timer_interval_seconds)

        async def relearn_forecast() -> None:
            # the at-risk model from the resolutions so far; the gauge of warned open dossiers per agency
            learned_at = time.monotonic()
            while True:
                try:
                    every = relearn_every(ctx.forecast_model, settings)
                    if settings.forecast_enabled and time.monotonic() - learned_at >= every:
                        await learn()
                        learned_at = time.monotonic()
                    async with r.pool.acquire() as conn:
                        await forecast_store.export_at_risk(conn)
                except Exception:
                    log.warning("at-risk model or gauge not refreshed; retrying", exc_info=True)
                await asyncio.sleep(5)

        tasks = [
            asyncio.create_task(run_timers()),
            asyncio.create_task(relearn_forecast()),
        ]

        async def stop() -> None:
            await stop_tasks(tasks)
            await publisher.stop()  # after the broker: the batch in hand has been published

        return stop

    app: FastAPI
    app = build_service_app("processing", settings, broker, wire, "TTHC Monitor — processing")
    app.include_router(router)
    app.include_router(corrective_router)  # POST/GET /api/v1/corrective-actions (ISO 10.2)
    install_ingress(app, settings, broker)  # POST /api/v1/events and /api/v1/portal-sync
    install_auth_errors(app)
    return app
