"""The dossier's two clocks: legal (Decree 61/2018 art. 19(4)) and national index (Decision 766).

Legal view: after a supplement request the clock restarts from zero when the complete dossier
arrives. Index view: the clock runs from acceptance and the supplement waiting time is
subtracted. While a supplement is awaited both clocks are stopped (due None).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.processing.domain.history import DossierHistory
from services.processing.domain.inputs import ClockRules, ProcedureTerms
from services.processing.domain.working_time import Pause, clip_pauses, run_clock
from shared.calendar import Duration, WorkingCalendar
from shared.contracts.events import Channel


@dataclass(slots=True)  # never changed once built; not frozen: a frozen init costs 7× on the hot path
class Clocks:
    """Due moments of one accepted dossier of a known procedure."""

    start: datetime  # the reception moment that counts (after the in-person cut-off)
    statutory_time: Duration
    initial_due_at: datetime  # start + statutory time, before any supplement
    due_at: datetime | None  # legal view
    index_due_at: datetime | None  # national-index view


def compute_clocks(
    history: DossierHistory, terms: ProcedureTerms, calendar: WorkingCalendar, rules: ClockRules
) -> Clocks | None:
    """Both clocks of an accepted dossier; None before acceptance."""
    if history.accepted is None:
        return None
    cutoff = terms.in_person_cutoff or rules.in_person_cutoff

    def counted(moment: datetime) -> datetime:
        # In person, a dossier received after the cut-off counts from the next working day.
        if history.channel is Channel.IN_PERSON and rules.in_person_transfer:
            return calendar.transfer_after_cutoff(moment, cutoff)
        return moment

    start = counted(history.accepted.occurred_at)
    duration = terms.time_for(history.channel)
    pauses = clip_pauses(history.pauses, history.closed_at)

    initial_due_at = calendar.add(start, duration)
    if not pauses:
        return Clocks(start, duration, initial_due_at, initial_due_at, initial_due_at)
    legal_start = start
    for p in pauses:
        if p.answered and p.end is not None:
            legal_start = max(legal_start, counted(p.end))
    # A request never answered before the dossier closed (or still open) stops the legal clock
    # instead of restarting it.
    unanswered = [Pause(max(p.start, legal_start), p.end, False) for p in pauses if not p.answered]
    return Clocks(
        start=start,
        statutory_time=duration,
        initial_due_at=initial_due_at,
        due_at=run_clock(calendar, legal_start, duration, unanswered),
        index_due_at=run_clock(calendar, start, duration, pauses),
    )
