"""The engine's memo on a kept fold (issue #16, session 6): remembering gives what judging again gives.

Processing keeps each dossier's :class:`Fold` between batches, and the fold remembers the result
of every rule group of its last assessment with the inputs it read (``Fold.memo``); a group whose
inputs are unchanged is not judged again. Whatever the batches, the arrival order, the duplicates,
the registry (terms, ISO process), the legal profile (rules, calendar) and the moment of each
assessment (a later batch, a timer, a clock going back), every assessment of the kept fold is
byte for byte the assessment of a fresh evaluation of the same events.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.processing.domain import engine
from services.processing.domain.clauses import NOTHING, Findings
from services.processing.domain.engine import Evaluation, ProcedureTerms, ProcessContext, evaluate
from services.processing.domain.history import Fold, fold_more
from services.processing.domain.inputs import ClockRules, ClockStop
from shared.calendar import WorkingCalendar
from shared.contracts.compliance import NonconformityCode
from shared.contracts.events import DossierEvent
from tests.unit.test_engine_fixtures import CAL, RULES, WD, Dossier, at, terms
from tests.unit.test_engine_properties import BASE, CONTEXTS, NOWS, PROCESS, SLOT, TERMS, dossiers
from tests.unit.test_fold_incremental import batches

# Equal to their originals but other objects, as a registry refresh or a profile lookup gives them.
TERMS_AGAIN: list[ProcedureTerms | None] = [*TERMS, terms(5)]
CONTEXTS_AGAIN: list[ProcessContext | None] = [
    *CONTEXTS,
    ProcessContext(PROCESS.in_iso_scope, PROCESS.versions),
]
RULES_ALL: list[ClockRules] = [
    RULES,
    replace(RULES),
    replace(RULES, clock_stop=ClockStop.RESULT_RETURNED),
    replace(RULES, observed_until=BASE + 600 * SLOT),  # a historical log: censored after its end
    replace(RULES, rule_codes=frozenset({NonconformityCode.LATE, NonconformityCode.APOLOGY_MISSING})),
    replace(RULES, apology_resets_allowed=0, in_person_transfer=False),
]
CALENDARS = [CAL, WorkingCalendar(roll_over_day_off=False), WorkingCalendar()]


def as_bytes(ev: Evaluation) -> tuple[str, datetime | None, str]:
    """What is published and scheduled: the assessment's JSON, the timer (and how it prints)."""
    return ev.assessment.model_dump_json(), ev.next_deadline, repr(ev.next_deadline)


@settings(max_examples=300, deadline=None)
@given(events=dossiers(), data=st.data())
def test_a_kept_fold_assesses_as_a_fresh_evaluation_of_its_events(
    events: list[DossierEvent], data: st.DataObject
) -> None:
    duplicates = data.draw(st.lists(st.sampled_from(events), max_size=4))
    arrival = data.draw(st.permutations(events + duplicates))
    cuts = data.draw(st.lists(st.integers(0, len(arrival)), max_size=7))
    kept: Fold | None = None
    stored: list[DossierEvent] = []
    moments: list[datetime] = []  # the last assessment's due moments and timer: where verdicts turn
    procedure, context = data.draw(st.sampled_from(TERMS_AGAIN)), data.draw(st.sampled_from(CONTEXTS_AGAIN))
    rules, calendar = data.draw(st.sampled_from(RULES_ALL)), data.draw(st.sampled_from(CALENDARS))
    for part in batches(arrival, cuts):
        stored.extend(part)
        continued = fold_more(kept, part) if kept is not None else None
        kept = continued if continued is not None else fold_more(None, stored)
        assert kept is not None
        # A batch, then timers: each assessment under what the registry and profile say then,
        # which now and then changes.
        for _ in range(data.draw(st.integers(1, 3))):
            if data.draw(st.integers(0, 4)) == 0:
                procedure = data.draw(st.sampled_from(TERMS_AGAIN))
                context = data.draw(st.sampled_from(CONTEXTS_AGAIN))
            if data.draw(st.integers(0, 4)) == 0:
                rules = data.draw(st.sampled_from(RULES_ALL))
                calendar = data.draw(st.sampled_from(CALENDARS))
            turning = [m + d for m in moments for d in (timedelta(0), -timedelta(microseconds=1))]
            now = data.draw(st.sampled_from(turning) | NOWS if turning else NOWS)
            fresh = evaluate(list(stored), procedure, calendar, rules, now, context)
            remembered = evaluate(kept, procedure, calendar, rules, now, context)
            assert as_bytes(remembered) == as_bytes(fresh)
            a = fresh.assessment
            moments = [m for m in (fresh.next_deadline, a.due_at, a.index_due_at) if m is not None]
    assert NOTHING == Findings()  # the shared empty result was only ever read


def test_a_step_event_judges_only_the_control_slip_again(monkeypatch: pytest.MonkeyPatch) -> None:
    d = Dossier()
    d.accepted(at(2025, 3, 3, 8))
    kept = fold_more(None, d.events)
    assert kept is not None
    now = at(2025, 3, 3, 9)
    five = terms(5, WD)
    evaluate(kept, five, CAL, RULES, now, PROCESS)
    judged: list[str] = []

    def counting(name: str) -> object:
        real = getattr(engine, name)

        def judge(*args: object, **kwargs: object) -> object:
            judged.append(name)
            return real(*args, **kwargs)

        return judge

    for name in ("judge_scope", "compute_clocks", "judge_timeliness", "judge_supplements", "slip_basis"):
        monkeypatch.setattr(engine, name, counting(name))
    d.step(at(2025, 3, 3, 10), "B1", "BPMC")
    later = fold_more(kept, d.events[-1:])
    assert later is not None
    after_step = evaluate(later, five, CAL, RULES, now + timedelta(hours=2), PROCESS)
    assert judged == ["slip_basis"]
    assert as_bytes(after_step) == as_bytes(
        evaluate(list(d.events), five, CAL, RULES, now + timedelta(hours=2), PROCESS)
    )
    # A registry change (other terms) judges again what reads them, and only that.
    judged.clear()
    evaluate(later, terms(6, WD), CAL, RULES, now + timedelta(hours=2), PROCESS)
    assert {"judge_scope", "compute_clocks", "judge_timeliness"} <= set(judged)
    assert "slip_basis" not in judged


@pytest.mark.parametrize("timers", [("due_at",), ("index_due_at", "due_at")])
def test_a_timer_at_a_due_moment_turns_the_verdict_as_a_fresh_evaluation_does(
    timers: tuple[str, ...],
) -> None:
    # After an answered supplement request the legal clock restarts and the national-index clock
    # only pauses: the two due moments differ, and each turns the outcome at its own moment.
    d = Dossier()
    d.accepted(at(2025, 3, 3, 8))
    d.supplement_requested(at(2025, 3, 4, 9))
    d.supplement_received(at(2025, 3, 6, 9))
    five = terms(5, WD)
    kept = fold_more(None, d.events)
    assert kept is not None
    first = evaluate(list(d.events), five, CAL, RULES, at(2025, 3, 6, 10), PROCESS).assessment
    assert first.due_at is not None and first.index_due_at is not None
    assert first.index_due_at < first.due_at
    evaluate(kept, five, CAL, RULES, at(2025, 3, 6, 10), PROCESS)
    for name in timers:
        moment = getattr(first, name)
        for now in (moment - timedelta(microseconds=1), moment):
            fresh = evaluate(list(d.events), five, CAL, RULES, now, PROCESS)
            assert as_bytes(evaluate(kept, five, CAL, RULES, now, PROCESS)) == as_bytes(fresh)
    overdue = evaluate(kept, five, CAL, RULES, first.due_at, PROCESS).assessment
    assert overdue.outcome == "pending_overdue"
