"""Reading the ground truth: counts per rule code and the Biểu 06 numbers it implies.

The Biểu 06 arithmetic follows the form's definitions (docs/reporting.md): received on the
acceptance day (online = channel 2, the rest in person or by post), resolved by outcome on the
resolution day, carried over = accepted before the period and not closed before it, pending
at the end = accepted and not closed by then, pending overdue = due by then and not closed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.contracts.reports import FORM06_KEYS


def code_counts(truth: Iterable[Mapping[str, Any]]) -> Counter[str]:
    """Dossiers per rule code (each template raises a code at most once per dossier)."""
    counts: Counter[str] = Counter()
    for row in truth:
        counts.update(row["codes"])
    return counts


def _day(value: str | None, tz: ZoneInfo) -> date | None:
    return datetime.fromisoformat(value).astimezone(tz).date() if value else None


def expected_form06(
    truth: Iterable[Mapping[str, Any]], first: date, last: date, tz: ZoneInfo
) -> dict[str, dict[str, int]]:
    """Biểu 06 per agency for the local days ``first``..``last`` (``last`` at most yesterday)."""
    rows: dict[str, Counter[str]] = {}
    for t in truth:
        accepted = _day(t["accepted_at"], tz)
        if accepted is None:
            continue  # never accepted: not on the form
        closed = _day(t["closed_at"] or t["resolved_at"], tz)
        resolved = _day(t["resolved_at"], tz)
        due = _day(t["due_at"], tz)
        row = rows.setdefault(t["agency_code"], Counter())
        if first <= accepted <= last:
            row["received_online" if t["channel"] == 2 else "received_offline"] += 1
        if accepted < first and (closed is None or closed >= first):
            row["carried_over"] += 1
        if (
            resolved is not None
            and first <= resolved <= last
            and t["outcome"] in ("early", "on_time", "late")
        ):
            row[f"resolved_{t['outcome']}"] += 1
        if accepted <= last and (closed is None or closed > last):
            row["pending_total"] += 1
            if due is not None and due <= last:
                row["pending_overdue"] += 1
    out: dict[str, dict[str, int]] = {}
    for agency, c in rows.items():
        c["received_total"] = c["carried_over"] + c["received_online"] + c["received_offline"]
        c["resolved_total"] = c["resolved_early"] + c["resolved_on_time"] + c["resolved_late"]
        c["pending_within"] = c["pending_total"] - c["pending_overdue"]
        if any(c.values()):
            out[agency] = {k: c[k] for k in FORM06_KEYS}
    return out


def totals(rows: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """The province total of per-agency rows."""
    return {k: sum(r.get(k, 0) for r in rows.values()) for k in FORM06_KEYS}
