"""The contract's strict types, date window and byte-level bounds (no service needed)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.contracts.events import (
    ContractLimits,
    contract_limits,
    nests_deeper_than,
    parse_dossier_event,
    set_contract_limits,
)
from shared.settings import CommonSettings

BASE: dict[str, Any] = {
    "event_id": "e-1",
    "event_type": "dossier.accepted",
    "occurred_at": "2025-03-10T09:15:00+07:00",
    "source": "motcua.cantho",
    "dossier_code": "000.00.13.H13-250310-0001",
    "agency_code": "000.00.13.H13",
    "procedure_code": "1.001612",
    "payload": {"channel": 1},
}


def fields_of(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        parse_dossier_event(json.dumps(raw))
    return [".".join(str(p) for p in e["loc"][1:]) for e in caught.value.errors()]


@pytest.fixture(autouse=True)
def default_limits() -> Iterator[None]:
    before = contract_limits()
    set_contract_limits(ContractLimits())
    yield
    set_contract_limits(before)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"occurred_at": 1741573500}, "occurred_at"),  # a number is not a date
        ({"payload": {"channel": True}}, "payload.channel"),  # a boolean is not a number
        ({"payload": {"channel": "1"}}, "payload.channel"),  # a text is not a number
        ({"event_id": 17}, "event_id"),  # a number is not a text
        ({"source": False}, "source"),
        ({"event_type": "dossier.fee_paid", "payload": {"amount": "10", "online": 1}}, "payload.online"),
        ({"event_type": "dossier.fee_paid", "payload": {"amount": True}}, "payload.amount"),
    ],
)
def test_no_coercion(change: dict[str, Any], field: str) -> None:
    assert fields_of({**BASE, **change}) == [field]


def test_the_date_window_is_2000_to_five_years_ahead_by_default() -> None:
    today = date.today()
    latest = (
        today.replace(year=today.year + 5) if (today.month, today.day) != (2, 29) else today + timedelta(1826)
    )
    for day, ok in (
        ("1999-12-31", False),
        ("2000-01-01", True),
        (latest.isoformat(), True),
        ((latest + timedelta(days=1)).isoformat(), False),
        ("3025-03-10", False),
        ("9999-12-31", False),
        ("0001-01-01", False),
    ):
        raw = {**BASE, "occurred_at": f"{day}T12:00:00+07:00"}
        if ok:
            assert parse_dossier_event(json.dumps(raw)).occurred_at.date().isoformat() == day
        else:
            assert fields_of(raw) == ["occurred_at"], day
    with pytest.raises(ValidationError) as caught:
        parse_dossier_event(json.dumps({**BASE, "occurred_at": "3025-03-10T12:00:00+07:00"}))
    assert "between 2000-01-01 and" in str(caught.value) and "check the year" in str(caught.value)
    # every date of an event, not only occurred_at
    accepted = {**BASE, "payload": {"channel": 1, "appointed_return_at": "9999-01-01T00:00:00+07:00"}}
    assert fields_of(accepted) == ["payload.appointed_return_at"]
    apology = {
        **BASE,
        "event_type": "dossier.apology_issued",
        "payload": {"new_appointment_at": "1970-01-01T00:00:00+00:00"},
    }
    assert fields_of(apology) == ["payload.new_appointment_at"]


def test_the_window_comes_from_the_settings() -> None:
    settings = CommonSettings(date_window_start=date(2020, 1, 1), date_window_years_ahead=0)
    set_contract_limits(settings.contract_limits())
    assert fields_of({**BASE, "occurred_at": "2019-06-01T12:00:00+07:00"}) == ["occurred_at"]
    tomorrow = date.today() + timedelta(days=1)
    assert fields_of({**BASE, "occurred_at": f"{tomorrow}T12:00:00+07:00"}) == ["occurred_at"]


def test_size_and_depth_are_refused_before_decoding() -> None:
    big = {**BASE, "event_type": "dossier.stopped", "payload": {"reason": "x" * 70_000}}
    deep = json.dumps(BASE)[:-1] + ', "x": ' + "[" * 300 + "]" * 300 + "}"
    for raw, words in ((json.dumps(big), "at most 65536 bytes"), (deep, "more than 8 levels")):
        with pytest.raises(ValidationError) as caught:
            parse_dossier_event(raw)
        [error] = caught.value.errors()
        assert error["loc"] == ("(message)",) and words in str(error["ctx"]["error"])


def depth(value: Any) -> int:
    """Nesting depth of a decoded JSON value (an independent oracle for ``nests_deeper_than``)."""
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


tricky_text = st.text(alphabet='[]{}"\\ab', max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky_text, inner, max_size=3),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(value=json_values, levels=st.integers(min_value=0, max_value=12))
def test_the_byte_level_depth_agrees_with_the_decoded_depth(value: Any, levels: int) -> None:
    data = json.dumps(value).encode()
    assert nests_deeper_than(data, levels) == (depth(value) > levels)


def test_the_depth_check_stays_linear_on_hostile_bytes() -> None:
    """About 1 MB each, built to make a naive scan quadratic (hours); linear, it takes milliseconds.
    The bound is loose because the test machine may be busy."""
    import time

    for data in (b"[" * 1_000_000, b'"\\"' * 330_000, b"[]" * 500_000, b'[""]' * 250_000, b'"\\"[' * 250_000):
        started = time.perf_counter()
        nests_deeper_than(data, 9)
        assert time.perf_counter() - started < 5.0, data[:10]
