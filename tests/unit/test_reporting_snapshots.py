"""Which periods a close freezes, the period before, and live − submitted (no database)."""

from __future__ import annotations

from datetime import date

import pytest

from services.reporting.domain.periods import closed_by, previous_label
from services.reporting.domain.snapshots import content_hash, difference


@pytest.mark.parametrize(
    ("today", "kind", "labels"),
    [
        (date(2025, 4, 10), "statutory", ["2025-03", "2025-Q1"]),  # statutory March ended 14/03
        (date(2025, 4, 14), "statutory", ["2025-03", "2025-Q1"]),
        (date(2025, 4, 15), "statutory", ["2025-04"]),  # 15/04: statutory April (15/03 → 14/04) ended
        (
            date(2025, 12, 15),
            "statutory",
            ["2025-12", "2025-Q4", "2025-H2", "2025"],
        ),  # year 15/12/24 → 14/12/25
        (date(2025, 1, 3), "calendar", ["2024-12", "2024-Q4", "2024-H2", "2024"]),
        (date(2025, 7, 1), "calendar", ["2025-06", "2025-Q2", "2025-H1"]),
    ],
)
def test_a_close_freezes_the_periods_that_just_ended(today: date, kind: str, labels: list[str]) -> None:
    periods = closed_by(today, "statutory" if kind == "statutory" else "calendar", 15)
    assert [p.label for p in periods] == labels
    assert all(p.last < today for p in periods)


def test_statutory_march_ends_on_the_14th() -> None:
    (march, _) = closed_by(date(2025, 4, 10), "statutory", 15)
    assert (march.first, march.last) == (date(2025, 2, 15), date(2025, 3, 14))


@pytest.mark.parametrize(
    ("label", "before"),
    [
        ("2025-01", "2024-12"),
        ("2025-10", "2025-09"),
        ("2025-Q1", "2024-Q4"),
        ("2025-H2", "2025-H1"),
        ("2025", "2024"),
    ],
)
def test_previous_period(label: str, before: str) -> None:
    assert previous_label(label) == before


def test_difference_counts_only_changed_integers() -> None:
    live = {"received_total": 8, "resolved_total": 5, "on_time_rate": 0.5, "pending_total": 1}
    submitted = {"received_total": 7, "resolved_total": 5, "on_time_rate": 0.6, "pending_total": 2}
    assert difference(live, submitted) == {"received_total": 1, "pending_total": -1}


def test_content_hash_ignores_key_order() -> None:
    assert content_hash({"a": 1, "b": "Sở"}) == content_hash({"b": "Sở", "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})
