"""The engine is bounded: any schema-valid history returns or raises the declared error, fast (issue #11).

Before, an ``occurred_at`` in 9999 made the working-day index walk (and holiday-check) every
year from its anchor and burned ~26 s of CPU; 3025 raised a bare ``ValueError`` the consumer
retried for ever. Every calendar computation is now bounded by the configured date window.
"""

from __future__ import annotations

import time as clock
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.processing.domain.engine import ClockRules, ProcedureTerms, ProcessContext, evaluate
from services.processing.domain.legal_profile import calendar_of, rules_of
from shared.calendar import (
    CalendarOverrides,
    DateOutOfWindowError,
    DateWindow,
    Duration,
    DurationUnit,
    WorkingCalendar,
)
from shared.contracts.events import (
    Channel,
    ContractLimits,
    DossierEvent,
    EventType,
    contract_limits,
    dossier_event_adapter,
    set_contract_limits,
)
from shared.contracts.registry import LegalProfileRecord
from tests.unit.test_engine_fixtures import (
    AGENCY,
    PROCEDURE,
    RULES,
    VN,
    Dossier,
    at,
    in_scope,
    iso_process,
    step,
)

# The settings' default window as it stands on 3 Dec 2026: 2000-01-01 … today + 5 years.
WINDOW = DateWindow.ending_years_after(date(2000, 1, 1), date(2026, 12, 3), 5)
NOW = datetime(2026, 12, 3, 9, tzinfo=VN)
# Well under the 26 s the unbounded index burned; generous for a shared 2-core machine.
FAST_SECONDS = 2.0


class _NoContractWindow(ContractLimits):
    def latest(self, today: date) -> date:
        return date.max


@pytest.fixture(autouse=True)
def histories_that_bypass_the_contract() -> Any:
    """The ingress refuses these dates (shared/contracts/events.py), but the engine must hold on its
    own too: events stored under a wider window, or read back from the store, never pass the ingress."""
    before = contract_limits()
    set_contract_limits(_NoContractWindow(earliest=date.min))
    yield
    set_contract_limits(before)


def fresh_calendar() -> WorkingCalendar:
    return WorkingCalendar(window=WINDOW)


def test_settings_window_is_2000_to_today_plus_5_years() -> None:
    from shared.settings import CommonSettings

    window = CommonSettings().date_window(today=date(2026, 12, 3))
    assert (window.first, window.last) == (date(2000, 1, 1), date(2031, 12, 3))
    leap = CommonSettings().date_window(today=date(2028, 2, 29))
    assert leap.last == date(2033, 2, 28)


@pytest.mark.parametrize(
    "when",
    [
        datetime(9999, 12, 20, 9, tzinfo=VN),  # burned 26 s before
        datetime(3025, 3, 10, 9, tzinfo=VN),  # a plausible typo for 2025; raised a bare ValueError
        datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-12))),  # overflows when converted
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
        datetime(1999, 12, 31, 16, 59, tzinfo=UTC),  # 1999-12-31 as written: just before the window
    ],
)
def test_a_date_outside_the_window_is_refused_fast_naming_the_field(when: datetime) -> None:
    d = Dossier()
    d.accepted(at(2025, 3, 10, 9))
    d.resolved(when)
    started = clock.perf_counter()
    with pytest.raises(DateOutOfWindowError, match=r"occurred_at .* outside the date window 2000-01-01"):
        evaluate(
            d.events,
            ProcedureTerms(PROCEDURE, Duration(Decimal(5), DurationUnit.WORKING_DAYS)),
            fresh_calendar(),
            RULES,
            NOW,
        )
    assert clock.perf_counter() - started < FAST_SECONDS


def test_the_last_day_of_the_window_is_still_judged() -> None:
    d = Dossier()
    d.accepted(datetime(2031, 12, 3, 9, tzinfo=VN))
    a = evaluate(
        d.events,
        ProcedureTerms(PROCEDURE, Duration(Decimal(3), DurationUnit.MONTHS)),
        fresh_calendar(),
        RULES,
        NOW,
    ).assessment
    # 3 months after Wed 3 Dec 2031 is Wed 3 Mar 2032 (a working day), same wall-clock time.
    assert a.due_at == datetime(2032, 3, 3, 9, tzinfo=VN)


@pytest.mark.parametrize(
    ("value", "unit"),
    [
        ("999999.99", DurationUnit.WORKING_DAYS),
        ("999999.99", DurationUnit.WORKING_HOURS),
        ("999999.99", DurationUnit.CALENDAR_DAYS),
        ("999999", DurationUnit.MONTHS),
    ],
)
def test_a_statutory_time_reaching_beyond_the_calendar_is_refused_fast(
    value: str, unit: DurationUnit
) -> None:
    d = Dossier()
    d.accepted(at(2025, 3, 10, 9))
    started = clock.perf_counter()
    with pytest.raises(DateOutOfWindowError, match="outside the calendar's range"):
        evaluate(
            d.events, ProcedureTerms(PROCEDURE, Duration(Decimal(value), unit)), fresh_calendar(), RULES, NOW
        )
    assert clock.perf_counter() - started < FAST_SECONDS


def test_the_calendar_refuses_positions_beyond_its_reach_instead_of_walking_centuries() -> None:
    cal = fresh_calendar()
    started = clock.perf_counter()
    with pytest.raises(DateOutOfWindowError):
        cal.add_working_days(at(2025, 3, 10, 9), 100_000)  # ~400 years of working days
    with pytest.raises(DateOutOfWindowError):
        cal.working_days_between(at(2025, 3, 10, 9), datetime(9999, 12, 20, tzinfo=VN))
    with pytest.raises(DateOutOfWindowError):
        cal.is_working_day(date(3025, 3, 10))
    assert clock.perf_counter() - started < FAST_SECONDS
    # Inside its reach it still counts: 10 working days from Mon 10 Mar 2025 09:00.
    assert cal.add_working_days(at(2025, 3, 10, 9), 10) == at(2025, 3, 24, 9)


# ---- property: random schema-valid histories --------------------------------------------------

OFFSETS = st.integers(-12 * 4, 14 * 4).map(lambda q: timezone(timedelta(minutes=15 * q)))
ANY_MOMENT = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=OFFSETS)
NEAR_MOMENT = st.datetimes(
    min_value=datetime(1999, 12, 25), max_value=datetime(2032, 1, 10), timezones=OFFSETS
)
MOMENTS = st.one_of(NEAR_MOMENT, NEAR_MOMENT, NEAR_MOMENT, ANY_MOMENT)
AMOUNTS = st.one_of(
    st.integers(0, 400).map(Decimal),
    st.decimals(min_value=0, max_value=Decimal("999999.99"), places=2, allow_nan=False, allow_infinity=False),
)
UNITS = st.sampled_from(list(DurationUnit))


def _payload(kind: EventType, draw: st.DrawFn) -> dict[str, Any]:
    if kind in (EventType.SUBMITTED, EventType.ACCEPTED):
        payload: dict[str, Any] = {"channel": int(draw(st.sampled_from(list(Channel))))}
        if kind is EventType.ACCEPTED and draw(st.booleans()):
            payload["appointed_return_at"] = draw(MOMENTS)
        return payload
    if kind in (EventType.NOT_ACCEPTED, EventType.SUPPLEMENT_REQUESTED, EventType.STOPPED):
        return {"reason": "lý do"}
    if kind is EventType.STEP_COMPLETED:
        return {
            "step_code": draw(st.sampled_from(["B1", "B2", "B9"])),
            "from_unit": draw(st.sampled_from(["BPMC", "PTP"])),
        }
    if kind in (EventType.FEE_REQUESTED, EventType.FEE_PAID):
        return {"amount": "15000"}
    if kind is EventType.APOLOGY_ISSUED:
        return {"new_appointment_at": draw(MOMENTS)}
    return {}


@st.composite
def histories(draw: st.DrawFn) -> list[DossierEvent]:
    kinds = draw(st.lists(st.sampled_from(list(EventType)), min_size=1, max_size=10))
    code = f"{AGENCY}-250310-0001"
    return [
        dossier_event_adapter.validate_python(
            {
                "event_id": f"{code}/{n}",
                "event_type": kind.value,
                "occurred_at": draw(MOMENTS),
                "source": "hypothesis",
                "dossier_code": code,
                "agency_code": AGENCY,
                "procedure_code": PROCEDURE,
                "payload": _payload(kind, draw),
            }
        )
        for n, kind in enumerate(kinds)
    ]


CAL = fresh_calendar()
# The same property under other legal profiles: Rome (DST, Italian holidays), plain days with the
# result's return stopping the clock, and a historical log's end.
_ROME = LegalProfileRecord(
    code="IT-RM",
    version=1,
    effective_from=date(2000, 1, 1),
    name="Roma",
    timezone="Europe/Rome",
    holiday_country="IT",
    holiday_subdivision="RM",
    registry_overrides=False,
    in_person_cutoff=None,
)
_PLAIN = LegalProfileRecord(
    code="PLAIN",
    version=1,
    effective_from=date(2000, 1, 1),
    name="plain days",
    roll_over_day_off=False,
    clock_stop="result_returned",
    rule_codes=("LATE", "OVERDUE"),
    observed_until=datetime(2026, 1, 1, tzinfo=UTC),
)
JUDGES = [(CAL, RULES)] + [
    (calendar_of(p, CalendarOverrides(), WINDOW), rules_of(p, RULES)) for p in (_ROME, _PLAIN)
]
PROCESS = in_scope(iso_process(step("B1", "BPMC", 4), step("B2", "PTP", 2, DurationUnit.WORKING_DAYS)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=histories(),
    amount=AMOUNTS,
    unit=UNITS,
    known=st.booleans(),
    context=st.sampled_from([None, PROCESS]),
    now=MOMENTS.filter(lambda m: WINDOW.contains(m.date())),
    judge=st.sampled_from(JUDGES),
)
def test_any_history_returns_or_raises_the_declared_error_fast(
    events: list[DossierEvent],
    amount: Decimal,
    unit: DurationUnit,
    known: bool,
    context: ProcessContext | None,
    now: datetime,
    judge: tuple[WorkingCalendar, ClockRules],
) -> None:
    calendar, rules = judge
    if unit is DurationUnit.MONTHS:
        amount = amount.to_integral_value()
    terms = ProcedureTerms(PROCEDURE, Duration(amount, unit)) if known else None
    started = clock.perf_counter()
    dates = [e.occurred_at.date() for e in events] + [
        d.date()
        for e in events
        for d in (
            getattr(e.payload, "appointed_return_at", None),
            getattr(e.payload, "new_appointment_at", None),
        )
        if d is not None
    ]
    # 100 months (the longest sane time) from the window's last day stays inside its 10-year reach.
    judgeable = all(WINDOW.contains(d) for d in dates) and amount <= 100
    try:
        evaluation = evaluate(events, terms, calendar, rules, now, context)
    except DateOutOfWindowError:
        assert not judgeable, "a dossier with every date inside the window and a sane time must be judged"
    else:
        assert evaluation.assessment.dossier_code == events[0].dossier_code
    assert clock.perf_counter() - started < FAST_SECONDS
