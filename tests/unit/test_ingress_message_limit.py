"""The event size bound stays under what the broker takes: an event accepted with 202 must be
publishable, or the outbox relay could only dead-letter it. A bad value fails when settings load."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.processing.settings import ProcessingSettings
from services.registry.settings import RegistrySettings
from shared.settings import BROKER_MESSAGE_BYTES, CommonSettings


def test_an_event_bound_above_the_broker_limit_fails_when_settings_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TTHC_EVENT_MAX_BYTES", "2000000")
    for kind in (CommonSettings, ProcessingSettings, RegistrySettings):
        with pytest.raises(ValidationError) as refused:
            kind()
        message = str(refused.value)
        assert "TTHC_EVENT_MAX_BYTES=2000000" in message and f"limit of {BROKER_MESSAGE_BYTES} bytes" in message


def test_the_broker_limit_itself_and_the_default_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    assert CommonSettings().event_max_bytes <= BROKER_MESSAGE_BYTES < 1_048_576
    monkeypatch.setenv("TTHC_EVENT_MAX_BYTES", str(BROKER_MESSAGE_BYTES))
    assert ProcessingSettings().event_max_bytes == BROKER_MESSAGE_BYTES
