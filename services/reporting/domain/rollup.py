"""How one dossier's assessment contributes to the daily rollup, and the delta of a change.

Rollup key: (agency, procedure, local day). Every counter is a *flow* booked on one day
(see :data:`COUNTERS`); stocks — carried over, pending, pending overdue at any instant —
are differences of cumulative flows, so they need no snapshot job and replay exactly.
A changed assessment contributes ``new - old``: applying every revision in order, or only
the last, gives the same totals.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

#: Counter columns of ``reporting.daily_rollup`` and ``reporting.field_rollup``.
COUNTERS = (
    "received",  # accepted on this day (tiếp nhận)
    "received_online",  # … through the online channel (2)
    "received_postal",  # … through public postal service (3)
    "resolved_early",  # resolved on this day, legal clock: trước hạn
    "resolved_on_time",  # đúng hạn
    "resolved_late",  # quá hạn
    "resolved_index_late",  # resolved on this day and late on the national-index clock
    "processing_mdays",  # accepted → resolved, thousandths of a working day
    "processing_n",  # dossiers counted in processing_mdays
    "closed",  # left processing on this day (resolved, withdrawn, stopped)
    "due",  # legal due moment falls on this day
    "due_closed",  # on max(due day, closed day): see pending_overdue()
)

RollupKey = tuple[str, str, date]
Delta = dict[RollupKey, Counter[str]]

RESOLVED_OUTCOMES = ("early", "on_time", "late")


@dataclass(frozen=True)
class Fact:
    """The parts of an assessment the rollup needs."""

    agency_code: str
    procedure_code: str
    channel: int | None
    accepted_at: datetime | None
    due_at: datetime | None
    index_due_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    outcome: str | None
    index_outcome: str | None = None
    processing_working_days: float | None = None

    def index_late(self) -> bool:
        """Late on the national-index clock (supplement time subtracted)."""
        if self.index_outcome is not None:
            return self.index_outcome == "late"
        if self.resolved_at is not None and self.index_due_at is not None:
            return self.resolved_at > self.index_due_at
        return self.outcome == "late"


def contributions(fact: Fact | None, tz: ZoneInfo) -> Delta:
    """The rollup counts this fact stands for."""
    out: Delta = {}
    if fact is None or fact.accepted_at is None:
        return out  # never accepted: not in Biểu 06

    def add(moment: datetime | date, name: str, n: int = 1) -> None:
        day = moment.astimezone(tz).date() if isinstance(moment, datetime) else moment
        out.setdefault((fact.agency_code, fact.procedure_code, day), Counter())[name] += n

    add(fact.accepted_at, "received")
    if fact.channel == 2:
        add(fact.accepted_at, "received_online")
    elif fact.channel == 3:
        add(fact.accepted_at, "received_postal")
    if fact.resolved_at is not None and fact.outcome in RESOLVED_OUTCOMES:
        add(fact.resolved_at, f"resolved_{fact.outcome}")
        if fact.index_late():
            add(fact.resolved_at, "resolved_index_late")
        if fact.processing_working_days is not None:
            add(fact.resolved_at, "processing_mdays", round(fact.processing_working_days * 1000))
            add(fact.resolved_at, "processing_n")
    closed = fact.closed_at or fact.resolved_at
    if closed is not None:
        add(closed, "closed")
    if fact.due_at is not None:
        due_day = fact.due_at.astimezone(tz).date()
        add(due_day, "due")
        if closed is not None:
            add(max(due_day, closed.astimezone(tz).date()), "due_closed")
    return {k: v for k, v in out.items() if any(v.values())}


def delta(old: Fact | None, new: Fact | None, tz: ZoneInfo) -> Delta:
    """``contributions(new) - contributions(old)``, keeping negative counts."""
    result: Delta = {}
    for sign, fact in ((-1, old), (1, new)):
        for key, counts in contributions(fact, tz).items():
            slot = result.setdefault(key, Counter())
            for name, n in counts.items():
                slot[name] += sign * n
    return {k: v for k, v in result.items() if any(v.values())}


def merge(into: Delta, more: Delta) -> None:
    """Add ``more`` to ``into`` in place."""
    for key, counts in more.items():
        slot = into.setdefault(key, Counter())
        for name, n in counts.items():
            slot[name] += n


FieldKey = tuple[str, str, date]  # (agency, field, day)
FieldDelta = dict[FieldKey, Counter[str]]


def project_to_fields(d: Delta, field_of: dict[str, str]) -> FieldDelta:
    """The daily delta summed per (agency, field, day); unknown procedures → ''.

    ``reporting.field_rollup`` adds each day to every bucket of
    :func:`~services.reporting.domain.cumulative.buckets_of` (in SQL, ``reporting.buckets_of``:
    ten rows per day are cheaper to expand in the database than to send).
    """
    out: FieldDelta = {}
    for (agency, procedure, day), counts in d.items():
        slot = out.setdefault((agency, field_of.get(procedure, ""), day), Counter())
        for name, n in counts.items():
            slot[name] += n
    return {k: v for k, v in out.items() if any(v.values())}
