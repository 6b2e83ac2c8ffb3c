"""Kafka entrypoints of processing: thin adapters from consumer records to handlers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from faststream.kafka import KafkaBroker

from services.processing.handlers import (
    ProcessingContext,
    RawMessage,
    handle_event_batch,
    handle_registry_batch,
)
from shared.contracts import DossierAssessment, RegistryChange
from shared.contracts.events import DossierEvent
from shared.kafka import batch_consumer_options
from shared.settings import CommonSettings, Topics


def _raw(records: Sequence[Any]) -> list[RawMessage]:
    return [RawMessage(r.key, r.value, r.topic, r.partition, r.offset) for r in records]


def declare_consumers(
    broker: KafkaBroker, settings: CommonSettings, holder: dict[str, ProcessingContext]
) -> Any:
    """Declare the subscribers; ``holder['ctx']`` is filled once the pool exists."""
    common = batch_consumer_options(settings)

    @broker.subscriber(
        settings.topics.dossier_events,
        group_id=f"{settings.consumer_group_prefix}-processing",
        title="dossier events",
        description="Dossier events of the public-service software (key = dossier code); JSON Schema: "
        "shared/contracts/schemas/tthc.dossier-events.v1.json. Invalid messages go to the .dlq topic.",
        **common,
    )
    async def on_dossier_events(records: list[DossierEvent]) -> None:  # the payload, for the AsyncAPI
        await handle_event_batch(holder["ctx"], _raw(records))

    @broker.subscriber(
        settings.topics.registry,
        group_id=f"{settings.consumer_group_prefix}-processing-registry",
        title="registry changes",
        description="The registry's entities processing keeps a copy of; invalid ones go to the .dlq topic.",
        **common,
    )
    async def on_registry(records: list[RegistryChange]) -> None:
        await handle_registry_batch(holder["ctx"], _raw(records))

    # Declared so the AsyncAPI document shows what processing publishes (the hot path publishes
    # the same payloads through shared.kafka.publish_raw_many).
    broker.publisher(
        settings.topics.compliance,
        title="dossier assessments",
        description="The whole current assessment of a dossier, key = dossier code; higher revision wins.",
        schema=DossierAssessment,
    )
    broker.publisher(
        Topics.dlq(settings.topics.dossier_events),
        title="dead letters",
        description="Messages that could not be parsed, validated or stored: reason, kind, source offset, "
        "original bytes (`tthc dlq list`).",
    )
    return on_dossier_events
