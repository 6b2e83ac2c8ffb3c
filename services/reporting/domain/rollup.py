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


@dataclass(frozen=True, slots=True)  # no __dict__: one object less a fact for the GC
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
    """``contributions(new) - contributions(old)``, keeping negative counts (zero counts dropped)."""
    acc: Accumulator = {}
    add_delta(acc, old, new, tz)
    return grouped(acc)


#: a batch's delta while it is summed: plain dicts, no ``Counter`` per dossier (see :func:`add_delta`)
Accumulator = dict[RollupKey, dict[str, int]]


def add_delta(acc: Accumulator, old: Fact | None, new: Fact | None, tz: ZoneInfo) -> None:
    """Add ``contributions(new) - contributions(old)`` to ``acc`` (issue #16: the batch's one sum).

    Only the parts of the fact that changed are booked (a part is a group of counters with the
    moments they are booked on: receipt, resolution, closing, due); an unchanged assessment adds
    nothing, and every local day is worked out once per fact and part.
    """
    if old == new:
        return
    if (
        old is None
        or new is None
        or old.accepted_at is None
        or new.accepted_at is None
        or old.agency_code != new.agency_code
        or old.procedure_code != new.procedure_code
    ):
        _book(acc, -1, old, tz, True, True, True)
        _book(acc, 1, new, tz, True, True, True)
        return
    received = old.accepted_at != new.accepted_at or old.channel != new.channel
    resolved = (
        old.resolved_at != new.resolved_at
        or old.outcome != new.outcome
        or old.index_outcome != new.index_outcome
        or old.index_due_at != new.index_due_at
        or old.processing_working_days != new.processing_working_days
    )
    # "closed" and "due"/"due_closed" both hang on the closing moment; "due" on the due moment too
    closing = (old.closed_at or old.resolved_at) != (
        new.closed_at or new.resolved_at
    ) or old.due_at != new.due_at
    if received or resolved or closing:
        _book(acc, -1, old, tz, received, resolved, closing)
        _book(acc, 1, new, tz, received, resolved, closing)


def _slot(acc: Accumulator, key: RollupKey) -> dict[str, int]:
    slot = acc.get(key)
    if slot is None:
        slot = acc[key] = {}
    return slot


def _book(
    acc: Accumulator,
    sign: int,
    fact: Fact | None,
    tz: ZoneInfo,
    received: bool,
    resolved: bool,
    closing: bool,
) -> None:
    """``sign`` × the chosen parts of :func:`contributions` (same counters, same days)."""
    if fact is None or fact.accepted_at is None:
        return
    agency, procedure = fact.agency_code, fact.procedure_code
    if received:
        s = _slot(acc, (agency, procedure, fact.accepted_at.astimezone(tz).date()))
        s["received"] = s.get("received", 0) + sign
        if fact.channel == 2:
            s["received_online"] = s.get("received_online", 0) + sign
        elif fact.channel == 3:
            s["received_postal"] = s.get("received_postal", 0) + sign
    resolved_day: date | None = None
    if fact.resolved_at is not None:
        resolved_day = fact.resolved_at.astimezone(tz).date()
    if resolved and resolved_day is not None and fact.outcome in RESOLVED_OUTCOMES:
        s = _slot(acc, (agency, procedure, resolved_day))
        name = f"resolved_{fact.outcome}"
        s[name] = s.get(name, 0) + sign
        if fact.index_late():
            s["resolved_index_late"] = s.get("resolved_index_late", 0) + sign
        if fact.processing_working_days is not None:
            s["processing_mdays"] = s.get("processing_mdays", 0) + sign * round(
                fact.processing_working_days * 1000
            )
            s["processing_n"] = s.get("processing_n", 0) + sign
    if not closing:
        return
    closed_day: date | None = None
    if fact.closed_at is not None:
        closed_day = fact.closed_at.astimezone(tz).date()
    elif resolved_day is not None:
        closed_day = resolved_day
    if closed_day is not None:
        s = _slot(acc, (agency, procedure, closed_day))
        s["closed"] = s.get("closed", 0) + sign
    if fact.due_at is not None:
        due_day = fact.due_at.astimezone(tz).date()
        s = _slot(acc, (agency, procedure, due_day))
        s["due"] = s.get("due", 0) + sign
        if closed_day is not None:
            s = _slot(acc, (agency, procedure, max(due_day, closed_day)))
            s["due_closed"] = s.get("due_closed", 0) + sign


def grouped(acc: Accumulator) -> Delta:
    """The summed delta with zero counts and keys left with none dropped."""
    out: Delta = {}
    for key, counts in acc.items():
        nonzero = Counter({name: n for name, n in counts.items() if n})
        if nonzero:
            out[key] = nonzero
    return out


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
