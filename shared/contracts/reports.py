"""Report contracts that more than one component relies on (reporting serves them, the simulator checks them)."""

from __future__ import annotations

#: The JSON keys of a Biểu 06/VPCP/KSTT row and of its ``totals`` object, in the form's column order.
FORM06_KEYS: tuple[str, ...] = (
    "received_total",
    "received_online",
    "received_offline",
    "carried_over",
    "resolved_total",
    "resolved_early",
    "resolved_on_time",
    "resolved_late",
    "pending_total",
    "pending_within",
    "pending_overdue",
)
