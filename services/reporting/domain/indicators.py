"""Progress indicators of Decision 766/QĐ-TTg from the period's flows.

- on-time rate, legal clock: (early + on time) / resolved
- on-time rate, national-index clock: (resolved - late on the index clock) / resolved
- online rate: received online / newly received
- average processing time: Σ working days accepted → resolved / resolved dossiers counted

A rate with nothing to divide is ``None`` (shown as "—"), never 0 or 100 %.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def indicators(flow: Mapping[str, int]) -> dict[str, Any]:
    """The Decision 766 numbers of one agency (or of a total) from its flow counters."""
    resolved = flow.get("resolved_early", 0) + flow.get("resolved_on_time", 0) + flow.get("resolved_late", 0)
    on_time = flow.get("resolved_early", 0) + flow.get("resolved_on_time", 0)
    index_late = flow.get("resolved_index_late", 0)
    received = flow.get("received", 0)
    n = flow.get("processing_n", 0)
    return {
        "received": received,
        "received_online": flow.get("received_online", 0),
        "resolved": resolved,
        "resolved_on_time": on_time,
        "resolved_index_on_time": resolved - index_late,
        "on_time_rate": _ratio(on_time, resolved),
        "on_time_rate_index": _ratio(resolved - index_late, resolved),
        "online_rate": _ratio(flow.get("received_online", 0), received),
        "average_processing_working_days": round(flow.get("processing_mdays", 0) / n / 1000, 2)
        if n
        else None,
    }
