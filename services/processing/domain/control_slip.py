"""The control slip (phiếu kiểm soát, Circular 01/2018 form 05) and the ISO process step rules.

One row per ``dossier.step_completed`` in occurred order: the step, the unit that did it, when
it received the dossier (the previous hand-over, or the acceptance), when it handed it over,
the ISO step's budget and the verdict. A step's clock stops while a supplement is awaited.

STEP_LATE: a hand-over after its step's due moment. STEP_OVERDUE (timer): the open step — the
next required step after the last completed one, allowed its budget plus the budgets of the
optional steps before it — has not been completed by its due moment, and the dossier is open.
STEP_SKIPPED: a required step that was never completed, once a later step was completed or the
dossier was resolved. STEP_ORDER: a step completed after a later step of the process, or a step
code the process does not have. WRONG_UNIT: a step done by a unit other than the responsible one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache

from services.processing.domain.clauses import Findings
from services.processing.domain.history import DossierHistory
from services.processing.domain.working_time import (
    classify_step,
    clip_pauses,
    run_clock,
    working_hours_of,
)
from shared.calendar import Duration, DurationUnit, WorkingCalendar
from shared.contracts.compliance import ControlSlipRow, NonconformityCode, StepStatus, new_control_slip_row
from shared.contracts.events import DossierEvent, DossierStepCompleted
from shared.contracts.registry import IsoProcessRecord, IsoStep


@dataclass(slots=True)  # never changed once built; not frozen: a frozen init costs 7× on the hot path
class ControlSlip:
    rows: tuple[ControlSlipRow, ...]
    findings: Findings


def _budget(step: IsoStep) -> Duration:
    budget = step.budget
    return _duration(budget.value, budget.unit)


@lru_cache(maxsize=4096)
def _duration(value: Decimal, unit: DurationUnit) -> Duration:
    return Duration(value, DurationUnit(unit))


def build_control_slip(
    history: DossierHistory, process: IsoProcessRecord | None, calendar: WorkingCalendar, now: datetime
) -> ControlSlip:
    """The control slip rows and step nonconformities; without a process, rows carry no verdict."""
    found = Findings()
    index: dict[str, int] = {}
    if process is not None:
        for i, iso_step in enumerate(process.steps):
            index.setdefault(iso_step.code, i)
    handed_by: DossierEvent = history.accepted or history.first
    rows: list[ControlSlipRow] = []
    for event in history.steps:
        received_at = handed_by.occurred_at
        handed_at = event.occurred_at
        payload = event.payload
        step: IsoStep | None = None
        if process is not None and payload.step_code in index:
            step = process.steps[index[payload.step_code]]
        due_at: datetime | None = None
        status: StepStatus | None = None
        if step is not None:
            due_at = run_clock(calendar, received_at, _budget(step), clip_pauses(history.pauses, handed_at))
            assert due_at is not None  # the clock stops at the hand-over, so no pause is left open
            status = classify_step(handed_at, due_at, calendar)
        rows.append(
            new_control_slip_row(  # built from validated values: no re-validation on the hot path
                event_id=event.event_id,
                step_code=payload.step_code,
                unit=payload.from_unit,
                to_unit=payload.to_unit,
                handler=payload.handler,
                received_at=received_at,
                handed_over_at=handed_at,
                budget=step.budget if step else None,
                due_at=due_at,
                status=status,
            )
        )
        if step is not None and status is StepStatus.LATE:
            assert due_at is not None
            found.raise_(
                NonconformityCode.STEP_LATE,
                handed_at,
                [event.event_id],
                f"step {step.code} handed over {handed_at.isoformat()}, after its due time "
                f"{due_at.isoformat()} ({step.budget.value} {step.budget.unit.value})",
            )
        if step is not None and payload.from_unit != step.responsible_unit:
            found.raise_(
                NonconformityCode.WRONG_UNIT,
                handed_at,
                [event.event_id],
                f"step {step.code} done by unit {payload.from_unit}; the ISO process makes "
                f"{step.responsible_unit} responsible (sai đơn vị thực hiện)",
            )
        handed_by = event
    if process is not None:
        _judge_order(history.steps, process, index, found)
        _judge_skipped(history, process, index, found)
        _judge_open_step(history, process, index, calendar, now, found)
    return ControlSlip(tuple(rows), found)


def _judge_order(
    steps: tuple[DossierStepCompleted, ...], process: IsoProcessRecord, index: dict[str, int], found: Findings
) -> None:
    furthest: DossierStepCompleted | None = None
    for event in steps:
        code = event.payload.step_code
        if code not in index:
            found.raise_(
                NonconformityCode.STEP_ORDER,
                event.occurred_at,
                [event.event_id],
                f"step {code} is not in ISO process version {process.version} (bước ngoài quy trình)",
            )
            continue
        if furthest is None or index[code] >= index[furthest.payload.step_code]:
            furthest = event
        elif event.occurred_at > furthest.occurred_at:
            found.raise_(
                NonconformityCode.STEP_ORDER,
                event.occurred_at,
                [furthest.event_id, event.event_id],
                f"step {code} completed after the later step {furthest.payload.step_code} "
                "(sai trình tự các bước)",
            )


def _judge_skipped(
    history: DossierHistory, process: IsoProcessRecord, index: dict[str, int], found: Findings
) -> None:
    done = {e.payload.step_code for e in history.steps}
    for i, step in enumerate(process.steps):
        if step.optional or step.code in done:
            continue
        # Known missing once a later step was completed or the dossier was resolved.
        triggers: list[DossierEvent] = [e for e in history.steps if index.get(e.payload.step_code, -1) > i]
        if history.resolved is not None:
            triggers.append(history.resolved)
        if not triggers:
            continue
        trigger = min(triggers, key=lambda e: (e.occurred_at, e.event_id))
        found.raise_(
            NonconformityCode.STEP_SKIPPED,
            trigger.occurred_at,
            [trigger.event_id],
            f"required step {step.code} ({step.name}) was never completed (bỏ qua bước)",
        )


def _judge_open_step(
    history: DossierHistory,
    process: IsoProcessRecord,
    index: dict[str, int],
    calendar: WorkingCalendar,
    now: datetime,
    found: Findings,
) -> None:
    if history.accepted is None or history.closed_at is not None:
        return
    known = [e for e in history.steps if e.payload.step_code in index]
    last_index = index[known[-1].payload.step_code] if known else -1
    allowance = Decimal(0)
    open_step: IsoStep | None = None
    for step in process.steps[last_index + 1 :]:
        allowance += working_hours_of(calendar, _budget(step))
        if not step.optional:
            open_step = step
            break
    if open_step is None:
        return
    handed_by: DossierEvent = history.steps[-1] if history.steps else history.accepted
    due_at = run_clock(
        calendar,
        handed_by.occurred_at,
        Duration(allowance, DurationUnit.WORKING_HOURS),
        clip_pauses(history.pauses, None),
    )
    if due_at is None:
        return  # waiting for a supplement: the step's clock is stopped
    if now >= due_at:
        found.raise_(
            NonconformityCode.STEP_OVERDUE,
            due_at,
            [handed_by.event_id],
            f"step {open_step.code} ({open_step.responsible_unit}) still open past its due time "
            f"{due_at.isoformat()} (bước quá hạn)",
        )
    else:
        found.wake(due_at, now)
