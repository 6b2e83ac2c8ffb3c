"""Corrective action (hành động khắc phục) of ISO 9001:2015 clause 10.2, as a state machine.

One corrective action groups one or more nonconformities of one agency that share a cause
(e.g. 40 STEP_LATE at one unit). Its life:

    planned ──verify(effective)──▶ verified ──close──▶ closed
       ▲            │
       └──verify(not effective: a revised action and due date)

``plan`` records the correction (10.2.1 a: what was done to the output), the root cause
(10.2.1 b) and the action with its responsible person and due date (10.2.1 c); ``verify``
records the review of its effectiveness (10.2.1 d); ``close`` ends it, and with it its
nonconformities. Every change yields an :class:`Audit` entry (who, when, what). Pure: no I/O,
the moment is given.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any

MAX_TEXT = 4000


class State(StrEnum):
    PLANNED = "planned"  # đang thực hiện hành động khắc phục
    VERIFIED = "verified"  # đã kiểm tra hiệu lực
    CLOSED = "closed"  # đã đóng


class ActionError(ValueError):
    """A change the workflow does not allow, with what to do instead."""


@dataclass(frozen=True)
class NcRef:
    """One nonconformity of the register: its dossier and its key."""

    dossier_code: str
    nc_key: str


@dataclass(frozen=True)
class Audit:
    """One change of a corrective action: who, when, what."""

    at: datetime
    by: str
    what: str  # planned | grouped | verified | ineffective | closed
    change: dict[str, Any]


@dataclass(frozen=True)
class CorrectiveAction:
    agency_code: str
    state: State
    correction: str
    root_cause: str
    action: str
    responsible: str
    due_date: date
    nonconformities: tuple[NcRef, ...]
    created_at: datetime
    created_by: str
    verification: str | None = None
    verified_at: datetime | None = None
    closed_at: datetime | None = None

    def overdue(self, today: date) -> bool:
        """Not yet verified effective by its due date."""
        return self.state is State.PLANNED and self.due_date < today


def _text(name: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise ActionError(f"{name} is empty: describe it in a sentence")
    if len(value) > MAX_TEXT:
        raise ActionError(f"{name} is longer than {MAX_TEXT} characters: shorten it")
    return value


def _due(due_date: date, at: datetime) -> date:
    if due_date < at.date():
        raise ActionError(f"due_date {due_date.isoformat()} is in the past: pick today or a later day")
    return due_date


def plan(
    agency_code: str,
    refs: list[NcRef],
    *,
    correction: str,
    root_cause: str,
    action: str,
    responsible: str,
    due_date: date,
    by: str,
    at: datetime,
) -> tuple[CorrectiveAction, Audit]:
    """A new corrective action for ``refs`` (at least one nonconformity of ``agency_code``)."""
    if not refs:
        raise ActionError("nonconformities is empty: a corrective action answers at least one nonconformity")
    unique = tuple(dict.fromkeys(refs))
    ca = CorrectiveAction(
        agency_code=agency_code,
        state=State.PLANNED,
        correction=_text("correction", correction),
        root_cause=_text("root_cause", root_cause),
        action=_text("action", action),
        responsible=_text("responsible", responsible),
        due_date=_due(due_date, at),
        nonconformities=unique,
        created_at=at,
        created_by=by,
    )
    audit = Audit(
        at,
        by,
        "planned",
        {
            "correction": ca.correction,
            "root_cause": ca.root_cause,
            "action": ca.action,
            "responsible": ca.responsible,
            "due_date": ca.due_date.isoformat(),
            "nonconformities": [f"{r.dossier_code}/{r.nc_key}" for r in unique],
        },
    )
    return ca, audit


def group(
    ca: CorrectiveAction, refs: list[NcRef], *, by: str, at: datetime
) -> tuple[CorrectiveAction, Audit]:
    """Add nonconformities of the same cause to an action that is not closed."""
    if ca.state is State.CLOSED:
        raise ActionError("this corrective action is closed: open a new one for these nonconformities")
    new = tuple(r for r in dict.fromkeys(refs) if r not in ca.nonconformities)
    if not new:
        raise ActionError("these nonconformities are already under this corrective action")
    return replace(ca, nonconformities=ca.nonconformities + new), Audit(
        at, by, "grouped", {"nonconformities": [f"{r.dossier_code}/{r.nc_key}" for r in new]}
    )


def verify(
    ca: CorrectiveAction,
    *,
    effective: bool,
    note: str,
    by: str,
    at: datetime,
    action: str | None = None,
    due_date: date | None = None,
) -> tuple[CorrectiveAction, Audit]:
    """Record the review of effectiveness; an ineffective action needs a revised action and due date."""
    if ca.state is not State.PLANNED:
        raise ActionError(f"only a planned action can be verified; this one is {ca.state.value}")
    note = _text("verification", note)
    if effective:
        return replace(ca, state=State.VERIFIED, verification=note, verified_at=at), Audit(
            at, by, "verified", {"effective": True, "verification": note}
        )
    if action is None or due_date is None:
        raise ActionError("an ineffective action needs a revised action and a new due_date")
    revised = replace(ca, action=_text("action", action), due_date=_due(due_date, at), verification=note)
    return revised, Audit(
        at,
        by,
        "ineffective",
        {
            "effective": False,
            "verification": note,
            "action": revised.action,
            "due_date": revised.due_date.isoformat(),
        },
    )


def close(ca: CorrectiveAction, *, by: str, at: datetime) -> tuple[CorrectiveAction, Audit]:
    """Close a verified action (its nonconformities close with it)."""
    if ca.state is not State.VERIFIED:
        raise ActionError(
            f"a corrective action is closed after its effectiveness is verified; this one is {ca.state.value}"
        )
    return replace(ca, state=State.CLOSED, closed_at=at), Audit(at, by, "closed", {})
