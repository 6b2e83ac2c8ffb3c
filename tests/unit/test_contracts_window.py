"""The contract's date window follows the calendar day, though it is computed once a day."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from shared.contracts import events
from shared.contracts.events import ContractLimits, contract_limits, parse_dossier_event, set_contract_limits

BASE: dict[str, Any] = {
    "event_id": "e-1",
    "event_type": "dossier.submitted",
    "source": "motcua.cantho",
    "dossier_code": "000.00.13.H13-250310-0001",
    "agency_code": "000.00.13.H13",
    "procedure_code": "1.001612",
    "payload": {"channel": 1},
}


def on(day: date) -> bytes:
    return json.dumps({**BASE, "occurred_at": f"{day.isoformat()}T12:00:00+07:00"}).encode()


@pytest.fixture(autouse=True)
def default_limits() -> Iterator[None]:
    before = contract_limits()
    set_contract_limits(ContractLimits(years_ahead=1))
    yield
    set_contract_limits(before)


class _Today:
    """Stands for the ``date`` class in the contract module, with a settable today."""

    day = date(2030, 6, 14)

    @classmethod
    def today(cls) -> date:
        return cls.day


def _at_noon(day: date) -> float:
    return datetime.combine(day, datetime.min.time()).timestamp() + 12 * 3600


def test_the_window_moves_when_the_day_turns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "date", _Today)
    monkeypatch.setattr(time, "time", lambda: _at_noon(_Today.day))
    assert parse_dossier_event(on(date(2031, 6, 14))).occurred_at.date() == date(2031, 6, 14)
    with pytest.raises(ValidationError) as caught:
        parse_dossier_event(on(date(2031, 6, 15)))
    assert "must lie between 2000-01-01 and 2031-06-14 (got 2031-06-15); check the year" in str(caught.value)

    _Today.day = date(2030, 6, 15)  # the next day: tomorrow's latest date is accepted, without a restart
    assert parse_dossier_event(on(date(2031, 6, 15))).occurred_at.date() == date(2031, 6, 15)
    with pytest.raises(ValidationError, match=r"and 2031-06-15 \(got 2031-06-16\)"):
        parse_dossier_event(on(date(2031, 6, 16)))


def test_new_limits_apply_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    _Today.day = date(2030, 6, 14)
    monkeypatch.setattr(events, "date", _Today)
    monkeypatch.setattr(time, "time", lambda: _at_noon(_Today.day))
    parse_dossier_event(on(date(2031, 1, 1)))
    set_contract_limits(ContractLimits(earliest=date(2031, 1, 2), years_ahead=1))
    with pytest.raises(ValidationError, match=r"must lie between 2031-01-02 and 2031-06-14"):
        parse_dossier_event(on(date(2031, 1, 1)))
    assert parse_dossier_event(on(date(2031, 1, 2) + timedelta(days=1)))
