"""SUPPLEMENT_LATE and SUPPLEMENT_REPEATED (Decree 61/2018 art. 19(4); Decision 766 formula).

The request for missing documents (yêu cầu bổ sung) must come within the configured number of
working days of the counted reception moment, and at once: a second request is a
nonconformity, and counts the dossier as late in the national index.
"""

from __future__ import annotations

from datetime import datetime

from services.processing.domain.clauses import Findings
from services.processing.domain.history import DossierHistory
from services.processing.domain.inputs import ClockRules
from shared.calendar import WorkingCalendar
from shared.contracts.compliance import NonconformityCode


def judge_supplements(
    history: DossierHistory, start: datetime | None, calendar: WorkingCalendar, rules: ClockRules
) -> Findings:
    """Supplement nonconformities; ``start`` is the counted reception moment (None before acceptance)."""
    found = Findings()
    requests = history.supplement_requests
    if not requests:
        return found
    first = requests[0]
    if start is not None:
        window = rules.supplement_window_working_days
        deadline = calendar.add_working_days(start, window)
        if first.occurred_at > deadline:
            found.raise_(
                NonconformityCode.SUPPLEMENT_LATE,
                first.occurred_at,
                [first.event_id],
                f"supplement requested {first.occurred_at.isoformat()}, after the {window}-working-day "
                f"window that ended {deadline.isoformat()} (yêu cầu bổ sung quá hạn)",
            )
    if len(requests) > 1:
        second = requests[1]
        found.raise_(
            NonconformityCode.SUPPLEMENT_REPEATED,
            second.occurred_at,
            [r.event_id for r in requests],
            f"{len(requests)} supplement requests; the missing documents must be asked for at once "
            "(yêu cầu bổ sung quá 01 lần — counted late in the national index)",
        )
    return found
