"""The incremental fold (issue #16): a dossier folded batch by batch, as processing does it,
has exactly the facts and the assessment of the one-shot fold of all of its events.

Processing keeps each dossier's :class:`Fold` between batches and folds only the new events
onto it (:func:`fold_more`); when one of them is older than the last folded event it folds the
dossier again from every event it has. Any order, any duplication, any cut into batches.
"""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from services.processing.adapters.folds import FoldStore
from services.processing.domain.engine import ProcedureTerms, ProcessContext, evaluate
from services.processing.domain.history import Fold, fold, fold_more
from services.processing.domain.inputs import ClockStop
from shared.contracts.events import DossierEvent, occurred_order
from tests.unit.test_engine_fixtures import CAL, RULES, Dossier, at
from tests.unit.test_engine_properties import CONTEXTS, NOWS, TERMS, dossiers


def batches(events: list[DossierEvent], cuts: list[int]) -> list[list[DossierEvent]]:
    bounds = sorted({min(c, len(events)) for c in cuts} | {0, len(events)})
    return [events[a:b] for a, b in pairwise(bounds)]


def fold_as_processing_does(parts: list[list[DossierEvent]]) -> tuple[Fold, int]:
    """Batch by batch: continue the kept fold, or fold again from everything so far; (fold, re-folds)."""
    kept: Fold | None = None
    stored: list[DossierEvent] = []
    again = 0
    for part in parts:
        stored.extend(part)
        continued = fold_more(kept, part) if kept is not None else None
        if continued is None:
            again += kept is not None
            continued = fold_more(None, stored)
        kept = continued
    assert kept is not None
    return kept, again


@settings(max_examples=120, deadline=None)
@given(
    events=dossiers(),
    data=st.data(),
    procedure=st.sampled_from(TERMS),
    context=st.sampled_from(CONTEXTS),
    now=NOWS,
)
def test_folding_batch_by_batch_equals_folding_everything_at_once(
    events: list[DossierEvent],
    data: st.DataObject,
    procedure: ProcedureTerms | None,
    context: ProcessContext | None,
    now: datetime,
) -> None:
    duplicates = data.draw(st.lists(st.sampled_from(events), max_size=6))
    arrival = data.draw(st.permutations(events + duplicates))
    cuts = data.draw(st.lists(st.integers(0, len(arrival)), max_size=6))
    state, _ = fold_as_processing_does(batches(arrival, cuts))
    for stop in ClockStop:
        assert state.history(stop) == fold(events, stop)
    expected = evaluate(events, procedure, CAL, RULES, now, context)
    assert evaluate(state, procedure, CAL, RULES, now, context) == expected


@settings(max_examples=60, deadline=None)
@given(events=dossiers(), cuts=st.lists(st.integers(0, 20), max_size=6))
def test_events_in_order_are_never_folded_again(events: list[DossierEvent], cuts: list[int]) -> None:
    in_order = sorted(events, key=occurred_order)
    state, again = fold_as_processing_does(batches(in_order, cuts))
    assert again == 0
    assert state.history() == fold(events)


def test_an_event_older_than_the_last_folded_one_asks_for_a_full_fold() -> None:
    d = Dossier()
    d.accepted(at(2025, 3, 3, 8))
    d.resolved(at(2025, 3, 5, 8))
    kept = fold_more(None, d.events[1:])  # the resolution first
    assert kept is not None
    assert fold_more(kept, d.events[:1]) is None  # the acceptance is older: fold again
    assert fold_more(kept, d.events[1:]) is kept  # a copy of a folded event changes nothing


def test_the_fold_store_keeps_a_fold_only_for_the_token_it_was_stored_with() -> None:
    d = Dossier()
    d.accepted(at(2025, 3, 3, 8))
    state = fold_more(None, d.events)
    assert state is not None
    store = FoldStore(max_events=2)
    store.put("A", 11, state)
    assert store.get("A", 11) is state
    assert store.get("A", 12) is None  # another transaction or replica stored the dossier since
    assert store.get("A", None) is None  # no assessment stored (e.g. the transaction rolled back)
    store.put("B", 1, state)
    store.get("A", 11)  # A used last: B goes first
    store.put("C", 1, state)
    assert len(store) == 2 and store.get("B", 1) is None and store.get("A", 11) is state


def open_fold(serial: str, events: int) -> Fold:
    """An open dossier's fold of ``events`` events: accepted, then steps."""
    d = Dossier(serial)
    d.accepted(at(2025, 3, 3, 8))
    for i in range(events - 1):
        d.step(at(2025, 3, 3, 9 + i % 8), f"B{i}", "UBND")
    state = fold_more(None, d.events)
    assert state is not None and len(state) == events
    return state


def test_the_fold_store_is_bounded_by_the_events_its_folds_hold_not_by_dossiers() -> None:
    store = FoldStore(max_events=10)
    store.put("A", 1, open_fold("0001", 4))
    store.put("B", 1, open_fold("0002", 4))
    assert (len(store), store.events) == (2, 8)
    store.get("A", 1)  # A used last: B goes first
    store.put("C", 1, open_fold("0003", 3))  # 11 events: B out
    assert (len(store), store.events) == (2, 7)
    assert store.get("B", 1) is None and store.get("A", 1) is not None and store.get("C", 1) is not None
    # a dossier's fold put again (a new batch) counts once, with its new size
    store.put("A", 2, open_fold("0001", 6))  # 6 + 3 = 9 events
    assert (len(store), store.events) == (2, 9)
    # many small folds: as many dossiers as the budget's events allows, whatever their count
    many = FoldStore(max_events=10)
    for i in range(25):
        many.put(f"D{i}", 1, open_fold("0004", 1))
    assert (len(many), many.events) == (10, 10)
    assert [many.get(f"D{i}", 1) is not None for i in range(25)] == [False] * 15 + [True] * 10


def test_a_fold_alone_above_the_budget_is_not_kept_and_evicts_nothing() -> None:
    store = FoldStore(max_events=5)
    store.put("A", 1, open_fold("0001", 2))
    store.put("B", 1, open_fold("0002", 6))
    assert store.get("B", 1) is None
    assert store.get("A", 1) is not None and (len(store), store.events) == (1, 2)
    # a kept dossier that grew past the budget goes out, its events with it
    store.put("A", 2, open_fold("0001", 7))
    assert store.get("A", 2) is None and (len(store), store.events) == (0, 0)


def test_discarded_and_finished_folds_give_back_their_events() -> None:
    store = FoldStore(max_events=100)
    store.put("A", 1, open_fold("0001", 5))
    store.put("B", 1, open_fold("0002", 3))
    store.discard("A")
    store.discard("nobody")
    assert (len(store), store.events) == (1, 3)
    d = Dossier("0002")
    d.accepted(at(2025, 3, 3, 8))
    d.resolved(at(2025, 3, 4, 8))
    d.returned(at(2025, 3, 4, 9))
    done = fold_more(None, d.events)
    assert done is not None and done.finished
    store.put("B", 2, done)  # finished: nothing more will come, not kept
    assert (len(store), store.events) == (0, 0)
    assert FoldStore(max_events=0).events == 0
