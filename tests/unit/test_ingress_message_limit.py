"""The ingress's event size bound stays under what the broker takes: an event accepted with 202 must
be publishable, or the outbox relay would retry it for ever."""

from __future__ import annotations

import pytest

from services.processing.ingress import BROKER_MESSAGE_BYTES, IngestGateway
from services.processing.settings import ProcessingSettings


def settings(event_max_bytes: int) -> ProcessingSettings:
    return ProcessingSettings(
        database_url="postgresql://unused/x",
        kafka_bootstrap_servers="127.0.0.1:9",
        event_max_bytes=event_max_bytes,
    )


def test_an_event_bound_above_the_broker_limit_stops_the_start() -> None:
    with pytest.raises(ValueError, match="TTHC_EVENT_MAX_BYTES=2000000 is above"):
        IngestGateway(settings(2_000_000), lambda: None, None)  # type: ignore[arg-type, return-value]


def test_the_default_bound_is_under_the_broker_limit() -> None:
    s = ProcessingSettings(database_url="postgresql://unused/x", kafka_bootstrap_servers="127.0.0.1:9")
    assert s.event_max_bytes <= BROKER_MESSAGE_BYTES < 1_048_576
    IngestGateway(s, lambda: None, None)  # type: ignore[arg-type, return-value]
