"""The compliance engine: a pure function of a dossier's history.

(events, procedure terms, calendar, clock rules, now, ISO coverage) → assessment, and the next
moment that assessment would change by itself. No I/O, no clock of its own; the consumer
around it loads state, calls :func:`evaluate` (or :func:`assess` / :func:`next_deadline`),
writes the result and schedules a timer. The rules live one group per module.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from services.processing.domain.apologies import judge_apologies
from services.processing.domain.clauses import Findings
from services.processing.domain.clocks import compute_clocks
from services.processing.domain.control_slip import build_control_slip
from services.processing.domain.data_quality import judge_order
from services.processing.domain.forecast import Forecast, RemainingTimes, forecast
from services.processing.domain.history import Fold, check_dates, dedupe_and_order, fold
from services.processing.domain.inputs import (
    ClockRules,
    ProcedureTerms,
    ProcessContext,
    version_in_force,
)
from services.processing.domain.scope import judge_scope
from services.processing.domain.supplements import judge_supplements
from services.processing.domain.timeliness import Timeliness, judge_timeliness
from services.processing.domain.working_time import classify_resolution
from shared.calendar import DateOutOfWindowError, WorkingCalendar
from shared.contracts.compliance import (
    DossierAssessment,
    NonconformityCode,
    NonconformityRecord,
    Outcome,
    new_assessment,
)
from shared.contracts.events import DossierEvent

__all__ = [
    "ClockRules",
    "DateOutOfWindowError",
    "Evaluation",
    "ProcedureTerms",
    "ProcessContext",
    "assess",
    "classify_resolution",
    "dedupe_and_order",
    "evaluate",
    "next_deadline",
    "version_in_force",
]


@dataclass(slots=True)  # never changed once built; not frozen: a frozen init costs 7× on the hot path
class Evaluation:
    """The assessment at ``now`` and the earliest later moment it changes with no new event."""

    assessment: DossierAssessment
    next_deadline: datetime | None


def _order(nc: NonconformityRecord) -> tuple[datetime, str, tuple[str, ...]]:
    return (nc.detected_at, nc.code, nc.evidence)


def _applied(raised: list[NonconformityRecord], codes: frozenset[str] | None) -> tuple[NonconformityRecord, ...]:
    """The nonconformities of the rules that apply (``codes`` None: all), by detection time."""
    kept = raised if codes is None else [nc for nc in raised if nc.code in codes]
    if len(kept) > 1:
        kept = sorted(kept, key=_order)
    return tuple(kept)


def evaluate(
    events: Iterable[DossierEvent],
    terms: ProcedureTerms | None,
    calendar: WorkingCalendar,
    rules: ClockRules,
    now: datetime,
    process: ProcessContext | None = None,
    forecast_model: RemainingTimes | None = None,
) -> Evaluation:
    """Assess one dossier from all of its events (any order, duplicates allowed).

    ``forecast_model``: observed durations; with it, an open dossier gets its estimated
    resolution and the AT_RISK warning (dự báo trễ hạn, :mod:`.forecast`).

    ``terms`` None: the procedure is unknown (OUT_OF_SCOPE, no due dates). ``process`` None:
    the caller has no ISO coverage data, so neither the scope nor the step rules are judged;
    pass a :class:`ProcessContext` to judge them (no version in force → OUT_OF_SCOPE).

    Raises only :class:`~shared.calendar.DateOutOfWindowError` (a subclass of ``ValueError``),
    when a date of the dossier, or one computed from it, is outside the calendar's date window;
    every computation is bounded by that window, so it returns or raises fast.
    """
    history = fold(events, rules.clock_stop)
    if isinstance(events, Fold):
        events.check_dates(calendar.window)  # a kept fold's events are checked once, not per assessment
    else:
        check_dates(history, calendar)
    first = history.first
    found = Findings()
    assessed_at = now
    end_of_log = rules.observed_until
    censoring = end_of_log is not None and now >= end_of_log
    if censoring:
        assert end_of_log is not None
        now = end_of_log  # a historical log is judged as its end saw it, never by today's clock

    scope = judge_scope(history, terms, process, calendar)
    found.extend(scope.findings)
    clocks = compute_clocks(history, terms, calendar, rules) if terms is not None else None
    impossible = judge_order(history)
    if impossible.raised:
        # Times that cannot be true: a data-quality finding instead of an outcome (and no timer).
        found.extend(impossible)
        timeliness = Timeliness(None, None, Findings())
    else:
        timeliness = judge_timeliness(history, clocks, calendar, now)
        found.extend(timeliness.findings)
        if rules.applies(NonconformityCode.APOLOGY_MISSING) or rules.applies(NonconformityCode.APOLOGY_LATE):
            found.extend(
                judge_apologies(
                    history, clocks.due_at if clocks else None, timeliness.outcome, calendar, rules, now
                )
            )
    found.extend(judge_supplements(history, clocks.start if clocks else None, calendar, rules))
    slip = build_control_slip(history, scope.process, calendar, now)
    found.extend(slip.findings)

    outcome, index_outcome, closed_at = timeliness.outcome, timeliness.index_outcome, history.closed_at
    if censoring and outcome in (Outcome.PENDING_WITHIN, Outcome.PENDING_OVERDUE):
        # Still open when the log ends: censored (còn mở khi hết nhật ký), not pending for ever.
        outcome = index_outcome = Outcome.OPEN_AT_END
        closed_at = end_of_log
    if censoring:
        found.wake_at.clear()  # nothing changes after the end of the log
    else:
        found.wake(end_of_log, now)

    warning = Forecast(None, None, None)
    if forecast_model is not None and clocks is not None and not impossible.raised:
        warning = forecast(history, clocks.due_at, forecast_model, now)
        if not censoring:
            found.wake(warning.wake_at, now)

    accepted_at = history.accepted.occurred_at if history.accepted else None
    resolved_at = history.resolved.occurred_at if history.resolved else None
    processing_days = (
        float(calendar.working_days_between(accepted_at, resolved_at))
        if accepted_at is not None and resolved_at is not None and not impossible.raised
        else None
    )
    assessment = new_assessment(  # built from validated values: no re-validation on the hot path
        dossier_code=first.dossier_code,
        agency_code=first.agency_code,
        procedure_code=first.procedure_code,
        revision=1,  # the store assigns the real, ever-growing revision
        status=history.status,
        outcome=outcome,
        index_outcome=index_outcome,
        channel=history.channel,
        submitted_at=history.submitted.occurred_at if history.submitted else None,
        accepted_at=accepted_at,
        due_at=clocks.due_at if clocks else None,
        index_due_at=clocks.index_due_at if clocks else None,
        resolved_at=resolved_at,
        closed_at=closed_at,
        processing_working_days=processing_days,
        in_scope=scope.in_scope,
        iso_process_version=scope.process.version if scope.process else None,
        steps=slip.rows,
        nonconformities=_applied(found.raised, rules.rule_codes),
        assessed_at=assessed_at,
        at_risk_since=warning.at_risk_since,
        forecast_resolved_at=warning.estimate if outcome is not Outcome.OPEN_AT_END else None,
    )
    return Evaluation(assessment, min(found.wake_at, default=None))


def assess(
    events: Iterable[DossierEvent],
    terms: ProcedureTerms | None,
    calendar: WorkingCalendar,
    rules: ClockRules,
    now: datetime,
    process: ProcessContext | None = None,
) -> DossierAssessment:
    """The dossier's assessment at ``now`` (see :func:`evaluate`)."""
    return evaluate(events, terms, calendar, rules, now, process).assessment


def next_deadline(
    events: Iterable[DossierEvent],
    terms: ProcedureTerms | None,
    calendar: WorkingCalendar,
    rules: ClockRules,
    now: datetime,
    process: ProcessContext | None = None,
) -> datetime | None:
    """The earliest moment after ``now`` at which the assessment changes with no new event.

    One of: the legal due moment (OVERDUE), the index due moment (index outcome), the open
    step's due moment (STEP_OVERDUE), the apology deadline (APOLOGY_MISSING). None if nothing
    is pending. Schedule a timer for it and call :func:`evaluate` again then.
    """
    return evaluate(events, terms, calendar, rules, now, process).next_deadline
