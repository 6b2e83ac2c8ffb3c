"""Report builders: read models + domain rules → the documents the API and dashboard serve."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.reporting.adapters import views
from services.reporting.domain.cumulative import Weights, add_counts, weigh
from services.reporting.domain.form06 import LEVELS, AgencyInfo, Sections, form06_numbers, layout
from services.reporting.domain.forms import Frame
from services.reporting.domain.indicators import indicators
from services.reporting.domain.periods import Period, period_name
from services.reporting.domain.qms import Window, qms_status
from services.reporting.domain.rollup import COUNTERS
from shared.contracts.reports import FORM06_KEYS
from shared.db import Conn


class ScopeError(Exception):
    """The caller asked for agencies outside what it may see."""


@dataclass(frozen=True)
class Bounds:
    """A period as instants in the reporting time zone."""

    period: Period
    start: datetime
    end: datetime
    now: datetime

    @property
    def as_of(self) -> datetime:
        """Stocks at the end of a past period; at ``now`` for the running one."""
        return min(self.end, self.now)

    @property
    def running(self) -> bool:
        return self.end > self.now

    def describe(self) -> dict[str, Any]:
        return {
            "label": self.period.label,
            "calendar": self.period.kind,
            "first": self.period.first.isoformat(),
            "last": self.period.last.isoformat(),
        }


def bounds(period: Period, tz: ZoneInfo, now: datetime) -> Bounds:
    return Bounds(
        period,
        datetime.combine(period.first, time(0), tz),
        datetime.combine(period.end_exclusive, time(0), tz),
        now.astimezone(tz),
    )


async def scope(conn: Conn, agency: str | None, allowed_root: str | None) -> list[str] | None:
    """The agencies a report covers: ``agency`` and its subtree, within what the caller may see.

    ``None`` means every agency (no filter).
    """
    allowed = await views.subtree(conn, allowed_root) if allowed_root is not None else None
    if agency is None:
        return allowed
    if allowed is not None and agency not in allowed:
        raise ScopeError(
            f"agency {agency!r} is outside your agency subtree ({allowed_root}); ask for one of its agencies"
        )
    return await views.subtree(conn, agency)


#: weights of a point's cumulative counters in the Biểu 06 inputs: (flow, start stock, end stock, overdue)
_START: Weights = (-1, 1, 0, 0)
_END: Weights = (1, 0, 1, 1)
_END_RUNNING: Weights = (1, 0, 1, 0)  # overdue is judged now, not at the period's end
_TODAY: Weights = (0, 0, 0, 1)


async def form06_sections(
    conn: Conn, b: Bounds, agencies: Sequence[str] | None
) -> tuple[Sections, dict[str, AgencyInfo]]:
    """Biểu 06 numbers per agency, level, (level, field), field and in total; the agencies' names and levels.

    Flows are ``cum(end) - cum(start)``, carried over and pending the stocks at the two ends,
    pending overdue the stock at the end (at ``now`` for the running period): one weighted
    read of the buckets (:func:`~services.reporting.domain.cumulative.weigh`), summed in SQL.
    """
    points = [(b.period.first, _START)]
    today: tuple[datetime, datetime] | None = None
    if b.running:
        points += [(b.period.end_exclusive, _END_RUNNING), (b.now.date(), _TODAY)]
        today = (datetime.combine(b.now.date(), time(0), b.now.tzinfo), b.now)
    else:
        points.append((b.period.end_exclusive, _END))
    sums = await views.form06_sums(conn, weigh(points), agencies, list(LEVELS), today)
    s = Sections(
        {a: form06_numbers(v) for a, v in sums.agencies.items()},
        {lv: form06_numbers(v) for lv, v in sums.levels.items()},
        {k: form06_numbers(v) for k, v in sums.level_fields.items()},
        {f: form06_numbers(v) for f, v in sums.fields.items()},
        form06_numbers(sums.totals),
    )
    return s, sums.infos


async def form06(conn: Conn, b: Bounds, agency: str | None, agencies: Sequence[str] | None) -> dict[str, Any]:
    """Biểu 06/VPCP/KSTT as a JSON document (rows per agency, level → field sections, totals)."""
    s, infos = await form06_sections(conn, b, agencies)
    return {
        "form": "06/VPCP/KSTT",
        "title": "Tình hình, kết quả giải quyết thủ tục hành chính",
        "period": b.describe(),
        "as_of": b.as_of.isoformat(),
        "agency": agency,
        **layout(s, infos),
    }


async def flows_per_agency(
    conn: Conn, b: Bounds, agencies: Sequence[str] | None
) -> dict[str, dict[str, int]]:
    """Period flows (every counter) per agency: ``cum(end) - cum(start)``, in one weighted read."""
    pieces = weigh([(b.period.first, (-1,)), (b.period.end_exclusive, (1,))])
    flows = await views.flows_by_agency(conn, pieces, agencies)
    return {a: c for a, c in flows.items() if any(c.values())}


async def indicators_766(
    conn: Conn, b: Bounds, agency: str | None, agencies: Sequence[str] | None
) -> dict[str, Any]:
    """Decision 766 progress indicators per agency, per level and for the whole scope."""
    flows = await flows_per_agency(conn, b, agencies)
    infos = await views.agency_infos(conn)
    total = dict.fromkeys(COUNTERS, 0)
    by_level: dict[str, dict[str, int]] = {}
    rows = []
    for code in sorted(flows):
        add_counts(total, flows[code])
        level = infos[code].level if code in infos else "other"
        add_counts(by_level.setdefault(level, dict.fromkeys(COUNTERS, 0)), flows[code])
        rows.append(
            {"agency_code": code, "name": infos[code].name if code in infos else None, "level": level}
            | indicators(flows[code])
        )
    return {
        "report": "decision-766",
        "period": b.describe(),
        "agency": agency,
        "rows": rows,
        "levels": [{"level": lvl} | indicators(c) for lvl, c in sorted(by_level.items())],
        "totals": indicators(total),
    }


async def qms(conn: Conn, b: Bounds, agency: str | None, agencies: Sequence[str] | None) -> dict[str, Any]:
    """ISO QMS status of the agencies in scope for the period."""
    found, records = await views.qms_inputs(conn, agencies)
    flows = await flows_per_agency(conn, b, agencies)
    rates = {code: indicators(f)["on_time_rate"] for code, f in flows.items()}
    return {
        "report": "qms-status",
        "period": b.describe(),
        "agency": agency,
        **qms_status(found, records, Window(b.period.first, b.period.last), rates),
    }


async def nonconformities(
    conn: Conn,
    b: Bounds,
    agencies: Sequence[str] | None,
    *,
    procedure: str | None,
    code: str | None,
    status: str | None,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    """The nonconformity register with its counts per code and corrective-action status."""
    items, total = await views.nonconformity_register(
        conn,
        start=b.start,
        end=b.end,
        agencies=agencies,
        procedure=procedure,
        code=code,
        status=status,
        limit=limit,
        offset=offset,
    )
    counts = await views.nonconformity_counts(conn, b.period.first, b.period.end_exclusive, agencies)
    by_status: dict[str, int] = {}
    for c in counts:
        by_status[c["status"]] = by_status.get(c["status"], 0) + c["n"]
    return {
        "report": "nonconformities",
        "period": b.describe(),
        "filters": {"procedure": procedure, "code": code, "status": status},
        "items": [{**i, "detected_at": i["detected_at"].isoformat()} for i in items],
        "total": total,
        "limit": limit,
        "offset": offset,
        "by_code_and_status": counts,
        "by_status": by_status,
    }


async def nonconformity_rows(
    conn: Conn,
    b: Bounds,
    agencies: Sequence[str] | None,
    *,
    procedure: str | None,
    code: str | None,
    status: str | None,
    batch: int = 2000,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every register row of the filter, in batches, from a server-side cursor (the exports: no
    ``limit``, memory bounded by ``batch``). The caller holds ``conn`` for the whole stream."""
    async with conn.transaction(readonly=True):
        async for rows in views.nonconformity_batches(
            conn,
            start=b.start,
            end=b.end,
            agencies=agencies,
            procedure=procedure,
            code=code,
            status=status,
            batch=batch,
        ):
            yield rows


async def unit_name(conn: Conn, agency: str | None, province: str) -> str:
    """The reporting unit by name: the agency asked for, else the province (a setting)."""
    if agency is None:
        return province
    name = await views.agency_name(conn, agency)
    return name or agency


def frame(
    b: Bounds, *, form_code: str, title: str, unit: str, receiver: str, place: str, measure: str = ""
) -> Frame:
    """The printed frame of a report for the period ``b``, made today (in the reporting time zone)."""
    return Frame(
        form_code=form_code,
        title=title,
        period_name=period_name(b.period),
        first=b.period.first,
        last=b.period.last,
        unit=unit,
        receiver=receiver,
        made_on=b.now.date(),
        place=place,
        measure=measure,
    )


def month_starts(last: date, n: int) -> tuple[date, date]:
    """First day of the month ``n - 1`` months before ``last``'s, and the day after ``last``'s month."""
    y, m = last.year, last.month - (n - 1)
    while m < 1:
        y, m = y - 1, m + 12
    nxt = (last.replace(day=28) + timedelta(days=4)).replace(day=1)
    return date(y, m, 1), nxt


__all__ = ["FORM06_KEYS", "Bounds", "ScopeError", "bounds", "form06", "indicators_766", "qms", "scope"]
