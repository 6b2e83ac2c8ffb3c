"""Supplement requests: the 3-working-day window, repeats, and the two clock views.

Base case: online, 5 working days, accepted Mon 3 Mar 2025 09:00 → due Mon 10 Mar 09:00; the
supplement window (3 WD) ends Thu 6 Mar 09:00. March 2025 has no holidays.
"""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal

import pytest

from services.processing.domain.engine import ClockRules, next_deadline
from shared.contracts.compliance import Outcome
from tests.unit.test_engine_fixtures import CAL, CD, IN_PERSON, RULES, Dossier, at, codes, only, terms


def base() -> tuple[Dossier, str]:
    d = Dossier()
    return d, d.accepted(at(2025, 3, 3, 9))


@pytest.mark.parametrize(
    ("requested", "late"),
    [
        (at(2025, 3, 5, 9), False),
        (at(2025, 3, 6, 9), False),  # exactly at the end of the window
        (at(2025, 3, 6, 9, 1), True),
        (at(2025, 3, 8, 9), True),  # a Saturday after the window
    ],
)
def test_supplement_window(requested: datetime, late: bool) -> None:
    d, _ = base()
    req = d.supplement_requested(requested)
    a = d.assess(now=at(2025, 3, 20))
    if late:
        nc = only(a, "SUPPLEMENT_LATE")
        assert (nc.clause, nc.detected_at, nc.evidence) == ("8.5.1", requested, (req,))
    else:
        assert "SUPPLEMENT_LATE" not in codes(a)


def test_window_counts_from_the_in_person_transfer_and_across_tet() -> None:
    # In person Fri 24 Jan 2025 16:00 → counts from Mon 3 Feb 07:30; 3 WD → Wed 5 Feb 17:00.
    d = Dossier()
    d.accepted(at(2025, 1, 24, 16), channel=IN_PERSON)
    d.supplement_requested(at(2025, 2, 5, 16, 59))
    assert "SUPPLEMENT_LATE" not in codes(d.assess(now=at(2025, 2, 6)))
    d.supplement_requested(at(2025, 2, 6, 7, 30))
    assert "SUPPLEMENT_LATE" not in codes(d.assess(now=at(2025, 2, 7)))  # only the first is judged


def test_window_is_a_setting() -> None:
    d, _ = base()
    d.supplement_requested(at(2025, 3, 5, 9, 1))  # inside 3 WD, outside 2 WD (Wed 5 Mar 09:00)
    rules = ClockRules(time(15), Decimal(2), Decimal(1))
    assert "SUPPLEMENT_LATE" in codes(d.assess(now=at(2025, 3, 20), rules=rules))


def test_legal_clock_restarts_index_clock_subtracts_the_wait() -> None:
    d, _ = base()
    d.supplement_requested(at(2025, 3, 5, 9))
    d.supplement_received(at(2025, 3, 10, 9))
    a = d.assess(now=at(2025, 3, 10, 10))
    # Legal: 5 WD from Mon 10 Mar 09:00 → Mon 17 Mar 09:00.
    assert a.due_at == at(2025, 3, 17, 9)
    # Index: 2 WD used before the request (Mon 09:00 → Wed 09:00); 3 WD left from Mon 10 Mar 09:00.
    assert a.index_due_at == at(2025, 3, 13, 9)
    assert (a.outcome, a.index_outcome) == (Outcome.PENDING_WITHIN, Outcome.PENDING_WITHIN)
    assert a.nonconformities == ()


@pytest.mark.parametrize(
    ("resolved", "legal", "index"),
    [
        (at(2025, 3, 12, 9), Outcome.EARLY, Outcome.EARLY),
        (at(2025, 3, 13, 9), Outcome.EARLY, Outcome.ON_TIME),
        (at(2025, 3, 14, 10), Outcome.EARLY, Outcome.LATE),
        (at(2025, 3, 17, 9, 30), Outcome.LATE, Outcome.LATE),
    ],
)
def test_outcome_in_both_views(resolved: datetime, legal: Outcome, index: Outcome) -> None:
    d, _ = base()
    d.supplement_requested(at(2025, 3, 5, 9))
    d.supplement_received(at(2025, 3, 10, 9))
    d.resolved(resolved)
    a = d.assess(now=at(2025, 4, 1))
    assert (a.outcome, a.index_outcome) == (legal, index)
    assert ("LATE" in codes(a)) is (legal is Outcome.LATE)  # the index view raises nothing itself


def test_both_clocks_stop_while_waiting() -> None:
    d, _ = base()
    d.supplement_requested(at(2025, 3, 5, 9))
    now = at(2025, 4, 30)  # long past the original due moment
    a = d.assess(now=now)
    assert (a.due_at, a.index_due_at, a.status) == (None, None, 5)
    assert (a.outcome, a.index_outcome) == (Outcome.PENDING_WITHIN, Outcome.PENDING_WITHIN)
    assert a.nonconformities == ()
    assert next_deadline(d.events, terms(), CAL, RULES, now) is None


def test_legal_restart_after_cutoff_in_person() -> None:
    d = Dossier()
    d.accepted(at(2025, 3, 3, 9), channel=IN_PERSON)
    d.supplement_requested(at(2025, 3, 4, 9))
    d.supplement_received(at(2025, 3, 6, 16))  # in person after 15:00 → counts from Fri 7 Mar 07:30
    a = d.assess(now=at(2025, 3, 7))
    assert a.due_at == at(2025, 3, 13, 17)  # Fri, Mon, Tue, Wed, Thu full days
    # Index: Mon 09:00 → Tue 09:00 used (1 WD); 4 WD from Thu 6 Mar 16:00 → 1 h + Fri, Mon, Tue + 7 h Wed.
    assert a.index_due_at == at(2025, 3, 12, 16)


def test_second_request_is_repeated_and_late_in_the_index() -> None:
    d, _ = base()
    r1 = d.supplement_requested(at(2025, 3, 5, 9))
    d.supplement_received(at(2025, 3, 7, 9))
    r2 = d.supplement_requested(at(2025, 3, 10, 9))
    d.supplement_received(at(2025, 3, 11, 9))
    pending = d.assess(now=at(2025, 3, 11, 10))
    assert (pending.outcome, pending.index_outcome) == (Outcome.PENDING_WITHIN, Outcome.PENDING_OVERDUE)
    d.resolved(at(2025, 3, 12, 9))
    a = d.assess(now=at(2025, 4, 1))
    # Legal: restart Tue 11 Mar 09:00 → Tue 18 Mar 09:00. Index: Mon 10 Mar 09:00 + 16 h (first wait)
    # = Wed 12 Mar 09:00, + 8 h (second wait began before that) = Thu 13 Mar 09:00.
    assert (a.due_at, a.index_due_at) == (at(2025, 3, 18, 9), at(2025, 3, 13, 9))
    assert (a.outcome, a.index_outcome) == (Outcome.EARLY, Outcome.LATE)
    rep = only(a, "SUPPLEMENT_REPEATED")
    assert (rep.clause, rep.detected_at, rep.evidence) == ("8.5.1", at(2025, 3, 10, 9), (r1, r2))
    assert "SUPPLEMENT_LATE" not in codes(a)


def test_second_request_while_still_waiting_is_one_pause() -> None:
    d, _ = base()
    d.supplement_requested(at(2025, 3, 5, 9))
    d.supplement_requested(at(2025, 3, 6, 9))
    d.supplement_received(at(2025, 3, 10, 9))
    a = d.assess(now=at(2025, 3, 10, 10))
    assert (a.due_at, a.index_due_at) == (at(2025, 3, 17, 9), at(2025, 3, 13, 9))
    assert codes(a) == ["SUPPLEMENT_REPEATED"]


def test_request_after_the_due_moment_cannot_make_the_index_timely() -> None:
    d, _ = base()
    d.supplement_requested(at(2025, 3, 11, 9))
    d.supplement_received(at(2025, 3, 12, 9))
    d.resolved(at(2025, 3, 13, 9))
    a = d.assess(now=at(2025, 4, 1))
    assert a.due_at == at(2025, 3, 19, 9)  # the legal clock restarts regardless
    assert a.index_due_at == at(2025, 3, 10, 9)  # the wait began after the index due moment
    assert (a.outcome, a.index_outcome) == (Outcome.EARLY, Outcome.LATE)
    assert "SUPPLEMENT_LATE" in codes(a)


def test_resolved_while_still_waiting_freezes_both_clocks() -> None:
    d, _ = base()
    d.supplement_requested(at(2025, 3, 5, 9))
    d.resolved(at(2025, 3, 13, 10))
    a = d.assess(now=at(2025, 4, 1))
    # 3 WD were left at the request; the wait (Wed 09:00 → Thu 13 Mar 10:00, 49 h) is not counted:
    # Mon 10 Mar 09:00 + 49 h → Tue 18 Mar 10:00 in both views.
    assert (a.due_at, a.index_due_at) == (at(2025, 3, 18, 10), at(2025, 3, 18, 10))
    assert (a.outcome, a.index_outcome) == (Outcome.EARLY, Outcome.EARLY)


def test_calendar_day_clock_shifts_by_the_wait() -> None:
    # 10 calendar days from Mon 3 Mar 09:00 → Thu 13 Mar 09:00; a 2-day wait → Sat 15 Mar → Mon 17 Mar 17:00.
    d, _ = base()
    d.supplement_requested(at(2025, 3, 4, 9))
    d.supplement_received(at(2025, 3, 6, 9))
    a = d.assess(now=at(2025, 3, 7), procedure=terms(10, CD))
    assert a.index_due_at == at(2025, 3, 17, 17)
    assert a.due_at == at(2025, 3, 17, 17)  # legal: Thu 6 Mar 09:00 + 10 days = Sun 16 Mar → Mon 17:00


def test_receipt_without_request_is_ignored() -> None:
    d, _ = base()
    d.supplement_received(at(2025, 3, 5, 9))
    a = d.assess(now=at(2025, 3, 5, 10))
    assert (a.due_at, a.index_due_at) == (at(2025, 3, 10, 9), at(2025, 3, 10, 9))
