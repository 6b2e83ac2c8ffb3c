"""Properties of the engine over generated dossiers (hypothesis).

1. Any arrival order and any duplication of a dossier's events give the same assessment:
   outcome, due dates, control slip and nonconformities.
2. ``next_deadline`` is exact: the assessment does not change before it, changes at it, and
   never changes by itself when it is None.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.processing.domain.engine import ProcedureTerms, ProcessContext, assess, next_deadline
from shared.contracts.compliance import DossierAssessment
from shared.contracts.events import DossierEvent
from tests.unit.test_engine_fixtures import (
    CAL,
    CD,
    IN_PERSON,
    ONLINE,
    RULES,
    WD,
    WH,
    Dossier,
    at,
    in_scope,
    iso_process,
    step,
    terms,
)

# From Mon 20 Jan 2025, so that generated dossiers run into Tết 2025.
BASE = at(2025, 1, 20, 7)
SLOT = timedelta(minutes=45)
PROCESS = in_scope(
    iso_process(
        step("B1", "BPMC", 4, WH),
        step("B2", "PTP", 2, WD),
        step("B3", "LD", 1, WD, optional=True),
        step("B4", "BPMC", 2, WH),
    )
)
CONTEXTS: list[ProcessContext | None] = [None, PROCESS, ProcessContext(in_iso_scope=False)]
TERMS: list[ProcedureTerms | None] = [terms(5), terms(12, WH), terms(10, CD), None]

OPS = st.sampled_from(
    [
        "submitted",
        "step",
        "step",
        "step",
        "supplement_requested",
        "supplement_received",
        "apology",
        "resolved",
        "returned",
        "withdrawn",
    ]
)


@st.composite
def dossiers(draw: st.DrawFn) -> list[DossierEvent]:
    d = Dossier()
    slot = st.integers(min_value=0, max_value=1000)
    if draw(st.integers(0, 5)):  # mostly accepted; sometimes only submitted
        d.accepted(
            BASE + draw(slot) * SLOT / 10,
            channel=draw(st.sampled_from([ONLINE, IN_PERSON])),
            appointed=draw(st.none() | st.integers(0, 30).map(lambda n: BASE + timedelta(days=n))),
        )
    else:
        d.submitted(BASE)
    for op in draw(st.lists(OPS, max_size=9)):
        when = BASE + draw(slot) * SLOT
        if op == "step":
            code = draw(st.sampled_from(["B1", "B2", "B3", "B4", "B9"]))
            d.step(when, code, draw(st.sampled_from(["BPMC", "PTP", "LD"])))
        elif op == "apology":
            d.apology(when, when + timedelta(days=3))
        elif op == "submitted":
            d.submitted(when)
        else:
            getattr(d, op)(when)
    return d.events


def content(a: DossierAssessment) -> dict[str, Any]:
    return a.model_dump(exclude={"assessed_at"})


NOWS = st.integers(min_value=0, max_value=1400).map(lambda n: BASE + n * SLOT)


@settings(max_examples=150, deadline=None)
@given(
    events=dossiers(),
    data=st.data(),
    procedure=st.sampled_from(TERMS),
    context=st.sampled_from(CONTEXTS),
    now=NOWS,
)
def test_arrival_order_and_duplicates_do_not_matter(
    events: list[DossierEvent],
    data: st.DataObject,
    procedure: ProcedureTerms | None,
    context: ProcessContext | None,
    now: datetime,
) -> None:
    expected = assess(events, procedure, CAL, RULES, now, context)
    duplicates = data.draw(st.lists(st.sampled_from(events), max_size=6))
    arrival = data.draw(st.permutations(events + duplicates))
    got = assess(arrival, procedure, CAL, RULES, now, context)
    assert got == expected
    assert next_deadline(arrival, procedure, CAL, RULES, now, context) == next_deadline(
        events, procedure, CAL, RULES, now, context
    )


@settings(max_examples=150, deadline=None)
@given(
    events=dossiers(),
    procedure=st.sampled_from(TERMS),
    context=st.sampled_from(CONTEXTS),
    now=NOWS,
)
def test_next_deadline_is_exactly_when_the_assessment_changes(
    events: list[DossierEvent],
    procedure: ProcedureTerms | None,
    context: ProcessContext | None,
    now: datetime,
) -> None:
    current = content(assess(events, procedure, CAL, RULES, now, context))
    wake = next_deadline(events, procedure, CAL, RULES, now, context)
    if wake is None:
        much_later = now + timedelta(days=400)
        assert content(assess(events, procedure, CAL, RULES, much_later, context)) == current
        return
    assert wake > now
    just_before = wake - timedelta(microseconds=1)
    assert content(assess(events, procedure, CAL, RULES, just_before, context)) == current
    assert content(assess(events, procedure, CAL, RULES, wake, context)) != current
