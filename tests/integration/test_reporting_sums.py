"""Reports summed in PostgreSQL equal the same reports worked out in Python from the facts.

Biểu 06 and the period flows are read from weighted bucket ranges and summed in SQL
(``views.form06_sums``, ``views.flows_by_agency``). Here a few hundred random dossiers
(several revisions, every channel and outcome, unknown agencies, levels and procedures,
day boundaries in the reporting time zone) go through the real consumer handler, and every
report is compared with a brute force over the final facts: each dossier's day contributions
(``domain.rollup.contributions``) summed day by day, then ``form06_counts`` and ``assemble``.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from services.reporting import reports
from services.reporting.domain.cumulative import buckets_of
from services.reporting.domain.form06 import AgencyInfo, assemble, form06_counts, overdue_at
from services.reporting.domain.periods import parse_period
from services.reporting.domain.rollup import COUNTERS, Fact, contributions
from services.reporting.handlers import ReportingContext, handle_assessments
from shared.db import create_pool

pytestmark = pytest.mark.integration

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
LATER = datetime(2026, 1, 1, tzinfo=TZ)  # every period below is past
NOW = datetime(2024, 11, 20, 14, 30, tzinfo=TZ)  # a moment inside 2024 and its November

# code, name, parent, level, deleted — U is not in the registry copy at all, W has a level
# the form does not know, Z was deleted, D2 has no name
AGENCIES = [
    ("R", "UBND tỉnh", None, "province", False),
    ("D1", "Sở Tư pháp", "R", "department", False),
    ("D2", None, "R", "department", False),
    ("H1", "UBND huyện", "R", "district", False),
    ("X1", "UBND xã 1", "H1", "commune", False),
    ("X2", "UBND xã 2", "H1", "commune", False),
    ("W", "Ban quản lý", "R", "ward", False),
    ("Z", "Cơ quan cũ", "R", "commune", True),
]
AGENCY_CODES = [a[0] for a in AGENCIES] + ["U"]
# code, field, deleted — P9 is unknown, P4 has no field, P5 was deleted
PROCEDURES = [
    ("P1", "Hộ tịch", False),
    ("P2", "Đất đai", False),
    ("P3", "Chứng thực", False),
    ("P4", None, False),
    ("P5", "Xây dựng", True),
]
PROCEDURE_CODES = [p[0] for p in PROCEDURES] + ["P9"]


def field_of(procedure: str) -> str:
    for code, fld, deleted in PROCEDURES:
        if code == procedure and not deleted:
            return fld or ""
    return ""


def infos() -> dict[str, AgencyInfo]:
    return {
        code: AgencyInfo(code, name or code, level or "other")
        for code, name, _, level, deleted in AGENCIES
        if not deleted
    }


def random_dossiers(rng: random.Random, n: int) -> list[list[dict[str, Any]]]:
    """Revisions of ``n`` dossiers (each list: revision 1, 2, …; the last one is the fact)."""
    out = []
    first = datetime(2022, 9, 1, tzinfo=UTC)
    for i in range(n):
        revisions = []
        for revision in range(1, rng.choice((1, 1, 2, 3)) + 1):
            accepted = first + timedelta(minutes=rng.randrange(0, 60 * 24 * 900))
            due = accepted + timedelta(hours=rng.randrange(1, 24 * 40)) if rng.random() > 0.05 else None
            doc: dict[str, Any] = {
                "dossier_code": f"H-{i}",
                "agency_code": rng.choice(AGENCY_CODES),
                "procedure_code": rng.choice(PROCEDURE_CODES),
                "revision": revision,
                "status": 2,
                "outcome": "pending_within",
                "channel": rng.choice((1, 2, 2, 3, None)),
                "accepted_at": accepted.isoformat(),
                "due_at": due.isoformat() if due else None,
                "index_due_at": (due + timedelta(days=rng.choice((0, 0, 2)))).isoformat() if due else None,
                "resolved_at": None,
                "closed_at": None,
            }
            kind = rng.random()
            if kind < 0.05:
                doc |= {"accepted_at": None, "outcome": "not_accepted", "status": 1}
            elif kind < 0.15:
                doc |= {"outcome": "withdrawn", "status": 7}
                doc["closed_at"] = (accepted + timedelta(hours=rng.randrange(1, 24 * 30))).isoformat()
            elif kind < 0.8:
                resolved = accepted + timedelta(hours=rng.randrange(1, 24 * 50))
                outcome = "late" if due is not None and resolved > due else rng.choice(("early", "on_time"))
                doc |= {
                    "outcome": outcome,
                    "status": 9,
                    "resolved_at": resolved.isoformat(),
                    "closed_at": resolved.isoformat(),
                    "processing_working_days": round(rng.uniform(0.1, 30), 3),
                }
                if rng.random() < 0.3:
                    doc["index_outcome"] = rng.choice(("early", "on_time", "late"))
            revisions.append(doc)
        out.append(revisions)
    return out


def around_now() -> list[list[dict[str, Any]]]:
    """Dossiers whose overdue state changes on NOW's day (the running period's corrections)."""

    def at(day: int, hour: int, minute: int = 0) -> str:
        return datetime(2024, 11, day, hour, minute, tzinfo=TZ).isoformat()

    base = {"revision": 1, "status": 2, "outcome": "pending_within", "channel": 2, "resolved_at": None}
    cases = [
        ("N-1", "X1", "P1", at(10, 9), at(20, 10), None),  # due this morning, pending: overdue now
        ("N-2", "X1", "P1", at(10, 9), at(20, 18), None),  # due tonight: not yet
        ("N-3", "X1", "P9", at(1, 9), at(15, 9), at(20, 9)),  # overdue at midnight, closed this morning
        ("N-4", "X2", "P2", at(1, 9), at(20, 8), at(20, 12)),  # due and closed this morning
        ("N-5", "X2", "P2", at(1, 9), at(19, 23, 30), None),  # due late last night, pending
        ("N-6", "D1", "P3", at(1, 9), at(19, 10), at(20, 16)),  # overdue, closed later today
    ]
    out = []
    for code, agency, procedure, accepted, due, closed in cases:
        doc = base | {
            "dossier_code": code,
            "agency_code": agency,
            "procedure_code": procedure,
            "accepted_at": accepted,
            "due_at": due,
            "index_due_at": due,
            "closed_at": closed,
        }
        if closed:
            doc |= {"outcome": "late", "status": 9, "resolved_at": closed}
        out.append([doc])
    return out


def to_fact(doc: dict[str, Any]) -> Fact:
    def when(key: str) -> datetime | None:
        return datetime.fromisoformat(doc[key]) if doc.get(key) else None

    return Fact(
        doc["agency_code"],
        doc["procedure_code"],
        doc["channel"],
        when("accepted_at"),
        when("due_at"),
        when("index_due_at"),
        when("resolved_at"),
        when("closed_at"),
        doc["outcome"],
        doc.get("index_outcome"),
        doc.get("processing_working_days"),
    )


class Oracle:
    """The reports by brute force over the final facts, day by day."""

    def __init__(self, facts: list[Fact]) -> None:
        self.facts = facts
        self.days: dict[tuple[str, str], list[tuple[date, Counter[str]]]] = {}
        for f in facts:
            for (agency, procedure, day), counts in contributions(f, TZ).items():
                self.days.setdefault((agency, field_of(procedure)), []).append((day, counts))

    def cum(self, key: tuple[str, str], before: date) -> dict[str, int]:
        total: Counter[str] = Counter()
        for day, counts in self.days.get(key, []):
            if day < before:
                total.update(counts)
        return dict(total)

    def overdue_now(self, key: tuple[str, str], now: datetime) -> int:
        return sum(
            1
            for f in self.facts
            if (f.agency_code, field_of(f.procedure_code)) == key
            and f.accepted_at is not None
            and f.due_at is not None
            and f.due_at < now
            and ((f.closed_at or f.resolved_at) is None or (f.closed_at or f.resolved_at) >= now)  # type: ignore[operator]
        )

    def form06(self, b: reports.Bounds, scope: list[str] | None) -> dict[str, Any]:
        cells = {}
        for key in self.days:
            if scope is not None and key[0] not in scope:
                continue
            start = self.cum(key, b.period.first)
            end = self.cum(key, b.period.end_exclusive)
            overdue = self.overdue_now(key, b.now) if b.running else overdue_at(end)
            cells[key] = form06_counts(start, end, overdue)
        return assemble(cells, infos())

    def flows(self, b: reports.Bounds, scope: list[str] | None) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (agency, _), days in self.days.items():
            if scope is not None and agency not in scope:
                continue
            slot = out.setdefault(agency, dict.fromkeys(COUNTERS, 0))
            for day, counts in days:
                if b.period.first <= day < b.period.end_exclusive:
                    for name, n in counts.items():
                        slot[name] += n
        return {a: c for a, c in out.items() if any(c.values())}


@pytest.fixture(scope="module")
def dossiers() -> list[list[dict[str, Any]]]:
    return random_dossiers(random.Random(20241120), 600) + around_now()


@pytest.fixture
async def loaded(database: str, dossiers: list[list[dict[str, Any]]]) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database)
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO reporting.agencies (code, version, deleted, name, parent_code, level) "
            "VALUES ($1, 1, $5, $2, $3, $4)",
            AGENCIES,
        )
        await conn.executemany(
            "INSERT INTO reporting.procedures (code, version, deleted, name, field) VALUES ($1, 1, $3, $1, $2)",
            PROCEDURES,
        )
    # every revision, in shuffled batches: the rollups move by deltas as in production
    messages = [json.dumps(doc).encode() for revisions in dossiers for doc in revisions]
    random.Random(7).shuffle(messages)
    ctx = ReportingContext(pool, TZ)
    for i in range(0, len(messages), 97):
        await handle_assessments(ctx, messages[i : i + 97])
    yield pool
    await pool.close()


PERIODS = [
    ("2024", "calendar"),
    ("2024", "statutory"),
    ("2024-Q2", "statutory"),
    ("2024-02", "calendar"),
    ("2024-03", "calendar"),
    ("2024-H2", "calendar"),
    ("2025-01", "statutory"),
    ("2023-12", "statutory"),
    ("2024-11", "statutory"),
    ("2024-11", "calendar"),
]


def oracle_of(dossiers: list[list[dict[str, Any]]]) -> Oracle:
    return Oracle([to_fact(max(revisions, key=lambda d: d["revision"])) for revisions in dossiers])


@pytest.mark.parametrize("now", [LATER, NOW], ids=["past", "running"])
@pytest.mark.parametrize("agency", [None, "H1", "X2"])
async def test_form06_summed_in_sql_equals_the_python_computation(
    loaded: asyncpg.Pool, dossiers: list[list[dict[str, Any]]], now: datetime, agency: str | None
) -> None:
    oracle = oracle_of(dossiers)
    async with loaded.acquire() as conn:
        scope = await reports.scope(conn, agency, None)
        for label, kind in PERIODS:
            b = reports.bounds(parse_period(label, kind), TZ, now)  # type: ignore[arg-type]
            doc = await reports.form06(conn, b, agency, scope)
            expected = oracle.form06(b, scope)
            assert expected["rows"] or agency is not None, "the data set must fill every period"
            for part in ("rows", "totals", "groups", "fields", "agencies"):
                assert doc[part] == expected[part], (label, kind, part)


@pytest.mark.parametrize("agency", [None, "H1"])
async def test_period_flows_summed_in_sql_equal_the_python_computation(
    loaded: asyncpg.Pool, dossiers: list[list[dict[str, Any]]], agency: str | None
) -> None:
    oracle = oracle_of(dossiers)
    async with loaded.acquire() as conn:
        scope = await reports.scope(conn, agency, None)
        for label, kind in PERIODS:
            b = reports.bounds(parse_period(label, kind), TZ, LATER)  # type: ignore[arg-type]
            assert await reports.flows_per_agency(conn, b, scope) == oracle.flows(b, scope), (label, kind)


async def test_the_sql_bucket_rule_is_the_python_one(database: str) -> None:
    conn = await asyncpg.connect(database)
    try:
        rows = await conn.fetch(
            "SELECT d::date AS day, b.grain, b.bucket "
            "FROM generate_series('2023-01-01'::date, '2025-12-31'::date, interval '1 day') AS d, "
            "reporting.buckets_of(d::date) AS b"
        )
    finally:
        await conn.close()
    in_sql: dict[date, set[tuple[str, date]]] = {}
    for r in rows:
        in_sql.setdefault(r["day"], set()).add((r["grain"], r["bucket"]))
    assert len(in_sql) == 365 * 3 + 1
    for day, buckets in in_sql.items():
        assert buckets == set(buckets_of(day)), day
