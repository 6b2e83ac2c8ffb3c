"""QMS records (hệ thống quản lý chất lượng): lifecycle rules and the flags the registry computes."""

from __future__ import annotations

import calendar
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from shared.contracts.registry import QmsRecord, QmsReview, QmsState

# not started → building → applying → announced → updating / expanding → re-announced → updating …
_RANK = {
    QmsState.NOT_STARTED: 0,
    QmsState.BUILDING: 1,
    QmsState.APPLYING: 2,
    QmsState.ANNOUNCED: 3,
    QmsState.UPDATING: 4,
    QmsState.REANNOUNCED: 5,
}
_NEEDS_DOCUMENT = frozenset({QmsState.ANNOUNCED, QmsState.REANNOUNCED})
_IN_OPERATION = frozenset({QmsState.ANNOUNCED, QmsState.UPDATING, QmsState.REANNOUNCED})


def add_months(d: date, months: int) -> date:
    """Same day ``months`` later, clamped to the end of a shorter month."""
    index = d.year * 12 + d.month - 1 + months
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(d.day, last))


def qms_problems(qms: QmsRecord) -> list[tuple[str, str]]:
    """What is wrong with ``qms`` on its own, as (field, reason) pairs."""
    problems: list[tuple[str, str]] = []
    steps = list(qms.transitions)
    for i, (before, after) in enumerate(itertools.pairwise(steps), start=1):
        if after.on < before.on:
            problems.append(
                (f"transitions.{i}.on", f"{after.on} is before the previous transition ({before.on})")
            )
        cycle = before.state is QmsState.REANNOUNCED and after.state is QmsState.UPDATING
        if not cycle and _RANK[after.state] <= _RANK[before.state]:
            problems.append(
                (
                    f"transitions.{i}.state",
                    f"{before.state.value} → {after.state.value} goes against the lifecycle not_started → "
                    "building → applying → announced → updating → reannounced (→ updating …)",
                )
            )
    for i, t in enumerate(steps):
        if t.state in _NEEDS_DOCUMENT and not t.document:
            problems.append(
                (f"transitions.{i}.document", f"{t.state.value} needs the number of its document")
            )
    if steps and steps[-1].state is not qms.state:
        problems.append(
            ("state", f"state is {qms.state.value} but the last transition is to {steps[-1].state.value}")
        )
    if len(set(qms.scope)) != len(qms.scope):
        problems.append(("scope", "a procedure is listed twice in the scope"))
    keys = [(o.year, o.metric) for o in qms.objectives]
    if len(set(keys)) != len(keys):
        problems.append(("objectives", "two objectives share a year and a metric"))
    return problems


@dataclass(frozen=True)
class QmsFlags:
    """Computed by the registry on a given day (all empty/False = nothing to do)."""

    internal_audit_overdue: bool
    management_review_overdue: bool
    update_overdue: tuple[str, ...]  # procedures in scope whose legal basis changed with no update since
    scope_without_process: tuple[str, ...]  # procedures in scope with no ISO process of this agency

    @property
    def any(self) -> bool:
        return bool(
            self.internal_audit_overdue
            or self.management_review_overdue
            or self.update_overdue
            or self.scope_without_process
        )


def _operating_since(qms: QmsRecord) -> date | None:
    dates = [t.on for t in qms.transitions if t.state in _IN_OPERATION]
    return min(dates) if dates else None


def _review_overdue(qms: QmsRecord, reviews: Sequence[QmsReview], as_of: date, interval_months: int) -> bool:
    if qms.state not in _IN_OPERATION:
        return False
    held = [r.held_on for r in reviews if r.held_on <= as_of]
    since = max(held) if held else _operating_since(qms)
    return since is not None and as_of > add_months(since, interval_months)


def qms_flags(
    qms: QmsRecord,
    *,
    as_of: date,
    legal_basis_changed_on: Mapping[str, date | None],
    process_effective_dates: Mapping[str, Sequence[date]],
    audit_interval_months: int,
    update_months: int,
) -> QmsFlags:
    """The flags of ``qms`` on ``as_of``.

    ``legal_basis_changed_on``: procedure code → last change of its legal basis;
    ``process_effective_dates``: procedure code → effective dates of this agency's process versions.
    A legal change counts as handled once a process version takes effect, or the QMS is
    re-announced, on or after the change.
    """
    audits = [r for r in qms.reviews if r.kind == "internal_audit"]
    management = [r for r in qms.reviews if r.kind == "management_review"]
    reannounced = [t.on for t in qms.transitions if t.state is QmsState.REANNOUNCED and t.on <= as_of]
    overdue_updates: list[str] = []
    for code in qms.scope:
        changed = legal_basis_changed_on.get(code)
        if changed is None or as_of <= add_months(changed, update_months):
            continue
        updates = [d for d in process_effective_dates.get(code, ()) if changed <= d <= as_of]
        if not updates and not any(changed <= d for d in reannounced):
            overdue_updates.append(code)
    return QmsFlags(
        internal_audit_overdue=_review_overdue(qms, audits, as_of, audit_interval_months),
        management_review_overdue=_review_overdue(qms, management, as_of, audit_interval_months),
        update_overdue=tuple(overdue_updates),
        scope_without_process=tuple(c for c in qms.scope if not process_effective_dates.get(c)),
    )
