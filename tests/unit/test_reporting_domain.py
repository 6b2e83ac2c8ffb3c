"""Reporting's pure rules: periods, rollup deltas, cumulative buckets, Biểu 06, QMS status."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.reporting.domain.cumulative import buckets_of, pieces_before, weigh
from services.reporting.domain.form06 import AgencyInfo, assemble, form06_counts, overdue_at
from services.reporting.domain.indicators import indicators
from services.reporting.domain.periods import CalendarKind, PeriodError, parse_period
from services.reporting.domain.qms import Window, qms_status
from services.reporting.domain.rollup import Fact, contributions, delta, merge, project_to_fields
from shared.contracts.registry import AgencyRecord, QmsRecord

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def at(day: int, hour: int = 9, month: int = 3) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=TZ)


@pytest.mark.parametrize(
    ("text", "kind", "first", "last"),
    [
        ("2025-03", "calendar", date(2025, 3, 1), date(2025, 3, 31)),
        ("2025-Q1", "calendar", date(2025, 1, 1), date(2025, 3, 31)),
        ("2021-H1", "calendar", date(2021, 1, 1), date(2021, 6, 30)),
        ("2025", "calendar", date(2025, 1, 1), date(2025, 12, 31)),
        ("2025-03", "statutory", date(2025, 2, 15), date(2025, 3, 14)),
        ("2025-Q1", "statutory", date(2024, 12, 15), date(2025, 3, 14)),
        ("2025", "statutory", date(2024, 12, 15), date(2025, 12, 14)),
        ("2025-01", "statutory", date(2024, 12, 15), date(2025, 1, 14)),
    ],
)
def test_periods(text: str, kind: str, first: date, last: date) -> None:
    p = parse_period(text, kind, 15)  # type: ignore[arg-type]
    assert (p.first, p.last) == (first, last)


def test_bad_period_says_what_to_write() -> None:
    with pytest.raises(PeriodError, match="YYYY-MM"):
        parse_period("March")


@pytest.mark.parametrize("text", ["0001", "9999-12", "1969-H2", "0000-Q1"])
@pytest.mark.parametrize("kind", ["calendar", "statutory"])
def test_a_year_out_of_range_is_a_period_error_not_a_date_overflow(text: str, kind: CalendarKind) -> None:
    with pytest.raises(PeriodError, match="the year must be 1970–2999"):
        parse_period(text, kind)
    assert parse_period("2999-12", kind).last.year in (2999, 3000)


def fact(**kw: object) -> Fact:
    base: dict[str, object] = dict(
        agency_code="A",
        procedure_code="P",
        channel=2,
        accepted_at=at(10),
        due_at=at(12),
        index_due_at=at(12),
        resolved_at=None,
        closed_at=None,
        outcome="pending_within",
    )
    base.update(kw)
    return Fact(**base)  # type: ignore[arg-type]


def test_a_pending_dossier_is_received_and_due() -> None:
    c = contributions(fact(), TZ)
    assert c[("A", "P", date(2025, 3, 10))] == Counter(received=1, received_online=1)
    assert c[("A", "P", date(2025, 3, 12))] == Counter(due=1)


def test_a_late_dossier_books_resolution_closing_and_due_closed_on_the_later_day() -> None:
    f = fact(channel=3, resolved_at=at(13), closed_at=at(13), outcome="late", processing_working_days=2.5)
    c = contributions(f, TZ)
    assert c[("A", "P", date(2025, 3, 13))] == Counter(
        resolved_late=1, resolved_index_late=1, closed=1, due_closed=1, processing_mdays=2500, processing_n=1
    )
    assert c[("A", "P", date(2025, 3, 10))] == Counter(received=1, received_postal=1)


def test_index_outcome_wins_over_the_legal_one_when_present() -> None:
    f = fact(
        resolved_at=at(13), closed_at=at(13), outcome="late", index_outcome="on_time", index_due_at=at(14)
    )
    assert "resolved_index_late" not in contributions(f, TZ)[("A", "P", date(2025, 3, 13))]


def test_never_accepted_contributes_nothing() -> None:
    assert contributions(fact(accepted_at=None, outcome="not_accepted"), TZ) == {}


def test_delta_of_a_revision_moves_counts_and_replaying_revisions_equals_the_last() -> None:
    r1 = fact()
    r2 = fact(resolved_at=at(11), closed_at=at(11), outcome="early")
    r3 = fact(resolved_at=at(14), closed_at=at(14), outcome="late")
    stepwise: dict = {}
    for old, new in ((None, r1), (r1, r2), (r2, r3)):
        merge(stepwise, delta(old, new, TZ))
    direct = delta(None, r3, TZ)
    clean = {k: +v for k, v in stepwise.items() if +v}
    assert clean == {k: +v for k, v in direct.items()}


def test_projection_sums_the_days_per_field_and_every_day_has_ten_buckets() -> None:
    d = delta(None, fact(), TZ)
    d[("A", "P2", date(2025, 3, 10))] = Counter(received=2)
    fd = project_to_fields(d, {"P": "Hộ tịch", "P2": "Hộ tịch"})
    assert fd[("A", "Hộ tịch", date(2025, 3, 10))] == Counter(received=3, received_online=1)
    assert fd[("A", "Hộ tịch", date(2025, 3, 12))] == Counter(due=1)
    assert ("A", "", date(2025, 3, 10)) in project_to_fields(d, {})  # unknown procedure: field ''
    assert buckets_of(date(2025, 3, 10)) == (
        ("D", date(2025, 3, 10)),
        ("D16", date(2025, 3, 1)),
        ("D8", date(2025, 3, 9)),
        ("D4", date(2025, 3, 9)),
        ("D2", date(2025, 3, 9)),
        ("M", date(2025, 3, 1)),
        ("M8", date(2025, 1, 1)),
        ("M4", date(2025, 1, 1)),
        ("M2", date(2025, 3, 1)),
        ("Y", date(2025, 1, 1)),
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.dates(min_value=date(2019, 1, 1), max_value=date(2026, 12, 31)), max_size=40),
    st.dates(min_value=date(2019, 1, 1), max_value=date(2027, 1, 1)),
)
def test_cumulative_pieces_count_each_earlier_day_once(days: list[date], point: date) -> None:
    buckets: Counter[tuple[str, date]] = Counter()
    for d in days:
        for b in buckets_of(d):
            buckets[b] += 1
    total = sum(
        n * sign
        for (g, b), n in buckets.items()
        for grain, lo, hi, sign in pieces_before(point)
        if g == grain and lo <= b < hi
    )
    assert total == sum(1 for d in days if d < point)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.dates(min_value=date(2019, 1, 1), max_value=date(2026, 12, 31)), max_size=40),
    st.lists(
        st.tuples(
            st.dates(min_value=date(2019, 1, 1), max_value=date(2027, 1, 1)),
            st.tuples(st.integers(-2, 2), st.integers(-2, 2)),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_weighted_pieces_read_each_bucket_once_with_every_points_weight(
    days: list[date], points: list[tuple[date, tuple[int, int]]]
) -> None:
    buckets: Counter[tuple[str, date]] = Counter()
    for d in days:
        for b in buckets_of(d):
            buckets[b] += 1
    pieces = weigh(points)
    got = [0, 0]
    for (g, b), n in buckets.items():
        covering = [w for grain, lo, hi, w in pieces if g == grain and lo <= b < hi]
        assert len(covering) <= 1  # the ranges are disjoint: a bucket is read once
        for w in covering:
            got = [got[0] + w[0] * n, got[1] + w[1] * n]
    want = [sum(w[i] * sum(1 for d in days if d < p) for p, w in points) for i in (0, 1)]
    assert got == want


def test_a_cumulative_reads_at_most_five_buckets_besides_the_years() -> None:
    day = date(2023, 1, 1)
    while day < date(2025, 1, 2):
        assert len([p for p in pieces_before(day) if p[0] != "Y"]) <= 5
        day += timedelta(days=1)
    # 15 December: the years up to December's − 15–16 December − 17–31 December
    assert pieces_before(date(2024, 12, 15)) == [
        ("Y", date(1, 1, 1), date(2025, 1, 1), 1),
        ("D2", date(2024, 12, 15), date(2024, 12, 16), -1),
        ("D16", date(2024, 12, 17), date(2024, 12, 18), -1),
    ]
    # the statutory year 15/12/2023 → 14/12/2024: two year ranges and four blocks, each read once
    assert len(weigh([(date(2023, 12, 15), (-1, 1)), (date(2024, 12, 15), (1, 0))])) == 6


def test_form06_numbers_from_cumulative_counters() -> None:
    start = {"received": 5, "closed": 3}
    end = {
        "received": 12,
        "received_online": 4,
        "closed": 8,
        "resolved_early": 2,
        "resolved_on_time": 1,
        "resolved_late": 1,
        "due": 9,
        "due_closed": 7,
    }
    row = form06_counts(start, end, overdue_at(end))
    assert row == {
        "received_total": 9,
        "received_online": 4,
        "received_offline": 3,
        "carried_over": 2,
        "resolved_total": 4,
        "resolved_early": 2,
        "resolved_on_time": 1,
        "resolved_late": 1,
        "pending_total": 4,
        "pending_within": 2,
        "pending_overdue": 2,
    }


def test_assemble_groups_agencies_by_level_and_field_and_drops_empty_ones() -> None:
    one = form06_counts({}, {"received": 1, "received_online": 1}, 0)
    cells = {
        ("X", "Hộ tịch"): one,
        ("X", "Đất đai"): one,
        ("Y", "Hộ tịch"): one,
        ("Z", ""): form06_counts({}, {}, 0),
    }
    infos = {"X": AgencyInfo("X", "UBND xã X", "commune"), "Y": AgencyInfo("Y", "Sở Tư pháp", "department")}
    doc = assemble(cells, infos)
    assert [r["agency_code"] for r in doc["rows"]] == ["Y", "X"]  # departments before communes
    assert doc["totals"]["received_total"] == 3
    assert [(g["level"], g["agencies"]) for g in doc["groups"]] == [("department", ["Y"]), ("commune", ["X"])]
    assert [f["field"] for f in doc["groups"][1]["fields"]] == ["Hộ tịch", "Đất đai"]
    assert set(doc["rows"][0]) == {"agency_code", *one}


def test_indicators_are_none_when_there_is_nothing_to_divide() -> None:
    assert indicators({})["on_time_rate"] is None
    got = indicators(
        {
            "received": 4,
            "received_online": 3,
            "resolved_early": 1,
            "resolved_on_time": 2,
            "resolved_late": 1,
            "resolved_index_late": 0,
            "processing_mdays": 9000,
            "processing_n": 4,
        }
    )
    assert got["on_time_rate"] == 0.75 and got["on_time_rate_index"] == 1.0
    assert got["online_rate"] == 0.75 and got["average_processing_working_days"] == 2.25


def agency(code: str, obligation: str = "mandatory", **kw: object) -> AgencyRecord:
    return AgencyRecord.model_validate(
        {"code": code, "name": code, "level": "commune", "iso_obligation": obligation, **kw}
    )


def qms(code: str, *transitions: tuple[str, str], **kw: object) -> QmsRecord:
    return QmsRecord.model_validate(
        {
            "agency_code": code,
            "state": transitions[-1][0] if transitions else "announced",
            "transitions": [{"state": s, "on": d} for s, d in transitions],
            **kw,
        }
    )


def test_qms_status_counts_announced_updating_reannounced_and_reviewing() -> None:
    agencies = [
        agency("A"),
        agency("B"),
        agency("C", "encouraged"),
        agency("D", "encouraged"),
        agency("GONE", valid_to=date(2020, 12, 31)),
    ]
    records = {
        "A": qms("A", ("announced", "2019-05-01")),
        "B": qms("B", ("announced", "2019-05-01"), ("updating", "2021-02-01"), ("reannounced", "2021-05-20")),
        "C": qms(
            "C",
            ("announced", "2020-01-01"),
            ("updating", "2021-03-01"),
            reviews=[{"kind": "internal_audit", "held_on": "2021-04-01"}],
            objectives=[{"year": 2021, "metric": "on_time_rate", "target": "0.98"}],
        ),
        "D": qms("D", ("building", "2021-01-10")),
    }
    out = qms_status(agencies, records, Window(date(2021, 1, 1), date(2021, 6, 30)), {"C": 0.99})
    assert {
        k: out[k]
        for k in (
            "agencies_total",
            "announced",
            "mandatory",
            "encouraged",
            "updating_or_expanding",
            "reannounced",
            "reviewing",
        )
    } == {
        "agencies_total": 4,
        "announced": 3,
        "mandatory": 2,
        "encouraged": 2,
        "updating_or_expanding": 2,
        "reannounced": 1,
        "reviewing": 1,
    }
    assert out["internal_audits"] == 1
    assert out["quality_objectives"]["agencies"][0] | {} == {
        "agency_code": "C",
        "name": "C",
        "year": 2021,
        "metric": "on_time_rate",
        "target": 0.98,
        "measured": 0.99,
        "attained": True,
    }
    assert Decimal("0.98") <= Decimal("0.99")


def test_a_day_before_the_period_end_is_inside_it() -> None:
    p = parse_period("2025-03", "statutory")
    assert p.end_exclusive - timedelta(days=1) == p.last
