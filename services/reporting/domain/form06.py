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


#: What the Biểu 06 numbers of a cell are computed from: the period's flows, the pending stock
#: at its start (carried over) and at its end, and the overdue part of the latter. Each is a
#: linear function of the rollup counters, so they add up over agencies, fields and buckets.
FORM06_INPUTS = (
    "received",
    "received_online",
    "resolved_early",
    "resolved_on_time",
    "resolved_late",
    "carried_over",
    "pending",
    "pending_overdue",
)


def form06_inputs(start: Mapping[str, int], end: Mapping[str, int], pending_overdue: int) -> dict[str, int]:
    """:data:`FORM06_INPUTS` from the cumulative counters at the period's two ends."""

    def flow(name: str) -> int:
        return int(end.get(name, 0)) - int(start.get(name, 0))

    return {
        "received": flow("received"),
        "received_online": flow("received_online"),
        "resolved_early": flow("resolved_early"),
        "resolved_on_time": flow("resolved_on_time"),
        "resolved_late": flow("resolved_late"),
        "carried_over": int(start.get("received", 0)) - int(start.get("closed", 0)),
        "pending": int(end.get("received", 0)) - int(end.get("closed", 0)),
        "pending_overdue": pending_overdue,
    }


def form06_numbers(inputs: Mapping[str, int]) -> dict[str, int]:
    """The eleven Biểu 06 numbers (:data:`FORM06_KEYS`) from :data:`FORM06_INPUTS`."""
    received_new = int(inputs.get("received", 0))
    online = int(inputs.get("received_online", 0))
    carried = int(inputs.get("carried_over", 0))
    early = int(inputs.get("resolved_early", 0))
    on_time = int(inputs.get("resolved_on_time", 0))
    late = int(inputs.get("resolved_late", 0))
    pending = int(inputs.get("pending", 0))
    overdue = int(inputs.get("pending_overdue", 0))
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
        "pending_within": pending - overdue,
        "pending_overdue": overdue,
    }


def form06_counts(start: Mapping[str, int], end: Mapping[str, int], pending_overdue: int) -> dict[str, int]:
    """The eleven Biểu 06 numbers from the cumulative counters at the period's two ends."""
    return form06_numbers(form06_inputs(start, end, pending_overdue))


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


def level_of(code: str, agencies: Mapping[str, AgencyInfo]) -> str:
    """The agency's level as the form groups it (unknown agencies and levels: "other")."""
    lvl = agencies[code].level if code in agencies else "other"
    return lvl if lvl in LEVELS else "other"


@dataclass(frozen=True)
class Sections:
    """Biểu 06 numbers summed per agency, per level, per (level, field), per field and in total."""

    agencies: Mapping[str, Mapping[str, int]]
    levels: Mapping[str, Mapping[str, int]]
    level_fields: Mapping[tuple[str, str], Mapping[str, int]]
    fields: Mapping[str, Mapping[str, int]]
    totals: Mapping[str, int]


def sections(
    cells: Mapping[tuple[str, str], Mapping[str, int]], agencies: Mapping[str, AgencyInfo]
) -> Sections:
    """:class:`Sections` from per (agency, field) numbers (the reports sum them in SQL instead).

    (Sums run on lists in :data:`FORM06_KEYS` order: a province has thousands of cells.)
    """
    width = len(FORM06_KEYS)

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
    totals = [0] * width
    for (agency, fld), counts in cells.items():
        v = [counts[k] for k in FORM06_KEYS]
        if not any(v):
            continue
        level = level_of(agency, agencies)
        acc(per_agency, agency, v)
        acc(per_level, level, v)
        acc(per_level_field, (level, fld), v)
        acc(per_field, fld, v)
        for i in range(width):
            totals[i] += v[i]

    def as_dicts(d: dict[Any, list[int]]) -> dict[Any, dict[str, int]]:
        return {k: dict(zip(FORM06_KEYS, v, strict=True)) for k, v in d.items()}

    return Sections(
        as_dicts(per_agency),
        as_dicts(per_level),
        as_dicts(per_level_field),
        as_dicts(per_field),
        dict(zip(FORM06_KEYS, totals, strict=True)),
    )


def layout(s: Sections, agencies: Mapping[str, AgencyInfo]) -> dict[str, Any]:
    """Rows per agency, totals, and the level → field sections of the printed form.

    Agencies, levels and fields whose numbers are all zero are left out, so a replay into
    empty tables gives the same document as the live tables.
    """
    order = {lvl: i for i, lvl in enumerate(LEVELS)}

    def nonzero(v: Mapping[str, int]) -> bool:
        return any(v.values())

    ranked = sorted(
        (a for a, v in s.agencies.items() if nonzero(v)), key=lambda c: (order[level_of(c, agencies)], c)
    )
    groups = []
    for level in sorted(s.levels, key=lambda lv: order[lv]):
        if not nonzero(s.levels[level]):
            continue
        groups.append(
            {
                "level": level,
                "name": LEVELS[level][0],
                "agencies": [a for a in ranked if level_of(a, agencies) == level],
                "totals": {k: s.levels[level][k] for k in FORM06_KEYS},
                "fields": [
                    {"field": f, **{k: v[k] for k in FORM06_KEYS}}
                    for (lv, f), v in sorted(s.level_fields.items())
                    if lv == level and nonzero(v)
                ],
            }
        )
    return {
        "rows": [{"agency_code": a, **{k: s.agencies[a][k] for k in FORM06_KEYS}} for a in ranked],
        "totals": {k: s.totals[k] for k in FORM06_KEYS},
        "groups": groups,
        "fields": [
            {"field": f, **{k: v[k] for k in FORM06_KEYS}} for f, v in sorted(s.fields.items()) if nonzero(v)
        ],
        "agencies": {
            code: {
                "name": agencies[code].name if code in agencies else None,
                "level": level_of(code, agencies),
            }
            for code in ranked
        },
    }


def assemble(
    cells: Mapping[tuple[str, str], Mapping[str, int]],
    agencies: Mapping[str, AgencyInfo],
) -> dict[str, Any]:
    """The Biểu 06 document from per (agency, field) numbers: :func:`layout` of :func:`sections`."""
    return layout(sections(cells, agencies), agencies)


def field_label(name: str, lang: str = "vi") -> str:
    """How an empty field (procedure not known to the registry yet) is shown."""
    if name:
        return name
    return UNCLASSIFIED_FIELD[0] if lang == "vi" else UNCLASSIFIED_FIELD[1]


def level_label(level: str, lang: str = "vi") -> str:
    names = LEVELS.get(level, LEVELS["other"])
    return names[0] if lang == "vi" else names[1]
