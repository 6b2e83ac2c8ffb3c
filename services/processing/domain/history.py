"""A dossier's history: its events deduplicated, ordered by occurrence and folded into facts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from services.processing.domain.inputs import ClockStop
from shared.calendar import WorkingCalendar
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


def fold(events: Iterable[DossierEvent], clock_stop: ClockStop = ClockStop.RESOLVED) -> DossierHistory:
    """Read one dossier's events (any order, duplicates allowed) into its facts.

    ``resolved`` is the first event of the ``clock_stop`` kind: the resolution, or (a profile
    whose law stops the clock at the hand-over) the return of the result.
    """
    ordered = dedupe_and_order(events)
    if not ordered:
        raise ValueError("a dossier assessment needs at least one event")
    status = 1
    submitted: DossierSubmitted | None = None
    accepted: DossierAccepted | None = None
    resolved: DossierResolved | None = None
    returned: DossierResultReturned | None = None
    terminal: Terminal | None = None
    requests: list[DossierSupplementRequested] = []
    pauses: list[SupplementPause] = []
    waiting: DossierSupplementRequested | None = None
    apologies: list[DossierApologyIssued] = []
    steps: list[DossierStepCompleted] = []
    for e in ordered:
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
            resolved = resolved or e
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
    if waiting is not None:
        pauses.append(SupplementPause(waiting, None))
    channel = accepted.payload.channel if accepted else submitted.payload.channel if submitted else None
    return DossierHistory(
        events=tuple(ordered),
        status=status,
        channel=channel,
        submitted=submitted,
        accepted=accepted,
        resolved=returned if clock_stop is ClockStop.RESULT_RETURNED else resolved,
        returned=returned,
        resolution=resolved,
        terminal=terminal,
        supplement_requests=tuple(requests),
        pauses=tuple(pauses),
        apologies=tuple(apologies),
        steps=tuple(steps),
    )


def check_dates(history: DossierHistory, calendar: WorkingCalendar) -> None:
    """Refuse a dossier any of whose dates lies outside the calendar's date window.

    The date as written (in the event's own offset) is checked, so even 9999-12-31T23:00-05:00
    is refused cleanly instead of overflowing when converted.
    """
    window = calendar.window
    for e in history.events:
        window.check(e.occurred_at.date(), f"event {e.event_id} ({e.event_type.value}) occurred_at")
        if isinstance(e, DossierAccepted) and e.payload.appointed_return_at is not None:
            window.check(e.payload.appointed_return_at.date(), f"event {e.event_id} appointed_return_at")
        if isinstance(e, DossierApologyIssued):
            window.check(e.payload.new_appointment_at.date(), f"event {e.event_id} new_appointment_at")
