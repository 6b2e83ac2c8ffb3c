"""Due dates and outcomes: LATE, OVERDUE, APPOINTMENT, units, channels, the in-person cut-off.

Expected moments are counted by hand. Tết 2025: Mon 27 Jan - Sat 1 Feb off; Tết 2024: Thu 8 -
Wed 14 Feb off; Sat 26 Apr 2025 was worked in exchange for Fri 2 May off.
"""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal

import pytest

from services.processing.domain.engine import assess, next_deadline
from shared.calendar import Duration, DurationUnit
from shared.contracts.compliance import Outcome
from shared.contracts.events import Channel
from tests.unit.test_engine_fixtures import (
    CAL,
    CD,
    IN_PERSON,
    MO,
    ONLINE,
    RULES,
    WD,
    WH,
    Dossier,
    at,
    codes,
    only,
    terms,
)

# ---- LATE ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resolved", "outcome"),
    [
        # 5 working days from Mon 3 Mar 09:00 (no holidays) → due Mon 10 Mar 09:00.
        (at(2025, 3, 7, 16), Outcome.EARLY),  # an earlier day than the due day
        (at(2025, 3, 10, 8), Outcome.ON_TIME),  # the due day, before the due moment
        (at(2025, 3, 10, 9), Outcome.ON_TIME),  # exactly at the due moment
        (at(2025, 3, 10, 9, 1), Outcome.LATE),
    ],
)
def test_resolution_is_classified_against_the_due_moment(resolved: datetime, outcome: Outcome) -> None:
    d = Dossier()
    acc = d.accepted(at(2025, 3, 3, 9))
    res = d.resolved(resolved)
    a = d.assess(now=at(2025, 4, 1))
    assert a.due_at == at(2025, 3, 10, 9)
    assert a.outcome is outcome
    assert a.index_outcome is outcome
    if outcome is Outcome.LATE:
        late = only(a, "LATE")
        assert (late.clause, late.detected_at, late.evidence) == ("8.7", at(2025, 3, 10, 9, 1), (acc, res))
    else:
        assert "LATE" not in codes(a)


def test_deadline_crossing_tet_2025() -> None:
    # Wed 22 Jan 10:00 + 5 WD: Thu 23, Fri 24, [25 Jan - 2 Feb off], Mon 3, Tue 4, Wed 5 Feb.
    d = Dossier()
    d.accepted(at(2025, 1, 22, 10))
    d.resolved(at(2025, 2, 5, 10, 30))
    a = d.assess(now=at(2025, 3, 1))
    assert a.due_at == at(2025, 2, 5, 10)
    assert a.outcome is Outcome.LATE
    assert only(a, "LATE").detected_at == at(2025, 2, 5, 10, 30)


def test_deadline_crossing_tet_2024() -> None:
    # Tue 6 Feb 14:00 + 5 WD: Wed 7, [8-14 Feb off], Thu 15, Fri 16, Mon 19, Tue 20 Feb.
    d = Dossier()
    d.accepted(at(2024, 2, 6, 14), channel=IN_PERSON)
    d.resolved(at(2024, 2, 19, 16))
    a = d.assess(now=at(2024, 3, 1))
    assert a.due_at == at(2024, 2, 20, 14)
    assert a.outcome is Outcome.EARLY


def test_deadline_on_a_swapped_working_saturday() -> None:
    # Fri 25 Apr 2025 09:00 + 1 WD = Sat 26 Apr 09:00 (a working Saturday).
    d = Dossier()
    d.accepted(at(2025, 4, 25, 9))
    d.resolved(at(2025, 4, 28, 8))
    a = d.assess(now=at(2025, 5, 10), procedure=terms(1))
    assert a.due_at == at(2025, 4, 26, 9)
    assert a.outcome is Outcome.LATE


def test_deadline_across_the_swapped_day_off() -> None:
    # Thu 24 Apr 10:00 + 5 WD: Fri 25, Sat 26 (worked), Mon 28, Tue 29, [30/4, 1/5, Fri 2/5 off], Mon 5 May.
    d = Dossier()
    d.accepted(at(2025, 4, 24, 10))
    d.resolved(at(2025, 5, 2, 10))  # on the swapped day off: still an earlier day
    a = d.assess(now=at(2025, 6, 1))
    assert a.due_at == at(2025, 5, 5, 10)
    assert a.outcome is Outcome.EARLY


# ---- in-person cut-off -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "accepted", "due"),
    [
        # Online at 15:30: 1.5 h Mon + 8 h Tue + 4 h + 2.5 h Wed = 16 h → Wed 15:30.
        (ONLINE, at(2025, 3, 3, 15, 30), at(2025, 3, 5, 15, 30)),
        # In person after 15:00: counts from Tue 07:30 → two full days → Wed 17:00.
        (IN_PERSON, at(2025, 3, 3, 15, 30), at(2025, 3, 5, 17)),
        (IN_PERSON, at(2025, 3, 3, 15, 0), at(2025, 3, 5, 17)),  # at the cut-off counts as after
        (IN_PERSON, at(2025, 3, 3, 14, 59), at(2025, 3, 5, 14, 59)),
        # Fri 24 Jan 2025 16:00 in person → Mon 3 Feb 07:30 (Tết) → 2 WD → Tue 4 Feb 17:00.
        (IN_PERSON, at(2025, 1, 24, 16), at(2025, 2, 4, 17)),
    ],
)
def test_in_person_after_cutoff_counts_from_next_working_day(
    channel: Channel, accepted: datetime, due: datetime
) -> None:
    d = Dossier()
    d.accepted(accepted, channel=channel)
    a = d.assess(now=at(2025, 1, 1), procedure=terms(2))
    assert a.due_at == due
    assert a.index_due_at == due


def test_procedure_cutoff_overrides_the_general_one() -> None:
    d = Dossier()
    d.accepted(at(2025, 3, 3, 15, 30), channel=IN_PERSON)
    a = d.assess(now=at(2025, 3, 1), procedure=terms(2, in_person_cutoff=time(16, 0)))
    assert a.due_at == at(2025, 3, 5, 15, 30)


# ---- units and channels -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "accepted", "due"),
    [
        (4, WH, at(2025, 3, 3, 10), at(2025, 3, 3, 15, 30)),  # 1.5 h + lunch + 2.5 h
        ("0.5", WD, at(2025, 3, 3, 9), at(2025, 3, 3, 14, 30)),
        (15, CD, at(2025, 3, 3, 9), at(2025, 3, 18, 9)),
        (5, CD, at(2025, 3, 3, 9), at(2025, 3, 10, 17)),  # Sat 8 Mar is off → end of Mon 10 Mar
        (1, MO, at(2025, 1, 10, 9), at(2025, 2, 10, 9)),
        (1, MO, at(2024, 12, 30, 9), at(2025, 2, 3, 17)),  # 30 Jan 2025 is Tết → end of Mon 3 Feb
    ],
)
def test_statutory_time_units(
    value: int | str, unit: DurationUnit, accepted: datetime, due: datetime
) -> None:
    d = Dossier()
    d.accepted(accepted)
    a = d.assess(now=at(2024, 1, 1), procedure=terms(value, unit))
    assert a.due_at == due


def test_channel_variant_of_the_statutory_time() -> None:
    procedure = terms(5, channel_times={ONLINE: Duration(Decimal(3), WD)})
    online, in_person = Dossier("0001"), Dossier("0002")
    online.accepted(at(2025, 3, 3, 9), channel=ONLINE)
    in_person.accepted(at(2025, 3, 3, 9), channel=IN_PERSON)
    assert online.assess(at(2025, 3, 1), procedure).due_at == at(2025, 3, 6, 9)
    assert in_person.assess(at(2025, 3, 1), procedure).due_at == at(2025, 3, 10, 9)


# ---- OVERDUE (timer) ----------------------------------------------------------------------------


def test_overdue_is_raised_at_the_due_moment_with_no_event() -> None:
    d = Dossier()
    acc = d.accepted(at(2025, 1, 22, 10))
    before = d.assess(now=at(2025, 2, 5, 9, 59))
    assert before.outcome is Outcome.PENDING_WITHIN
    assert "OVERDUE" not in codes(before)
    after = d.assess(now=at(2025, 2, 5, 10))
    assert after.outcome is Outcome.PENDING_OVERDUE
    assert after.index_outcome is Outcome.PENDING_OVERDUE
    overdue = only(after, "OVERDUE")
    assert (overdue.clause, overdue.detected_at, overdue.evidence) == ("9.1", at(2025, 2, 5, 10), (acc,))
    # The detection moment is the due moment, whenever the timer actually ran.
    assert only(d.assess(now=at(2025, 3, 1)), "OVERDUE").detected_at == at(2025, 2, 5, 10)


def test_next_deadline_is_the_apology_deadline_then_the_due_moment() -> None:
    d = Dossier()
    d.accepted(at(2025, 1, 22, 10))  # due Wed 5 Feb 10:00; 1 WD before: Tue 4 Feb 10:00
    args = (d.events, terms(), CAL, RULES)
    assert next_deadline(*args, at(2025, 1, 23)) == at(2025, 2, 4, 10)
    assert next_deadline(*args, at(2025, 2, 4, 10)) == at(2025, 2, 5, 10)
    assert next_deadline(*args, at(2025, 2, 5, 10)) is None
    d.resolved(at(2025, 1, 30))
    assert next_deadline(d.events, terms(), CAL, RULES, at(2025, 1, 23)) is None


# ---- APPOINTMENT ---------------------------------------------------------------------------------


def test_appointment_later_than_the_due_day() -> None:
    d = Dossier()
    acc = d.accepted(at(2025, 3, 3, 9), appointed=at(2025, 3, 11, 8))
    a = d.assess(now=at(2025, 3, 3, 10))
    nc = only(a, "APPOINTMENT")
    assert (nc.clause, nc.detected_at, nc.evidence) == ("8.5.1", at(2025, 3, 3, 9), (acc,))


def test_appointment_on_the_due_day_is_fine() -> None:
    # Due Mon 10 Mar 09:00; an appointment that afternoon is the same day (ngày hẹn trả is a date).
    d = Dossier()
    d.accepted(at(2025, 3, 3, 9), appointed=at(2025, 3, 10, 16))
    assert "APPOINTMENT" not in codes(d.assess(now=at(2025, 3, 3, 10)))


def test_appointment_is_judged_against_the_statutory_due_before_any_supplement() -> None:
    d = Dossier()
    d.accepted(at(2025, 3, 3, 9), appointed=at(2025, 3, 12, 9))
    d.supplement_requested(at(2025, 3, 4, 9))
    d.supplement_received(at(2025, 3, 6, 9))
    a = d.assess(now=at(2025, 3, 7))
    assert a.due_at == at(2025, 3, 13, 9)  # restarted, yet the receipt promised too late a date
    assert "APPOINTMENT" in codes(a)


# ---- terminal states, unknown procedure ------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "outcome", "status"),
    [
        ("withdrawn", Outcome.WITHDRAWN, 7),
        ("stopped", Outcome.STOPPED, 8),
        ("not_accepted", Outcome.NOT_ACCEPTED, 3),
    ],
)
def test_closing_without_resolution(kind: str, outcome: Outcome, status: int) -> None:
    d = Dossier()
    if kind != "not_accepted":
        d.accepted(at(2025, 3, 3, 9))
    getattr(d, kind)(at(2025, 3, 20, 9))  # after the due moment: still no OVERDUE
    a = d.assess(now=at(2025, 4, 1))
    assert (a.outcome, a.index_outcome, a.status) == (outcome, outcome, status)
    assert a.closed_at == at(2025, 3, 20, 9)
    assert a.nonconformities == ()


def test_unknown_procedure_is_out_of_scope_and_kept() -> None:
    d = Dossier()
    sub = d.submitted(at(2025, 3, 3, 8))
    d.accepted(at(2025, 3, 3, 9))
    a = assess(d.events, None, CAL, RULES, at(2025, 4, 1))
    nc = only(a, "OUT_OF_SCOPE")
    assert (nc.clause, nc.detected_at, nc.evidence) == ("8.5.1", at(2025, 3, 3, 8), (sub,))
    assert a.in_scope is False
    assert (a.due_at, a.outcome, a.status) == (None, None, 2)


def test_processing_time_in_working_days() -> None:
    d = Dossier()
    d.accepted(at(2025, 3, 3, 9))
    d.resolved(at(2025, 3, 5, 13))  # 6.5 h + 8 h + 4 h = 18.5 h = 2.3125 days
    assert d.assess(now=at(2025, 4, 1)).processing_working_days == 2.3125
