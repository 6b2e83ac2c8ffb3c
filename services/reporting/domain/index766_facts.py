"""Decision 766 facts of one dossier, how events change them, and what they count per agency × day.

Each event type sets its own fields; the later event of a type wins, a fee keeps the first
payment's moment and is online if any payment was — so the same events in any order, or
delivered twice, give the same fact. A changed fact moves the daily counters by
``contributions(new) - contributions(old)`` (like the Biểu 06 rollup), so a period's measures
are a sum over its days, not a scan of its dossiers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from shared.contracts.events import (
    DossierAccepted,
    DossierEvent,
    DossierFeePaid,
    DossierResolved,
    DossierResultReturned,
    EventType,
)

#: counters of ``reporting.index766_daily`` (a rating is kept by level: the threshold is data)
DAILY = (
    "accepted",
    "accepted_digitized",
    "resolved_events",
    "results_digitized",
    "fees_paid",
    "fees_paid_online",
    "rated_1",
    "rated_2",
    "rated_3",
    "rated_4",
    "rated_5",
)
DailyKey = tuple[str, date]  # (agency, local day)
DailyDelta = dict[DailyKey, Counter[str]]


@dataclass(frozen=True)
class Facts766:
    agency_code: str
    accepted_at: datetime | None = None
    digitized: bool | None = None
    resolved_at: datetime | None = None
    result_digitized: bool | None = None
    fee_paid_at: datetime | None = None
    fee_online: bool | None = None
    rated_at: datetime | None = None
    satisfaction: int | None = None


#: the event types that always carry a 766 fact; a result returned carries one when the citizen rated it
FACT_TYPES = frozenset({EventType.ACCEPTED, EventType.RESOLVED, EventType.FEE_PAID})


def carries_facts(e: DossierEvent) -> bool:
    return e.event_type in FACT_TYPES or (
        isinstance(e, DossierResultReturned) and e.payload.satisfaction is not None
    )


def apply(f: Facts766 | None, e: DossierEvent) -> Facts766:
    """The dossier's facts after ``e`` (an event without a 766 fact leaves them as they were)."""
    f = f or Facts766(e.agency_code)
    at = e.occurred_at
    if isinstance(e, DossierAccepted) and (f.accepted_at is None or at >= f.accepted_at):
        return replace(f, accepted_at=at, digitized=e.payload.digitized)
    if isinstance(e, DossierResolved) and (f.resolved_at is None or at >= f.resolved_at):
        return replace(f, resolved_at=at, result_digitized=e.payload.result_digitized)
    if isinstance(e, DossierFeePaid):
        first = at if f.fee_paid_at is None else min(f.fee_paid_at, at)
        return replace(f, fee_paid_at=first, fee_online=bool(f.fee_online) or e.payload.online)
    if (
        isinstance(e, DossierResultReturned)
        and e.payload.satisfaction is not None
        and (f.rated_at is None or at >= f.rated_at)
    ):
        return replace(f, rated_at=at, satisfaction=e.payload.satisfaction)
    return f


def contributions(f: Facts766 | None, tz: ZoneInfo) -> DailyDelta:
    """The daily counts this dossier stands for, each on its event's local day."""
    out: DailyDelta = {}
    if f is None:
        return out

    def add(at: datetime, *names: str) -> None:
        slot = out.setdefault((f.agency_code, at.astimezone(tz).date()), Counter())
        for n in names:
            slot[n] += 1

    if f.accepted_at is not None:
        add(f.accepted_at, "accepted", *(("accepted_digitized",) if f.digitized else ()))
    if f.resolved_at is not None:
        add(f.resolved_at, "resolved_events", *(("results_digitized",) if f.result_digitized else ()))
    if f.fee_paid_at is not None:
        add(f.fee_paid_at, "fees_paid", *(("fees_paid_online",) if f.fee_online else ()))
    if f.rated_at is not None and f.satisfaction is not None:
        add(f.rated_at, f"rated_{f.satisfaction}")
    return out


def delta(old: Facts766 | None, new: Facts766 | None, tz: ZoneInfo) -> DailyDelta:
    """``contributions(new) - contributions(old)``, zero counters dropped."""
    out: DailyDelta = {}
    for sign, f in ((-1, old), (1, new)):
        for key, counts in contributions(f, tz).items():
            slot = out.setdefault(key, Counter())
            for name, n in counts.items():
                slot[name] += sign * n
    return {k: Counter({n: v for n, v in c.items() if v}) for k, c in out.items() if any(c.values())}


#: a batch's delta while it is summed: plain dicts, no ``Counter`` per dossier (see :func:`add_delta`)
Accumulator = dict[DailyKey, dict[str, int]]


def add_delta(acc: Accumulator, old: Facts766 | None, new: Facts766 | None, tz: ZoneInfo) -> None:
    """Add ``contributions(new) - contributions(old)`` to ``acc`` (issue #16: one sum per batch).

    A part of the facts (acceptance, resolution, fee, rating) that is the same in both, for the same
    agency, cancels out and is not booked: a dossier's new event usually changes one part.
    """
    same_agency = old is not None and new is not None and old.agency_code == new.agency_code
    for sign, f in ((-1, old), (1, new)):
        if f is None:
            continue
        other = (new if sign < 0 else old) if same_agency else None
        if f.accepted_at is not None and (
            other is None or other.accepted_at != f.accepted_at or other.digitized != f.digitized
        ):
            _book(
                acc,
                sign,
                f.agency_code,
                f.accepted_at,
                tz,
                "accepted",
                "accepted_digitized" if f.digitized else "",
            )
        if f.resolved_at is not None and (
            other is None
            or other.resolved_at != f.resolved_at
            or other.result_digitized != f.result_digitized
        ):
            _book(
                acc,
                sign,
                f.agency_code,
                f.resolved_at,
                tz,
                "resolved_events",
                "results_digitized" if f.result_digitized else "",
            )
        if f.fee_paid_at is not None and (
            other is None or other.fee_paid_at != f.fee_paid_at or other.fee_online != f.fee_online
        ):
            _book(
                acc,
                sign,
                f.agency_code,
                f.fee_paid_at,
                tz,
                "fees_paid",
                "fees_paid_online" if f.fee_online else "",
            )
        if (
            f.rated_at is not None
            and f.satisfaction is not None
            and (other is None or other.rated_at != f.rated_at or other.satisfaction != f.satisfaction)
        ):
            _book(acc, sign, f.agency_code, f.rated_at, tz, f"rated_{f.satisfaction}", "")


def _book(acc: Accumulator, sign: int, agency: str, at: datetime, tz: ZoneInfo, name: str, also: str) -> None:
    key = (agency, at.astimezone(tz).date())
    slot = acc.get(key)
    if slot is None:
        slot = acc[key] = {}
    slot[name] = slot.get(name, 0) + sign
    if also:
        slot[also] = slot.get(also, 0) + sign


def grouped(acc: Accumulator) -> DailyDelta:
    """The summed delta with zero counters and keys left with none dropped."""
    out: DailyDelta = {}
    for key, counts in acc.items():
        nonzero = Counter({name: n for name, n in counts.items() if n})
        if nonzero:
            out[key] = nonzero
    return out


def measures(daily: dict[str, int], satisfied_at_least: int) -> dict[str, int]:
    """The index's event measures from summed daily counters (rated, rated_satisfied from the levels)."""
    out = {k: int(daily.get(k, 0)) for k in DAILY if not k.startswith("rated_")}
    out["rated"] = sum(int(daily.get(f"rated_{k}", 0)) for k in range(1, 6))
    out["rated_satisfied"] = sum(int(daily.get(f"rated_{k}", 0)) for k in range(satisfied_at_least, 6))
    return out
