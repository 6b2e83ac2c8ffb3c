"""A kept fold remembers which of its events had their dates checked (issue #16: checked once,
not at every assessment): a new event, or a calendar with another date window, is still checked."""

from __future__ import annotations

from datetime import date

import pytest

from services.processing.domain.engine import DateOutOfWindowError, evaluate
from services.processing.domain.history import Fold, fold_more
from shared.calendar import DateWindow, WorkingCalendar
from tests.unit.test_engine_fixtures import RULES, Dossier, at, terms

NOW = at(2025, 6, 1)


def kept(d: Dossier) -> Fold:
    state = fold_more(None, d.events)
    assert state is not None
    return state


def test_an_event_out_of_the_window_added_to_a_checked_fold_is_refused() -> None:
    cal = WorkingCalendar(window=DateWindow(date(2000, 1, 1), date(2026, 12, 31)))
    d = Dossier()
    d.accepted(at(2025, 3, 3, 9))
    state = kept(d)
    evaluate(state, terms(), cal, RULES, NOW)  # its dates checked: inside
    d.step(at(2027, 1, 4, 9), "B1", "BPMC")
    more = fold_more(state, d.events[-1:])
    assert more is not None
    with pytest.raises(DateOutOfWindowError, match="occurred_at 2027-01-04"):
        evaluate(more, terms(), cal, RULES, NOW)
    with pytest.raises(DateOutOfWindowError):  # refused again, not remembered as checked
        evaluate(more, terms(), cal, RULES, NOW)
    with pytest.raises(DateOutOfWindowError):
        evaluate(list(more), terms(), cal, RULES, NOW)


def test_a_new_events_payload_dates_are_checked_too() -> None:
    cal = WorkingCalendar(window=DateWindow(date(2000, 1, 1), date(2026, 12, 31)))
    d = Dossier()
    d.submitted(at(2025, 3, 3, 8))
    state = kept(d)
    evaluate(state, terms(), cal, RULES, NOW)
    d.accepted(at(2025, 3, 3, 9), appointed=at(2027, 3, 3, 9))
    more = fold_more(state, d.events[-1:])
    assert more is not None
    with pytest.raises(DateOutOfWindowError, match="appointed_return_at 2027-03-03"):
        evaluate(more, terms(), cal, RULES, NOW)
    d.apology(at(2025, 3, 4, 9), at(2027, 6, 1, 9))
    again = fold_more(None, [e for e in d.events if e.event_type.value != "dossier.accepted"])
    assert again is not None
    with pytest.raises(DateOutOfWindowError, match="new_appointment_at 2027-06-01"):
        evaluate(again, terms(), cal, RULES, NOW)


def test_a_fold_checked_under_a_wide_window_is_checked_again_under_a_narrower_one() -> None:
    wide = WorkingCalendar(window=DateWindow(date(2000, 1, 1), date(2099, 12, 31)))
    narrow = WorkingCalendar(window=DateWindow(date(2025, 4, 1), date(2026, 12, 31)))
    d = Dossier()
    d.accepted(at(2025, 3, 3, 9))
    d.step(at(2025, 3, 4, 9), "B1", "BPMC")
    state = kept(d)
    evaluate(state, terms(), wide, RULES, NOW)
    with pytest.raises(DateOutOfWindowError, match="occurred_at 2025-03-03"):
        evaluate(state, terms(), narrow, RULES, NOW)
    assert evaluate(state, terms(), wide, RULES, NOW) == evaluate(list(state), terms(), wide, RULES, NOW)
