"""Nonconformity counts per (agency × procedure × detection day × code × status), by deltas."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

NcKey = tuple[str, str, date, str, str]


@dataclass(frozen=True, slots=True)  # no __dict__: one object less a fact for the GC
class NcFact:
    """One nonconformity of a dossier as the rollup sees it."""

    agency_code: str
    procedure_code: str
    detected_at: datetime
    code: str
    status: str


def nc_delta(old: Iterable[NcFact], new: Iterable[NcFact], tz: ZoneInfo) -> Counter[NcKey]:
    """Counts of ``new`` minus counts of ``old``; zero entries dropped."""
    out: Counter[NcKey] = Counter()
    for sign, facts in ((-1, old), (1, new)):
        for f in facts:
            out[(f.agency_code, f.procedure_code, f.detected_at.astimezone(tz).date(), f.code, f.status)] += (
                sign
            )
    return Counter({k: v for k, v in out.items() if v})
