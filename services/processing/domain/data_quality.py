"""IMPOSSIBLE_ORDER: a dossier whose events cannot have happened in the recorded order (issue #12).

A dossier resolved before it was accepted, or whose result was returned before it was resolved
(or accepted), carries wrong times: judging it would count 0 (or negative) processing days and
an early outcome. It gets a data-quality finding instead of an outcome, until the emitter sends
the right times.
"""

from __future__ import annotations

from services.processing.domain.clauses import Findings
from services.processing.domain.history import DossierHistory
from shared.contracts.compliance import NonconformityCode
from shared.contracts.events import DossierEvent

_VI = {
    "dossier.accepted": "tiếp nhận",
    "dossier.resolved": "giải quyết",
    "dossier.result_returned": "trả kết quả",
}


def judge_order(history: DossierHistory) -> Findings:
    """One IMPOSSIBLE_ORDER per pair of milestones recorded in an impossible order."""
    found = Findings()
    pairs: list[tuple[DossierEvent | None, DossierEvent | None]] = [
        (history.accepted, history.resolution),
        (history.resolution, history.returned),
    ]
    if history.resolution is None:
        pairs.append((history.accepted, history.returned))
    for before, after in pairs:
        if before is None or after is None or after.occurred_at >= before.occurred_at:
            continue
        found.raise_(
            NonconformityCode.IMPOSSIBLE_ORDER,
            before.occurred_at,
            [before.event_id, after.event_id],
            f"{after.event_type.value} at {after.occurred_at.isoformat()} precedes "
            f"{before.event_type.value} at {before.occurred_at.isoformat()} "
            f"({_VI[after.event_type.value]} trước khi {_VI[before.event_type.value]}); "
            "no outcome until the emitter sends the right times",
        )
    return found
