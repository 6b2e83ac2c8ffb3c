"""Decision 766 facts: per dossier (``reporting.index766_facts``) and per agency × day
(``reporting.index766_daily``), written from the dossier events, read as a period's measures."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from services.processing.adapters.literals import int_array, text_array, timestamptz_array
from services.reporting.domain.index766_facts import (
    DAILY,
    Accumulator,
    DailyDelta,
    Facts766,
    add_delta,
    apply,
    carries_facts,
    grouped,
    measures,
)
from shared.contracts.events import DossierEvent, occurred_order
from shared.db import Conn

_FIELDS = (
    "agency_code",
    "accepted_at",
    "digitized",
    "resolved_at",
    "result_digitized",
    "fee_paid_at",
    "fee_online",
    "rated_at",
    "satisfaction",
)
_TYPES = (
    "text",
    "timestamptz",
    "boolean",
    "timestamptz",
    "boolean",
    "timestamptz",
    "boolean",
    "timestamptz",
    "smallint",
)
# One statement for the batch's changed dossiers (in code order, each once), not one per dossier; its
# arrays bound as literals, cast once in the FROM (docs/decisions.md, "arrays as literals").
_UPSERT_FACTS = f"""
INSERT INTO reporting.index766_facts (dossier_code, {", ".join(_FIELDS)})
SELECT * FROM unnest($1::text::text[], {", ".join(f"${i}::text::{t}[]" for i, t in enumerate(_TYPES, start=2))})
ON CONFLICT (dossier_code) DO UPDATE SET {", ".join(f"{c} = excluded.{c}" for c in _FIELDS)}
"""
_ADD_DAILY = f"""
INSERT INTO reporting.index766_daily (agency_code, day, {", ".join(DAILY)})
SELECT * FROM unnest($1::text[], $2::date[], {", ".join(f"${i}::int[]" for i in range(3, len(DAILY) + 3))})
ON CONFLICT (day, agency_code) DO UPDATE SET
{", ".join(f"{c} = index766_daily.{c} + excluded.{c}" for c in DAILY)}
"""


def _bool_array(values: Sequence[bool | None]) -> str:
    """Booleans as a ``boolean[]`` literal (bind to ``$n::text::boolean[]``); None is NULL."""
    return "{" + ",".join(["NULL" if v is None else "t" if v else "f" for v in values]) + "}"


def changes(
    current: dict[str, Facts766], events: Sequence[DossierEvent], tz: ZoneInfo
) -> tuple[dict[str, Facts766], DailyDelta]:
    """The dossiers' new facts and the daily counters' delta (pure)."""
    new = dict(current)
    for e in sorted((e for e in events if carries_facts(e)), key=occurred_order):
        new[e.dossier_code] = apply(new.get(e.dossier_code), e)
    changed = {code: f for code, f in new.items() if current.get(code) != f}
    acc: Accumulator = {}
    for code, f in changed.items():
        add_delta(acc, current.get(code), f, tz)
    return changed, grouped(acc)


async def record(conn: Conn, events: Sequence[DossierEvent], tz: ZoneInfo) -> int:
    """Apply the events' 766 facts (in the caller's transaction); the number of dossiers changed.

    The dossiers' rows are locked first, so two batches of one dossier (a rebalance) apply in turn.
    """
    codes = sorted({e.dossier_code for e in events if carries_facts(e)})
    if not codes:
        return 0
    rows = await conn.fetch(
        f"SELECT dossier_code, {', '.join(_FIELDS)} FROM reporting.index766_facts "
        "WHERE dossier_code = ANY($1::text[]) ORDER BY dossier_code FOR UPDATE",
        codes,
    )
    current = {r["dossier_code"]: Facts766(**{c: r[c] for c in _FIELDS}) for r in rows}
    changed, daily = changes(current, events, tz)
    if changed:
        codes = sorted(changed)
        facts = [changed[code] for code in codes]
        await conn.execute(
            _UPSERT_FACTS,
            text_array(codes),
            text_array([f.agency_code for f in facts]),
            timestamptz_array([f.accepted_at for f in facts]),
            _bool_array([f.digitized for f in facts]),
            timestamptz_array([f.resolved_at for f in facts]),
            _bool_array([f.result_digitized for f in facts]),
            timestamptz_array([f.fee_paid_at for f in facts]),
            _bool_array([f.fee_online for f in facts]),
            timestamptz_array([f.rated_at for f in facts]),
            int_array([f.satisfaction for f in facts]),
        )
    if daily:
        keys = sorted(daily)
        await conn.execute(
            _ADD_DAILY,
            [k[0] for k in keys],
            [k[1] for k in keys],
            *[[daily[k][c] for k in keys] for c in DAILY],
        )
    return len(changed)


async def measures_by_agency(
    conn: Conn, first: date, end: date, agencies: Sequence[str] | None, satisfied_at_least: int
) -> dict[str, dict[str, int]]:
    """Per agency, the event measures of the local days [first, end), summed from the daily counters."""
    rows = await conn.fetch(
        f"""
        SELECT agency_code, {", ".join(f"sum({c})::bigint AS {c}" for c in DAILY)}
        FROM reporting.index766_daily
        WHERE day >= $1 AND day < $2 AND ($3::text[] IS NULL OR agency_code = ANY($3::text[]))
        GROUP BY agency_code
        """,
        first,
        end,
        list(agencies) if agencies is not None else None,
    )
    return {r["agency_code"]: measures(dict(r), satisfied_at_least) for r in rows}


async def put_external(
    conn: Conn, month: date, rows: Sequence[tuple[str, str, int]], at: datetime, by: str
) -> None:
    """Store imported (agency, measure, value) figures of a month; a later import replaces a figure."""
    await conn.executemany(
        """
        INSERT INTO reporting.index766_external (agency_code, month, measure, value, imported_at, imported_by)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (month, agency_code, measure) DO UPDATE
        SET value = excluded.value, imported_at = excluded.imported_at, imported_by = excluded.imported_by
        """,
        [(agency, month, measure, value, at, by) for agency, measure, value in rows],
    )


async def external_by_agency(
    conn: Conn, first: date, end: date, agencies: Sequence[str] | None
) -> dict[str, dict[str, int]]:
    """Per agency, the imported figures of the months whose first day lies in [first, end)."""
    rows = await conn.fetch(
        """
        SELECT agency_code, measure, sum(value)::bigint AS value FROM reporting.index766_external
        WHERE month >= $1 AND month < $2 AND ($3::text[] IS NULL OR agency_code = ANY($3::text[]))
        GROUP BY agency_code, measure
        """,
        first,
        end,
        list(agencies) if agencies is not None else None,
    )
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r["agency_code"], {})[r["measure"]] = int(r["value"])
    return out
