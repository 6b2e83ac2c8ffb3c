"""Impossible orders give a data-quality finding instead of an outcome (issue #12), and the
status never moves backwards once a dossier is closed (issue #17 item 3).

Dates on the real Vietnamese calendar; 5 working days from Mon 10 Mar 2025.
"""

from __future__ import annotations

import pytest

from shared.contracts.compliance import Outcome
from tests.unit.test_engine_fixtures import Dossier, at, codes, only


def test_resolved_before_accepted_has_no_outcome_and_no_processing_days() -> None:
    d = Dossier()
    accepted = d.accepted(at(2025, 3, 10, 9))
    resolved = d.resolved(at(2025, 3, 7, 9))  # the Friday before
    a = d.assess(at(2025, 3, 20, 9))
    # Before: outcome EARLY and processing_working_days 0.0; now nothing is claimed about timeliness.
    assert (a.outcome, a.index_outcome, a.processing_working_days) == (None, None, None)
    finding = only(a, "IMPOSSIBLE_ORDER")
    assert finding.evidence == (accepted, resolved)
    assert finding.detected_at == at(2025, 3, 10, 9)
    assert finding.clause == "9.1"
    assert "giải quyết trước khi tiếp nhận" in finding.detail
    assert codes(a) == ["IMPOSSIBLE_ORDER"]


def test_returned_before_resolved_is_impossible_too() -> None:
    d = Dossier()
    d.accepted(at(2025, 3, 10, 9))
    returned = d.returned(at(2025, 3, 11, 9))
    resolved = d.resolved(at(2025, 3, 12, 9))
    a = d.assess(at(2025, 3, 20, 9))
    assert a.outcome is None
    finding = only(a, "IMPOSSIBLE_ORDER")
    assert finding.evidence == (resolved, returned)
    assert "trả kết quả trước khi giải quyết" in finding.detail


def test_returned_before_accepted_without_resolution_is_impossible() -> None:
    d = Dossier()
    accepted = d.accepted(at(2025, 3, 10, 9))
    returned = d.returned(at(2025, 3, 9, 9))
    a = d.assess(at(2025, 3, 11, 9))
    assert only(a, "IMPOSSIBLE_ORDER").evidence == (accepted, returned)
    assert a.outcome is None


def test_an_impossible_late_dossier_is_not_counted_late_nor_overdue() -> None:
    d = Dossier()
    d.accepted(at(2025, 3, 10, 9))
    d.returned(at(2025, 3, 9, 9))
    # Now is far past the due moment (Mon 17 Mar 09:00): no OVERDUE, no APOLOGY_MISSING.
    a = d.assess(at(2025, 4, 30, 9))
    assert codes(a) == ["IMPOSSIBLE_ORDER"]


def test_a_possible_order_is_judged_as_before() -> None:
    d = Dossier()
    d.accepted(at(2025, 3, 10, 9))
    d.resolved(at(2025, 3, 14, 9))
    d.returned(at(2025, 3, 14, 9))  # same moment: possible
    a = d.assess(at(2025, 3, 20, 9))
    assert a.outcome is Outcome.EARLY
    assert a.processing_working_days == 4.0
    assert codes(a) == []


@pytest.mark.parametrize("late_kind", ["step", "supplement_requested", "supplement_received", "withdrawn"])
def test_events_after_the_resolution_never_move_the_status_backwards(late_kind: str) -> None:
    d = Dossier()
    d.accepted(at(2025, 3, 10, 9))
    d.resolved(at(2025, 3, 12, 9))
    if late_kind == "step":
        d.step(at(2025, 3, 13, 9), "B1", "BPMC")
    else:
        getattr(d, late_kind)(at(2025, 3, 13, 9))
    a = d.assess(at(2025, 3, 20, 9))
    assert a.status == 9  # Đã xử lý xong, not back to 4 (Đang xử lý) or 5/7
    d.returned(at(2025, 3, 14, 9))
    d.step(at(2025, 3, 15, 9), "B2", "PTP")
    assert d.assess(at(2025, 3, 20, 9)).status == 10  # returning still moves it forward


def test_the_status_still_follows_the_events_while_open() -> None:
    d = Dossier()
    d.accepted(at(2025, 3, 10, 9))
    d.supplement_requested(at(2025, 3, 11, 9))
    assert d.assess(at(2025, 3, 11, 10)).status == 5
    d.supplement_received(at(2025, 3, 12, 9))
    assert d.assess(at(2025, 3, 12, 10)).status == 4
