"""Report builders: read models + domain rules → the documents the API and dashboard serve."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.reporting.adapters import index766 as index766_store
from services.reporting.adapters import snapshots, views
from services.reporting.domain import index766
from services.reporting.domain.cumulative import Weights, add_counts, weigh
from services.reporting.domain.form06 import LEVELS, AgencyInfo, Sections, form06_numbers, layout
from services.reporting.domain.forms import Frame
from services.reporting.domain.indicators import indicators
from services.reporting.domain.periods import Period, closed_by, parse_period, period_name, previous_label
from services.reporting.domain.qms import Window, qms_status
from services.reporting.domain.rollup import COUNTERS
from services.reporting.domain.snapshots import (
    EVENT_REPORTS,
    PROVINCE,
    REPORTS,
    Report,
    content_hash,
    difference,
    figures,
)
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


# --- reports as submitted (snapshots) ---------------------------------------------------------


async def document(
    conn: Conn, report: Report, b: Bounds, agency: str | None, agencies: Sequence[str] | None
) -> dict[str, Any]:
    """The live JSON document of a periodic report."""
    if report == "form06":
        return await form06(conn, b, agency, agencies)
    if report == "indicators":
        return await indicators_766(conn, b, agency, agencies)
    if report == "index766":  # the scored index under the default rules version
        return await index766_report(conn, b, agency, agencies)
    return await qms(conn, b, agency, agencies)


async def make_snapshot(
    conn: Conn,
    report: Report,
    b: Bounds,
    agency: str | None,
    agency_key: str,
    agencies: Sequence[str] | None,
    *,
    made_by: str,
    reason: str,
) -> snapshots.Snapshot:
    """Freeze the report as it reads now: content, its SHA-256, the fact change number it covers.

    The change number is read first, in the same repeatable-read transaction as the content, so
    every fact change numbered above it is one the content may not hold (listed as late).
    """
    async with conn.transaction(isolation="repeatable_read"):
        seq = await snapshots.facts_seq(conn)
        content = await document(conn, report, b, agency, agencies)
        return await snapshots.insert(
            conn,
            report=report,
            calendar=b.period.kind,
            period=b.period.label,
            agency_code=agency_key,
            made_at=b.now,
            made_by=made_by,
            reason=reason,
            seq=seq,
            content=content,
            sha256=content_hash(content),
        )


async def submitted(
    conn: Conn, report: Report, b: Bounds, agency_key: str, agencies: Sequence[str] | None
) -> dict[str, Any] | None:
    """The submitted report with what arrived after it: the late dossiers and live − submitted."""
    snap = await snapshots.latest(conn, report, b.period.kind, b.period.label, agency_key)
    if snap is None:
        return None
    out = dict(snap.content)
    meta = snap.describe(b.now.tzinfo or ZoneInfo("UTC"))
    if report in EVENT_REPORTS:
        live = await document(conn, report, b, agency_key or None, agencies)
        meta["late"] = await snapshots.changed_after(conn, snap.facts_seq, b.start, b.end, agencies)
        meta["difference"] = difference(
            figures(report, live["totals"]), figures(report, snap.content["totals"])
        )
    out["submission"] = meta
    return out


async def adjustments(
    conn: Conn,
    report: Report,
    b: Bounds,
    agency_key: str,
    agencies: Sequence[str] | None,
    *,
    start_day: int,
    tz: ZoneInfo,
) -> dict[str, Any] | None:
    """What changed in the previous period after it was submitted (điều chỉnh): carried into this one."""
    if report not in EVENT_REPORTS:
        return None
    prev = parse_period(previous_label(b.period.label), b.period.kind, start_day)
    pb = bounds(prev, tz, b.now)
    snap = await snapshots.latest(conn, report, prev.kind, prev.label, agency_key)
    if snap is None:
        return None
    live = await document(conn, report, pb, agency_key or None, agencies)
    return {
        "period": prev.label,
        "submitted_at": snap.made_at.astimezone(tz).isoformat(),
        "content_sha256": snap.content_sha256,
        "dossiers": await snapshots.changed_after(conn, snap.facts_seq, pb.start, pb.end, agencies),
        "difference": difference(figures(report, live["totals"]), figures(report, snap.content["totals"])),
    }


async def close_periods(pool: Any, tz: ZoneInfo, now: datetime, kind: str, start_day: int) -> list[str]:
    """Freeze every periodic report of the periods that ended before today, per agency and for the
    province, unless already frozen (the province's snapshot is made last: its presence means done)."""
    made = []
    for period in closed_by(
        now.astimezone(tz).date(), "statutory" if kind == "statutory" else "calendar", start_day
    ):
        b = bounds(period, tz, now)
        for report in REPORTS:
            async with pool.acquire() as conn:
                if await snapshots.latest(conn, report, period.kind, period.label, PROVINCE) is not None:
                    continue
                codes = sorted(await views.agency_codes(conn))
                for code in codes:
                    if await snapshots.latest(conn, report, period.kind, period.label, code) is None:
                        await make_snapshot(
                            conn, report, b, code, code, await views.subtree(conn, code),
                            made_by="system", reason="period_close",
                        )  # fmt: skip
                await make_snapshot(
                    conn, report, b, None, PROVINCE, None, made_by="system", reason="period_close"
                )
            made.append(f"{report} {period.kind} {period.label}")
    return made


# --- Decision 766 scored index ----------------------------------------------------------------


def _measures(
    flow: dict[str, int] | None, events: dict[str, int] | None, external: dict[str, int] | None
) -> dict[str, int]:
    """An agency's measures: the assessments' flows (indicators), the dossier events' counts and
    the imported figures."""
    ind = indicators(flow or {})
    out = {k: int(ind[k]) for k in ("received", "received_online", "resolved", "resolved_on_time")}
    out["resolved_index_on_time"] = int(ind["resolved_index_on_time"])
    out |= {k: (events or {}).get(k, 0) for k in index766.EVENT_MEASURES}
    return out | {k: (external or {}).get(k, 0) for k in index766.EXTERNAL_MEASURES}


async def index766_report(
    conn: Conn, b: Bounds, agency: str | None, agencies: Sequence[str] | None, version: str = "2022"
) -> dict[str, Any]:
    """Decision 766 points per agency (ranked within its level), per level and for the whole scope.

    Levels and the scope are scored on their pooled measures (the data file's assumption), not as
    averages of the agencies' points.
    """
    r = index766.rules(version)
    flows = await flows_per_agency(conn, b, agencies)
    events = await index766_store.measures_by_agency(
        conn, b.period.first, b.period.end_exclusive, agencies, r.satisfied_at_least
    )
    events = {code: m for code, m in events.items() if any(m.values())}  # moved out of the period
    external = await index766_store.external_by_agency(conn, b.period.first, b.period.end_exclusive, agencies)
    infos = await views.agency_infos(conn)
    codes = sorted(set(flows) | set(events) | set(external))
    rows = []
    levels: dict[str, dict[str, int]] = {}
    total: dict[str, int] = dict.fromkeys(index766.MEASURES, 0)
    for code in codes:
        m = _measures(flows.get(code), events.get(code), external.get(code))
        level = infos[code].level if code in infos else "other"
        add_counts(levels.setdefault(level, dict.fromkeys(index766.MEASURES, 0)), m)
        add_counts(total, m)
        name = infos[code].name if code in infos else None
        rows.append({"agency_code": code, "name": name, "level": level, "measures": m} | index766.score(r, m))
    index766.rank(rows)
    return {
        "report": "index-766",
        "period": b.describe(),
        "agency": agency,
        "rules": r.describe(),
        "rows": rows,
        "levels": [
            {"level": lv, "agencies": sum(1 for x in rows if x["level"] == lv), "measures": m}
            | index766.score(r, m)
            for lv, m in sorted(levels.items())
        ],
        "totals": {"measures": total} | index766.score(r, total),
    }


class UnknownAgencies(ValueError):
    """Imported figures name agencies the registry copy does not know."""


async def import_index766_external(
    conn: Conn, month: date, rows: Sequence[tuple[str, str, int]], at: datetime, by: str
) -> None:
    """Store imported Decision 766 figures of a month, every agency known to the registry copy."""
    unknown = sorted({agency for agency, _, _ in rows} - set(await views.agency_codes(conn)))
    if unknown:
        raise UnknownAgencies(
            f"rows[].agency_code: unknown agencies {', '.join(unknown[:5])}; use the registry's agency codes"
        )
    async with conn.transaction():
        await index766_store.put_external(conn, month, rows, at, by)
