"""Composition root of the reporting service."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from services.reporting import reports
from services.reporting.entrypoints.access import token_lookup
from services.reporting.entrypoints.at_risk import api as at_risk_api
from services.reporting.entrypoints.dashboard import install_dashboard
from services.reporting.entrypoints.http import router
from services.reporting.gauges import refresh_gauges
from services.reporting.handlers import ReportingContext, handle_assessments, handle_registry_changes
from services.reporting.handlers_766 import handle_dossier_events
from services.reporting.settings import ReportingSettings
from shared.auth import BearerAuth, install_auth_errors
from shared.contracts import DossierAssessment, RegistryChange
from shared.contracts.events import DossierEvent
from shared.dead_letters import RawMessage
from shared.kafka import RawPublisher, batch_consumer_options
from shared.runtime import Resources, broker_for, build_service_app, stop_tasks

log = logging.getLogger(__name__)


def _raw(records: Any) -> list[RawMessage]:
    return [RawMessage(r.key, r.value, r.topic, r.partition, r.offset) for r in records]


def create_app(
    settings: ReportingSettings | None = None, clock: Callable[[], datetime] | None = None
) -> FastAPI:
    """The reporting app; ``clock`` (aware datetimes) is injectable for tests."""
    settings = settings or ReportingSettings()
    broker = broker_for("reporting", settings)
    holder: dict[str, ReportingContext] = {}
    tz = ZoneInfo(settings.timezone)
    now: Callable[[], datetime] = clock or (lambda: datetime.now(tz))
    common = batch_consumer_options(settings)
    dead_letters = RawPublisher(settings, client_id="tthc-reporting-dlq")

    # The annotations are the payloads on the topics (for the AsyncAPI document): the handlers
    # receive the consumer records and validate each value once (shared.kafka.make_broker).
    @broker.subscriber(
        settings.topics.compliance,
        group_id=settings.reporting_group_id,
        title="dossier assessments",
        description="Processing's assessments, key = dossier code; invalid ones go to the .dlq topic with the reason.",
        **common,
    )
    async def on_assessments(records: list[DossierAssessment]) -> None:
        await handle_assessments(holder["ctx"], _raw(records))

    @broker.subscriber(
        settings.topics.registry,
        group_id=settings.reporting_registry_group_id,
        title="registry changes",
        description="The registry's entities (agencies, QMS records, procedures); invalid ones go to the .dlq topic.",
        **common,
    )
    async def on_registry(records: list[RegistryChange]) -> None:
        await handle_registry_changes(holder["ctx"], _raw(records))

    @broker.subscriber(
        settings.topics.dossier_events,
        group_id=settings.reporting_events_group_id,
        title="dossier events (Decision 766 facts)",
        description="An invalid event is logged and skipped here: processing dead-letters it on this topic's .dlq.",
        **common,
    )
    async def on_dossier_events(records: list[DossierEvent]) -> None:
        await handle_dossier_events(
            holder["ctx"], [r.value for r in _raw(records)], settings.topics.dossier_events
        )

    async def wire(r: Resources) -> Callable[[], Awaitable[None]]:
        await dead_letters.start()
        holder["ctx"] = ReportingContext(
            r.pool, tz, settings.topics.compliance, settings.topics.registry, dead_letters.publish_many
        )
        app.state.auth = BearerAuth(token_lookup(r.pool))

        async def background() -> None:
            while True:
                try:
                    await refresh_gauges(r.pool, now())
                except Exception:  # the gauges are best effort; the reports do not depend on them
                    log.exception("refreshing the reporting gauges failed")
                await asyncio.sleep(settings.reporting_gauges_interval_s)

        task = asyncio.create_task(background(), name="reporting-gauges")
        tasks = [task]

        async def close_periods() -> None:
            """Freeze each period's reports once it has ended (snapshots; docs/reporting.md).

            The first look comes one interval after the start: a service that starts and stops
            at once (tests, `tthc up` restarts) does not freeze anything.
            """
            while True:
                await asyncio.sleep(settings.reporting_close_check_interval_s)
                try:
                    made = await reports.close_periods(
                        r.pool,
                        tz,
                        now(),
                        settings.reporting_close_calendar,
                        settings.statutory_period_start_day,
                    )
                    if made:
                        log.info("periods closed, reports frozen: %s", ", ".join(made))
                except Exception:  # retried at the next check; the live reports do not depend on it
                    log.exception("freezing the reports of a closed period failed")

        if settings.reporting_close_periods:
            tasks.append(asyncio.create_task(close_periods(), name="reporting-period-close"))

        async def stop() -> None:
            await stop_tasks(tasks)
            await dead_letters.stop()  # after the broker: the batch in hand has been handled

        return stop

    app = build_service_app("reporting", settings, broker, wire, "TTHC Monitor — reporting")
    app.state.settings = settings
    app.state.tz = tz
    app.state.clock = now
    install_auth_errors(app)
    app.include_router(router)
    app.include_router(at_risk_api)  # /api/v1/reports/at-risk (dự báo trễ hạn)
    install_dashboard(app)
    return app
