"""Apologies (phiếu xin lỗi và hẹn lại ngày trả): APOLOGY_MISSING and APOLOGY_LATE.

Base case: online, 5 working days, accepted Mon 3 Mar 2025 09:00 → due Mon 10 Mar 09:00; with a
lead of 1 working day the apology deadline is Fri 7 Mar 09:00.
"""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal

import pytest

from services.processing.domain.engine import ClockRules, next_deadline
from shared.contracts.compliance import Outcome
from tests.unit.test_engine_fixtures import CAL, RULES, Dossier, at, codes, only, terms


def base() -> tuple[Dossier, str]:
    d = Dossier()
    return d, d.accepted(at(2025, 3, 3, 9))


@pytest.mark.parametrize(
    ("issued", "verdict"),
    [
        (at(2025, 3, 6, 15), None),
        (at(2025, 3, 7, 9), None),  # exactly one working day before the due moment
        (at(2025, 3, 7, 9, 1), "APOLOGY_LATE"),
        (at(2025, 3, 10, 8), "APOLOGY_LATE"),
    ],
)
def test_apology_for_a_late_dossier(issued: datetime, verdict: str | None) -> None:
    d, _ = base()
    apo = d.apology(issued, new_date=at(2025, 3, 14, 9))
    d.resolved(at(2025, 3, 12, 9))
    a = d.assess(now=at(2025, 4, 1))
    assert a.outcome is Outcome.LATE  # an apology does not move the statutory due moment
    apology_codes = [c for c in codes(a) if c.startswith("APOLOGY")]
    if verdict is None:
        assert apology_codes == []
    else:
        nc = only(a, verdict)
        assert apology_codes == [verdict]
        assert (nc.clause, nc.detected_at, nc.evidence) == ("8.7", issued, (apo,))


def test_late_dossier_without_apology() -> None:
    d, acc = base()
    res = d.resolved(at(2025, 3, 12, 9))
    nc = only(d.assess(now=at(2025, 4, 1)), "APOLOGY_MISSING")
    assert (nc.clause, nc.detected_at, nc.evidence) == ("8.7", at(2025, 3, 7, 9), (acc, res))


def test_dossier_resolved_in_time_needs_no_apology() -> None:
    d, _ = base()
    d.apology(at(2025, 3, 7, 10), new_date=at(2025, 3, 12, 9))  # late, but it was not needed
    d.resolved(at(2025, 3, 10, 8))
    assert d.assess(now=at(2025, 4, 1)).nonconformities == ()


def test_open_dossier_at_the_apology_deadline_is_heading_for_lateness() -> None:
    d, acc = base()
    assert d.assess(now=at(2025, 3, 7, 8, 59)).nonconformities == ()
    assert next_deadline(d.events, terms(), CAL, RULES, at(2025, 3, 7, 8, 59)) == at(2025, 3, 7, 9)
    a = d.assess(now=at(2025, 3, 7, 9))
    nc = only(a, "APOLOGY_MISSING")
    assert (nc.detected_at, nc.evidence) == (at(2025, 3, 7, 9), (acc,))
    assert a.outcome is Outcome.PENDING_WITHIN
    assert next_deadline(d.events, terms(), CAL, RULES, at(2025, 3, 7, 9)) == at(2025, 3, 10, 9)
    # Resolved by the due moment after all: it was not heading for lateness.
    d.resolved(at(2025, 3, 10, 8, 30))
    assert d.assess(now=at(2025, 3, 10, 9)).nonconformities == ()


def test_open_dossier_with_a_timely_apology() -> None:
    d, _ = base()
    d.apology(at(2025, 3, 6, 10), new_date=at(2025, 3, 13, 9))
    assert next_deadline(d.events, terms(), CAL, RULES, at(2025, 3, 6, 11)) == at(2025, 3, 10, 9)
    assert codes(d.assess(now=at(2025, 3, 11))) == ["OVERDUE"]


def test_apology_deadline_across_tet_2025() -> None:
    # Wed 22 Jan 10:00 + 3 WD → Mon 3 Feb 10:00; one WD back: 2.5 h Mon + 5.5 h of Fri 24 Jan → 10:00.
    d = Dossier()
    d.accepted(at(2025, 1, 22, 10))
    d.apology(at(2025, 1, 25, 9), new_date=at(2025, 2, 5, 9))  # during the Tết break: too late
    d.resolved(at(2025, 2, 4, 9))
    a = d.assess(now=at(2025, 3, 1), procedure=terms(3))
    assert a.due_at == at(2025, 2, 3, 10)
    assert only(a, "APOLOGY_LATE").detected_at == at(2025, 1, 25, 9)
    d2 = Dossier()
    d2.accepted(at(2025, 1, 22, 10))
    d2.resolved(at(2025, 2, 4, 9))
    assert only(d2.assess(now=at(2025, 3, 1), procedure=terms(3)), "APOLOGY_MISSING").detected_at == at(
        2025, 1, 24, 10
    )


def test_apology_deadline_before_a_due_on_a_swapped_saturday() -> None:
    # Mon 21 Apr 2025 10:00 + 5 WD → Sat 26 Apr 10:00 (worked); one WD back → Fri 25 Apr 10:00.
    d = Dossier()
    d.accepted(at(2025, 4, 21, 10))
    d.resolved(at(2025, 4, 28, 9))
    a = d.assess(now=at(2025, 5, 10))
    assert a.due_at == at(2025, 4, 26, 10)
    assert only(a, "APOLOGY_MISSING").detected_at == at(2025, 4, 25, 10)


def test_apology_lead_is_a_setting() -> None:
    d, _ = base()
    d.apology(at(2025, 3, 6, 9, 30), new_date=at(2025, 3, 13, 9))
    d.resolved(at(2025, 3, 12, 9))
    rules = ClockRules(time(15), Decimal(3), Decimal(2))  # deadline Thu 6 Mar 09:00
    assert only(d.assess(now=at(2025, 4, 1), rules=rules), "APOLOGY_LATE").detected_at == at(
        2025, 3, 6, 9, 30
    )


def test_return_date_may_be_reset_only_once() -> None:
    d, _ = base()
    first = d.apology(at(2025, 3, 6, 9), new_date=at(2025, 3, 12, 9))
    second = d.apology(at(2025, 3, 11, 9), new_date=at(2025, 3, 14, 9))
    d.resolved(at(2025, 3, 14, 9))
    a = d.assess(now=at(2025, 4, 1))
    nc = only(a, "APOLOGY_LATE")
    assert (nc.detected_at, nc.evidence) == (at(2025, 3, 11, 9), (first, second))
    assert "reset 2 times" in nc.detail
    allowing_two = ClockRules(time(15), Decimal(3), Decimal(1), apology_resets_allowed=2)
    assert "APOLOGY_LATE" not in codes(d.assess(now=at(2025, 4, 1), rules=allowing_two))


def test_apology_is_judged_against_the_restarted_legal_due() -> None:
    d, _ = base()
    d.supplement_requested(at(2025, 3, 4, 9))
    d.supplement_received(at(2025, 3, 6, 9))  # legal due → Thu 13 Mar 09:00; deadline Wed 12 Mar 09:00
    d.apology(at(2025, 3, 11, 9), new_date=at(2025, 3, 17, 9))
    d.resolved(at(2025, 3, 14, 9))
    a = d.assess(now=at(2025, 4, 1))
    assert a.outcome is Outcome.LATE
    assert not [c for c in codes(a) if c.startswith("APOLOGY")]
