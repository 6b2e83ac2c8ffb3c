"""ISO QMS status report (báo cáo tình hình áp dụng HTQLCL) for a period.

Counting rules (docs/reporting.md):
- an agency counts when the registry knows it and it existed during the period;
- its QMS state on a day is that of its last transition on or before the day; a record
  without dated transitions is taken at its current state;
- announced = announced, updating or re-announced at the end of the period;
- updating or expanding = in the updating state at some moment of the period (already at
  its start, or entered during it, or re-announced during it);
- re-announced = re-announced during the period; reviewing = updating at its end;
- the same figures per ISO obligation (mandatory / encouraged) in ``by_obligation``, with the
  on-time-rate quality objectives set and attained.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from shared.contracts.registry import AgencyRecord, IsoObligation, QmsRecord, QmsState

ANNOUNCED_STATES = frozenset({QmsState.ANNOUNCED, QmsState.UPDATING, QmsState.REANNOUNCED})

#: the annual report's figures per ISO obligation (mandatory / encouraged, Decision 19/2014 art. 2)
OBLIGATION_KEYS = (
    "total",
    "announced",
    "updating_or_expanding",
    "reannounced",
    "reviewing",
    "internal_audits",
    "management_reviews",
    "objectives_set",
    "objectives_attained",
)


@dataclass(frozen=True)
class Window:
    first: date
    last: date

    def contains(self, d: date) -> bool:
        return self.first <= d <= self.last


def exists_during(agency: AgencyRecord, w: Window) -> bool:
    return (agency.valid_from is None or agency.valid_from <= w.last) and (
        agency.valid_to is None or agency.valid_to >= w.first
    )


def state_on(qms: QmsRecord | None, d: date) -> QmsState:
    """The QMS state on day ``d``."""
    if qms is None:
        return QmsState.NOT_STARTED
    if not qms.transitions:
        return qms.state
    state = QmsState.NOT_STARTED
    for t in sorted(qms.transitions, key=lambda t: t.on):
        if t.on <= d:
            state = t.state
    return state


def _entered(qms: QmsRecord, state: QmsState, w: Window) -> bool:
    if not qms.transitions:
        return qms.state is state
    return any(t.state is state and w.contains(t.on) for t in qms.transitions)


def qms_status(
    agencies: Sequence[AgencyRecord],
    qms: Mapping[str, QmsRecord],
    w: Window,
    on_time_rates: Mapping[str, float | None],
) -> dict[str, Any]:
    """The report's numbers; ``on_time_rates`` are the measured rates of the period per agency."""
    counted = [a for a in agencies if exists_during(a, w)]
    out: dict[str, Any] = dict.fromkeys(
        (
            "agencies_total",
            "announced",
            "mandatory",
            "mandatory_announced",
            "encouraged",
            "encouraged_announced",
            "updating_or_expanding",
            "reannounced",
            "reviewing",
            "internal_audits",
            "management_reviews",
            "agencies_audited",
            "agencies_reviewed",
            "quality_policies",
            "policies_posted_at_office",
            "policies_posted_on_website",
        ),
        0,
    )
    by_level: dict[str, dict[str, int]] = {}
    by_obligation = {o: dict.fromkeys(OBLIGATION_KEYS, 0) for o in ("mandatory", "encouraged")}
    objectives: list[dict[str, Any]] = []
    for a in sorted(counted, key=lambda a: a.code):
        q = qms.get(a.code)
        end_state = state_on(q, w.last)
        announced = end_state in ANNOUNCED_STATES
        mandatory = a.iso_obligation is IsoObligation.MANDATORY
        out["agencies_total"] += 1
        out["announced"] += announced
        out["mandatory" if mandatory else "encouraged"] += 1
        out["mandatory_announced" if mandatory else "encouraged_announced"] += announced
        lvl = by_level.setdefault(a.level.value, {"total": 0, "announced": 0})
        lvl["total"] += 1
        lvl["announced"] += announced
        ob = by_obligation["mandatory" if mandatory else "encouraged"]
        ob["total"] += 1
        ob["announced"] += announced
        if q is None:
            continue
        reannounced = _entered(q, QmsState.REANNOUNCED, w)
        updating = (
            state_on(q, w.first) is QmsState.UPDATING or _entered(q, QmsState.UPDATING, w) or reannounced
        )
        out["updating_or_expanding"] += updating
        out["reannounced"] += reannounced
        out["reviewing"] += updating and end_state is QmsState.UPDATING
        audits = [r for r in q.reviews if r.kind == "internal_audit" and w.contains(r.held_on)]
        reviews = [r for r in q.reviews if r.kind == "management_review" and w.contains(r.held_on)]
        out["internal_audits"] += len(audits)
        out["management_reviews"] += len(reviews)
        out["agencies_audited"] += bool(audits)
        out["agencies_reviewed"] += bool(reviews)
        ob["updating_or_expanding"] += updating
        ob["reannounced"] += reannounced
        ob["reviewing"] += updating and end_state is QmsState.UPDATING
        ob["internal_audits"] += len(audits)
        ob["management_reviews"] += len(reviews)
        if q.policy is not None and q.policy.issued_on <= w.last:
            out["quality_policies"] += 1
            out["policies_posted_at_office"] += q.policy.posted_at_office
            out["policies_posted_on_website"] += q.policy.posted_on_website
        for o in q.objectives:
            if o.metric != "on_time_rate" or not (w.first.year <= o.year <= w.last.year):
                continue
            measured = on_time_rates.get(a.code)
            ob["objectives_set"] += 1
            ob["objectives_attained"] += measured is not None and Decimal(str(measured)) >= o.target
            objectives.append(
                {
                    "agency_code": a.code,
                    "name": a.name,
                    "year": o.year,
                    "metric": o.metric,
                    "target": float(o.target),
                    "measured": measured,
                    "attained": None if measured is None else Decimal(str(measured)) >= o.target,
                }
            )
    out["by_level"] = by_level
    out["by_obligation"] = by_obligation
    out["quality_objectives"] = {
        "set": len(objectives),
        "measured": sum(1 for o in objectives if o["measured"] is not None),
        "attained": sum(1 for o in objectives if o["attained"]),
        "agencies": objectives,
    }
    return out
