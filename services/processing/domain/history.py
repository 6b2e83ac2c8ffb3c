"""A dossier's history: its events deduplicated, ordered by occurrence and folded into facts.

The fold is incremental: a :class:`Fold` kept between batches is continued with the new events
only (:func:`fold_more`); an event older than the last folded one makes the caller fold the
dossier again from all of its events. Either way the facts are those of :func:`fold`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import overload

from services.processing.domain.inputs import ClockStop
from shared.calendar import DateWindow, WorkingCalendar
from shared.contracts.events import (
    Channel,
    DossierAccepted,
    DossierApologyIssued,
    DossierEvent,
    DossierNotAccepted,
    DossierResolved,
    DossierResultReturned,
    DossierStepCompleted,
    DossierStopped,
    DossierSubmitted,
    DossierSupplementReceived,
    DossierSupplementRequested,
    DossierWithdrawn,
    EventType,
    occurred_order,
)

# TrangThaiHoSo of the national portal reached by each event type; None keeps the previous.
_STATUS: dict[EventType, int | None] = {
    EventType.SUBMITTED: 1,
    EventType.ACCEPTED: 2,
    EventType.NOT_ACCEPTED: 3,
    EventType.STEP_COMPLETED: 4,
    EventType.SUPPLEMENT_REQUESTED: 5,
    EventType.SUPPLEMENT_RECEIVED: 4,
    EventType.FEE_REQUESTED: 6,
    EventType.FEE_PAID: 4,
    EventType.WITHDRAWN: 7,
    EventType.STOPPED: 8,
    EventType.RESOLVED: 9,
    EventType.RESULT_RETURNED: 10,
    EventType.APOLOGY_ISSUED: None,
}

_CLOSED = frozenset({3, 7, 8, 9, 10})
_FINISHED = frozenset({3, 7, 8, 10})  # closed, and not waiting for the hand-over of the result

Terminal = DossierNotAccepted | DossierWithdrawn | DossierStopped


def dedupe_and_order(events: Iterable[DossierEvent]) -> list[DossierEvent]:
    """Distinct by ``event_id``, ordered by ``occurred_at`` (ties by event id).

    Copies of one id are normally identical; if they are not, the one with the smallest JSON
    wins, so the choice does not depend on arrival order.
    """
    seen: dict[str, DossierEvent] = {}
    for e in events:
        kept = seen.setdefault(e.event_id, e)
        if kept is not e and kept != e and e.model_dump_json() < kept.model_dump_json():
            seen[e.event_id] = e
    return sorted(seen.values(), key=occurred_order)


@dataclass(slots=True)  # never changed once built; not frozen: a frozen init costs 7× on the hot path
class SupplementPause:
    """Chờ bổ sung: from a supplement request until the complete dossier arrives."""

    requested: DossierSupplementRequested
    received: DossierSupplementReceived | None  # None while still waiting

    @property
    def start(self) -> datetime:
        return self.requested.occurred_at

    @property
    def end(self) -> datetime | None:
        return self.received.occurred_at if self.received is not None else None


@dataclass(slots=True)  # never changed once built; not frozen: a frozen init costs 7× on the hot path
class DossierHistory:
    """The facts of one dossier that the rules read, from its ordered events."""

    events: tuple[DossierEvent, ...]
    status: int
    channel: Channel | None
    submitted: DossierSubmitted | None
    accepted: DossierAccepted | None
    resolved: DossierResolved | DossierResultReturned | None  # the event that stops the clock
    returned: DossierResultReturned | None
    resolution: DossierResolved | None  # the dossier.resolved event itself, whatever stops the clock
    terminal: Terminal | None  # the first of not_accepted / withdrawn / stopped
    supplement_requests: tuple[DossierSupplementRequested, ...]
    pauses: tuple[SupplementPause, ...]
    apologies: tuple[DossierApologyIssued, ...]
    steps: tuple[DossierStepCompleted, ...]

    @property
    def first(self) -> DossierEvent:
        return self.events[0]

    @property
    def closed_at(self) -> datetime | None:
        """When it left processing: resolved, or else refused, withdrawn or stopped."""
        if self.resolved is not None:
            return self.resolved.occurred_at
        if self.terminal is not None:
            return self.terminal.occurred_at
        return None


@dataclass(slots=True)  # never changed once built; not frozen: a frozen init costs 4× on the hot path
class Fold(Sequence[DossierEvent]):
    """A dossier's events folded so far, in order (trạng thái gộp): what the engine needs to go on.

    It is the sequence of the dossier's distinct events in occurrence order, so it can be given
    wherever the events are expected (:func:`fold` of it is its :meth:`history`, at no cost).

    Continued by :func:`fold_more` with the events that come after it, so a batch folds only its
    new events; :meth:`history` gives the facts the rules read, the same as :func:`fold` of every
    event. ``resolution`` and ``returned`` are both kept: which of them stops the clock is the
    legal profile's choice, made when the history is read, so no registry change calls for a re-fold.
    """

    events: tuple[DossierEvent, ...]
    ids: frozenset[str]
    status: int
    submitted: DossierSubmitted | None
    accepted: DossierAccepted | None
    resolution: DossierResolved | None
    returned: DossierResultReturned | None
    terminal: Terminal | None
    requests: tuple[DossierSupplementRequested, ...]
    pauses: tuple[SupplementPause, ...]  # the closed ones
    waiting: DossierSupplementRequested | None
    apologies: tuple[DossierApologyIssued, ...]
    steps: tuple[DossierStepCompleted, ...]
    last: tuple[float, str] = (float("-inf"), "")  # occurred_order of the last folded event
    # How many of ``events`` (a prefix: later events are only appended) had their dates checked
    # against the window ``checked_in`` (:meth:`check_dates`): a memo, not part of the facts.
    checked: int = field(default=0, compare=False, repr=False)
    checked_in: DateWindow | None = field(default=None, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.events)

    @overload
    def __getitem__(self, index: int) -> DossierEvent: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[DossierEvent]: ...
    def __getitem__(self, index: int | slice) -> DossierEvent | Sequence[DossierEvent]:
        return self.events[index]

    def __iter__(self) -> Iterator[DossierEvent]:
        return iter(self.events)

    def check_dates(self, window: DateWindow) -> None:
        """:func:`check_dates` of its events, each event checked once per window (memoised)."""
        done = self.checked if self.checked_in is window or self.checked_in == window else 0
        if done < len(self.events):
            _check_events(self.events[done:] if done else self.events, window)
            self.checked, self.checked_in = len(self.events), window

    @property
    def finished(self) -> bool:
        """Its result handed over, or refused, withdrawn or stopped: few events follow, if any."""
        return self.status in _FINISHED

    def history(self, clock_stop: ClockStop = ClockStop.RESOLVED) -> DossierHistory:
        """The facts of the dossier; ``resolved`` is the first event of the ``clock_stop`` kind."""
        accepted, submitted = self.accepted, self.submitted
        channel = accepted.payload.channel if accepted else submitted.payload.channel if submitted else None
        pauses = self.pauses if self.waiting is None else (*self.pauses, SupplementPause(self.waiting, None))
        return DossierHistory(
            events=self.events,
            status=self.status,
            channel=channel,
            submitted=submitted,
            accepted=accepted,
            resolved=self.returned if clock_stop is ClockStop.RESULT_RETURNED else self.resolution,
            returned=self.returned,
            resolution=self.resolution,
            terminal=self.terminal,
            supplement_requests=self.requests,
            pauses=pauses,
            apologies=self.apologies,
            steps=self.steps,
        )


_EMPTY = Fold((), frozenset(), 1, None, None, None, None, None, (), (), None, (), ())


def fold_more(state: Fold | None, events: Iterable[DossierEvent]) -> Fold | None:
    """``state`` continued with ``events`` (any order, duplicates allowed); None if it cannot be.

    Events already folded (same id) are skipped. None when one of the new events occurred before
    the last folded one: the dossier must then be folded again from all of its events
    (``fold_more(None, all_events)``, None only if there are none).
    """
    base = state if state is not None else _EMPTY
    incoming = events if isinstance(events, list | tuple) and len(events) == 1 else dedupe_and_order(events)
    fresh = [e for e in incoming if e.event_id not in base.ids]
    if not fresh:
        return base if state is not None else None
    if occurred_order(fresh[0]) < base.last:
        return None
    status = base.status
    submitted, accepted = base.submitted, base.accepted
    resolution, returned, terminal = base.resolution, base.returned, base.terminal
    requests, pauses, waiting = list(base.requests), list(base.pauses), base.waiting
    apologies, steps = list(base.apologies), list(base.steps)
    for e in fresh:
        new_status = _STATUS[e.event_type]
        # Once closed (refused, withdrawn, stopped, resolved, returned) the status only moves
        # forward: a step recorded after the resolution does not make it "being processed" again.
        if new_status is not None and (status not in _CLOSED or new_status > status):
            status = new_status
        if isinstance(e, DossierSubmitted):
            submitted = submitted or e
        elif isinstance(e, DossierAccepted):
            accepted = accepted or e
        elif isinstance(e, DossierNotAccepted | DossierWithdrawn | DossierStopped):
            terminal = terminal or e
        elif isinstance(e, DossierResolved):
            resolution = resolution or e
        elif isinstance(e, DossierResultReturned):
            returned = returned or e
        elif isinstance(e, DossierSupplementRequested):
            requests.append(e)
            # A second request while still waiting is a repeated request, not a second pause.
            waiting = waiting or e
        elif isinstance(e, DossierSupplementReceived):
            if waiting is not None:
                pauses.append(SupplementPause(waiting, e))
                waiting = None
        elif isinstance(e, DossierApologyIssued):
            apologies.append(e)
        elif isinstance(e, DossierStepCompleted):
            steps.append(e)
    return Fold(
        events=(*base.events, *fresh),
        ids=base.ids.union(e.event_id for e in fresh),
        status=status,
        submitted=submitted,
        accepted=accepted,
        resolution=resolution,
        returned=returned,
        terminal=terminal,
        requests=tuple(requests),
        pauses=tuple(pauses),
        waiting=waiting,
        apologies=tuple(apologies),
        steps=tuple(steps),
        last=occurred_order(fresh[-1]),
        checked=base.checked,
        checked_in=base.checked_in,
    )


def fold(events: Iterable[DossierEvent], clock_stop: ClockStop = ClockStop.RESOLVED) -> DossierHistory:
    """Read one dossier's events (any order, duplicates allowed) into its facts.

    ``resolved`` is the first event of the ``clock_stop`` kind: the resolution, or (a profile
    whose law stops the clock at the hand-over) the return of the result. A :class:`Fold` is
    read as it is (it is folded already).
    """
    state = events if isinstance(events, Fold) else fold_more(None, events)
    if state is None or not state.events:
        raise ValueError("a dossier assessment needs at least one event")
    return state.history(clock_stop)


def check_dates(history: DossierHistory, calendar: WorkingCalendar) -> None:
    """Refuse a dossier any of whose dates lies outside the calendar's date window.

    The date as written (in the event's own offset) is checked, so even 9999-12-31T23:00-05:00
    is refused cleanly instead of overflowing when converted.
    """
    _check_events(history.events, calendar.window)


def _check_events(events: Sequence[DossierEvent], window: DateWindow) -> None:
    first, last = window.first, window.last
    for e in events:
        # The message is built only for a date outside: this runs for every event of every assessment.
        occurred = e.occurred_at.date()
        if not first <= occurred <= last:
            window.check(occurred, f"event {e.event_id} ({e.event_type.value}) occurred_at")
        kind = e.event_type
        if kind is EventType.ACCEPTED:
            assert isinstance(e, DossierAccepted)
            appointed = e.payload.appointed_return_at
            if appointed is not None and not first <= appointed.date() <= last:
                window.check(appointed.date(), f"event {e.event_id} appointed_return_at")
        elif kind is EventType.APOLOGY_ISSUED:
            assert isinstance(e, DossierApologyIssued)
            new_at = e.payload.new_appointment_at.date()
            if not first <= new_at <= last:
                window.check(new_at, f"event {e.event_id} new_appointment_at")
