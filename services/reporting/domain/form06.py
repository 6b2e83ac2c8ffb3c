"""Biểu 06/VPCP/KSTT — kết quả giải quyết thủ tục hành chính — from cumulative counters.

For a period [start, end): flows are ``cum(end) - cum(start)``; carried over (số kỳ trước
chuyển qua) is the pending stock at ``start``; pending (đang giải quyết) is the stock at
``end``, of which overdue (quá hạn) are those whose legal due moment has passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.contracts.reports import FORM06_KEYS

#: Display order of agency levels and their names (Vietnamese, English).
LEVELS: dict[str, tuple[str, str]] = {
    "province": ("Cấp tỉnh", "Province"),
    "department": ("Sở, ban, ngành cấp tỉnh", "Provincial departments"),
    "district": ("Cấp huyện", "District"),
    "commune": ("Cấp xã", "Commune"),
    "public_service_unit": ("Đơn vị sự nghiệp", "Public service units"),
    "other": ("Khác", "Other"),
}
UNCLASSIFIED_FIELD = ("Chưa phân loại lĩnh vực", "Field not known")


def form06_counts(start: Mapping[str, int], end: Mapping[str, int], pending_overdue: int) -> dict[str, int]:
    """The eleven Biểu 06 numbers from the cumulative counters at the period's two ends."""

    def flow(name: str) -> int:
        return int(end.get(name, 0)) - int(start.get(name, 0))

    received_new = flow("received")
    online = flow("received_online")
    carried = int(start.get("received", 0)) - int(start.get("closed", 0))
    early, on_time, late = flow("resolved_early"), flow("resolved_on_time"), flow("resolved_late")
    pending = int(end.get("received", 0)) - int(end.get("closed", 0))
    return {
        "received_total": carried + received_new,
        "received_online": online,
        "received_offline": received_new - online,
        "carried_over": carried,
        "resolved_total": early + on_time + late,
        "resolved_early": early,
        "resolved_on_time": on_time,
        "resolved_late": late,
        "pending_total": pending,
        "pending_within": pending - pending_overdue,
        "pending_overdue": pending_overdue,
    }


def overdue_at(end: Mapping[str, int]) -> int:
    """Pending overdue at a midnight ``t`` from the cumulative counters before ``t``."""
    return int(end.get("due", 0)) - int(end.get("due_closed", 0))


def is_empty(counts: Mapping[str, int]) -> bool:
    return not any(counts.values())


def add(into: dict[str, int], more: Mapping[str, int]) -> None:
    for k, v in more.items():
        into[k] = into.get(k, 0) + v


def zero() -> dict[str, int]:
    return dict.fromkeys(FORM06_KEYS, 0)


@dataclass(frozen=True)
class AgencyInfo:
    code: str
    name: str
    level: str


def assemble(
    cells: Mapping[tuple[str, str], Mapping[str, int]],
    agencies: Mapping[str, AgencyInfo],
) -> dict[str, Any]:
    """Rows per agency, totals, and the level → field sections, from per (agency, field) counts.

    Agencies and fields whose numbers are all zero are left out, so a replay into empty
    tables gives the same document as the live tables. (Sums run on lists in
    :data:`FORM06_KEYS` order: a province has thousands of cells.)
    """
    width = len(FORM06_KEYS)
    order = {lvl: i for i, lvl in enumerate(LEVELS)}

    def level_of(code: str) -> str:
        lvl = agencies[code].level if code in agencies else "other"
        return lvl if lvl in LEVELS else "other"

    def acc(into: dict[Any, list[int]], key: Any, v: list[int]) -> None:
        slot = into.get(key)
        if slot is None:
            into[key] = list(v)
        else:
            for i in range(width):
                slot[i] += v[i]

    per_agency: dict[str, list[int]] = {}
    per_level: dict[str, list[int]] = {}
    per_level_field: dict[tuple[str, str], list[int]] = {}
    per_field: dict[str, list[int]] = {}
    for (agency, fld), counts in cells.items():
        v = [counts[k] for k in FORM06_KEYS]
        if not any(v):
            continue
        level = level_of(agency)
        acc(per_agency, agency, v)
        acc(per_level, level, v)
        acc(per_level_field, (level, fld), v)
        acc(per_field, fld, v)

    def as_dict(v: list[int]) -> dict[str, int]:
        return dict(zip(FORM06_KEYS, v, strict=True))

    ranked = sorted((a for a, v in per_agency.items() if any(v)), key=lambda c: (order[level_of(c)], c))
    rows = [{"agency_code": a, **as_dict(per_agency[a])} for a in ranked]
    totals = [0] * width
    for a in ranked:
        for i in range(width):
            totals[i] += per_agency[a][i]
    groups = []
    for level in sorted(per_level, key=lambda lv: order[lv]):
        if not any(per_level[level]):
            continue
        groups.append(
            {
                "level": level,
                "name": LEVELS[level][0],
                "agencies": [a for a in ranked if level_of(a) == level],
                "totals": as_dict(per_level[level]),
                "fields": [
                    {"field": f, **as_dict(v)}
                    for (lv, f), v in sorted(per_level_field.items())
                    if lv == level and any(v)
                ],
            }
        )
    return {
        "rows": rows,
        "totals": as_dict(totals),
        "groups": groups,
        "fields": [{"field": f, **as_dict(v)} for f, v in sorted(per_field.items()) if any(v)],
        "agencies": {
            code: {"name": agencies[code].name if code in agencies else None, "level": level_of(code)}
            for code in ranked
        },
    }


def field_label(name: str, lang: str = "vi") -> str:
    """How an empty field (procedure not known to the registry yet) is shown."""
    if name:
        return name
    return UNCLASSIFIED_FIELD[0] if lang == "vi" else UNCLASSIFIED_FIELD[1]


def level_label(level: str, lang: str = "vi") -> str:
    names = LEVELS.get(level, LEVELS["other"])
    return names[0] if lang == "vi" else names[1]
