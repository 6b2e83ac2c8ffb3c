"""APOLOGY_MISSING and APOLOGY_LATE (Decree 61/2018 art. 19(9)).

A dossier heading for lateness needs an apology with a new return date (phiếu xin lỗi và hẹn
lại ngày trả kết quả) issued at least ``apology_lead_working_days`` of office time before the
legal due moment — that moment is the *apology deadline*. A dossier is heading for lateness
when it was resolved late, or when it is still open at the apology deadline; if it is then
resolved in time it was not, and the apology verdict disappears. The return date may be reset
only ``apology_resets_allowed`` times: every further apology is APOLOGY_LATE too.
"""

from __future__ import annotations

from datetime import datetime

from services.processing.domain.clauses import Findings
from services.processing.domain.history import DossierHistory
from services.processing.domain.inputs import ClockRules
from services.processing.domain.working_time import working_moment_before
from shared.calendar import WorkingCalendar
from shared.contracts.compliance import NonconformityCode, Outcome


def apology_deadline(due_at: datetime, calendar: WorkingCalendar, rules: ClockRules) -> datetime:
    """The latest moment an apology may be issued for a dossier due at ``due_at``."""
    lead_hours = rules.apology_lead_working_days * calendar.office_hours.hours_per_day
    return working_moment_before(calendar, due_at, lead_hours)


def judge_apologies(
    history: DossierHistory,
    due_at: datetime | None,
    outcome: Outcome | None,
    calendar: WorkingCalendar,
    rules: ClockRules,
    now: datetime,
) -> Findings:
    """Apology nonconformities of one dossier at ``now`` (``due_at``/``outcome``: the legal view)."""
    found = Findings()
    apologies = history.apologies
    for n, extra in enumerate(
        apologies[rules.apology_resets_allowed :], start=rules.apology_resets_allowed + 1
    ):
        found.raise_(
            NonconformityCode.APOLOGY_LATE,
            extra.occurred_at,
            [apologies[0].event_id, extra.event_id],
            f"return date reset {n} times by apology; at most {rules.apology_resets_allowed} allowed "
            "(hẹn lại ngày trả quá số lần cho phép)",
        )
    if due_at is None or history.accepted is None:
        return found
    pending = outcome in (Outcome.PENDING_WITHIN, Outcome.PENDING_OVERDUE)
    if not pending and outcome is not Outcome.LATE:
        return found  # resolved in time (or closed otherwise): no apology was needed
    deadline = apology_deadline(due_at, calendar, rules)
    if outcome is not Outcome.LATE and not (pending and now >= deadline):
        if pending and (not apologies or apologies[0].occurred_at > deadline):
            found.wake(deadline, now)  # it will be heading for lateness then
        return found
    if not apologies:
        evidence = [history.accepted.event_id]
        if history.resolved is not None:
            evidence.append(history.resolved.event_id)
        found.raise_(
            NonconformityCode.APOLOGY_MISSING,
            deadline,
            evidence,
            f"no apology (phiếu xin lỗi và hẹn lại) by {deadline.isoformat()}, "
            f"{rules.apology_lead_working_days} working day(s) before the due time {due_at.isoformat()}",
        )
    elif apologies[0].occurred_at > deadline:
        first = apologies[0]
        found.raise_(
            NonconformityCode.APOLOGY_LATE,
            first.occurred_at,
            [first.event_id],
            f"apology issued {first.occurred_at.isoformat()}, after the deadline {deadline.isoformat()} "
            f"({rules.apology_lead_working_days} working day(s) before the due time {due_at.isoformat()})",
        )
    return found
