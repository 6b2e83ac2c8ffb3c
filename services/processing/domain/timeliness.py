"""The dossier's outcome in both clock views, and LATE, OVERDUE, APPOINTMENT.

LATE: resolved after the legal due moment. OVERDUE (timer): not resolved and the legal due
moment has been reached. APPOINTMENT: the return date written on the receipt (ngày hẹn trả)
falls on a later day than the statutory due day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.processing.domain.clauses import Findings
from services.processing.domain.clocks import Clocks
from services.processing.domain.history import DossierHistory, Terminal
from services.processing.domain.working_time import classify_resolution
from shared.calendar import WorkingCalendar
from shared.contracts.compliance import NonconformityCode, Outcome
from shared.contracts.events import DossierNotAccepted, DossierStopped, DossierWithdrawn


@dataclass(slots=True)  # never changed once built; not frozen: a frozen init costs 7× on the hot path
class Timeliness:
    outcome: Outcome | None  # legal view
    index_outcome: Outcome | None  # national-index view
    findings: Findings


def _terminal_outcome(terminal: Terminal) -> Outcome:
    if isinstance(terminal, DossierNotAccepted):
        return Outcome.NOT_ACCEPTED
    if isinstance(terminal, DossierWithdrawn):
        return Outcome.WITHDRAWN
    assert isinstance(terminal, DossierStopped)
    return Outcome.STOPPED


def _pending(due_at: datetime | None, now: datetime) -> Outcome:
    # While a supplement is awaited the clock is stopped (due None): still within time.
    if due_at is not None and now >= due_at:
        return Outcome.PENDING_OVERDUE
    return Outcome.PENDING_WITHIN


def judge_timeliness(
    history: DossierHistory, clocks: Clocks | None, calendar: WorkingCalendar, now: datetime
) -> Timeliness:
    """Outcome (legal and index) and the timeliness nonconformities of one dossier at ``now``."""
    found = Findings()
    if history.resolved is None and history.terminal is not None:
        outcome = _terminal_outcome(history.terminal)
        return Timeliness(outcome, outcome, found)
    if clocks is None or history.accepted is None:
        return Timeliness(None, None, found)
    accepted = history.accepted

    appointed = accepted.payload.appointed_return_at
    if appointed is not None:
        appointed_day = appointed.astimezone(calendar.tz).date()
        due_day = clocks.initial_due_at.astimezone(calendar.tz).date()
        if appointed_day > due_day:
            found.raise_(
                NonconformityCode.APPOINTMENT,
                accepted.occurred_at,
                [accepted.event_id],
                f"appointed return date (ngày hẹn trả) {appointed_day.isoformat()} is later than the "
                f"statutory due date {due_day.isoformat()}",
            )

    # More than one supplement request counts as late in the national index (Decision 766).
    repeated = len(history.supplement_requests) > 1
    if history.resolved is not None:
        resolved = history.resolved
        assert clocks.due_at is not None and clocks.index_due_at is not None  # clocks stop at closing
        outcome = classify_resolution(resolved.occurred_at, clocks.due_at, calendar)
        index_outcome = (
            Outcome.LATE
            if repeated
            else classify_resolution(resolved.occurred_at, clocks.index_due_at, calendar)
        )
        if outcome is Outcome.LATE:
            found.raise_(
                NonconformityCode.LATE,
                resolved.occurred_at,
                [accepted.event_id, resolved.event_id],
                f"resolved {resolved.occurred_at.isoformat()} after the due time {clocks.due_at.isoformat()} "
                "(giải quyết quá hạn)",
            )
        return Timeliness(outcome, index_outcome, found)

    outcome = _pending(clocks.due_at, now)
    if outcome is Outcome.PENDING_OVERDUE:
        assert clocks.due_at is not None
        found.raise_(
            NonconformityCode.OVERDUE,
            clocks.due_at,
            [accepted.event_id],
            f"not resolved by the due time {clocks.due_at.isoformat()} (hồ sơ quá hạn)",
        )
    else:
        found.wake(clocks.due_at, now)
    if repeated:
        index_outcome = Outcome.PENDING_OVERDUE
    else:
        index_outcome = _pending(clocks.index_due_at, now)
        if index_outcome is Outcome.PENDING_WITHIN:
            found.wake(clocks.index_due_at, now)
    return Timeliness(outcome, index_outcome, found)
