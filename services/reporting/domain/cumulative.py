"""Cumulative sums over the bucket grains of ``reporting.field_rollup``.

Every day's counts are added to ten buckets (:func:`buckets_of`): the day, the day blocks
of 2, 4, 8 and 16 days inside its month, the month, the month blocks of 2, 4 and 8 months
inside its year, and the year. A block's first day (month) minus the month's (year's) first
is a multiple of its size, so the days of a month before day ``k + 1`` are the blocks of the
binary digits of ``k``: Σ of a counter over every day before ``d`` = the year buckets before
``d``'s year + at most 3 month blocks + at most 4 day blocks (:func:`pieces_before`).

A period's flow is ``cum(end) - cum(start)``; a stock at an instant is a difference of two
cumulative flows. :func:`weigh` reads each bucket once for all the points of a report,
with the weight every point gives it. The rows read are bounded by (years of history + 7)
per agency, field and point, whatever the number of dossiers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from itertools import pairwise

#: the earliest bucket anyone can have
EPOCH = date(1, 1, 1)
#: block sizes inside a month (days) and inside a year (months), largest first
DAY_BLOCKS = (16, 8, 4, 2)
MONTH_BLOCKS = (8, 4, 2)
#: every grain of ``reporting.field_rollup`` (migrations 0001 and 0002)
GRAINS = ("D", *(f"D{n}" for n in DAY_BLOCKS), "M", *(f"M{n}" for n in MONTH_BLOCKS), "Y")

Piece = tuple[str, date, date]  # (grain, first bucket, bucket after the last)
Weights = tuple[int, ...]
WeightedPiece = tuple[str, date, date, Weights]

_DAY = timedelta(days=1)


def buckets_of(day: date) -> tuple[tuple[str, date], ...]:
    """The buckets a day's counts are added to (the SQL function ``reporting.buckets_of`` agrees)."""
    month = day.replace(day=1)
    d, m = day.day - 1, day.month - 1
    return (
        ("D", day),
        *((f"D{n}", month + timedelta(days=d - d % n)) for n in DAY_BLOCKS),
        ("M", month),
        *((f"M{n}", date(day.year, m - m % n + 1, 1)) for n in MONTH_BLOCKS),
        ("Y", date(day.year, 1, 1)),
    )


def pieces_before(d: date) -> list[Piece]:
    """Bucket ranges whose sum is the cumulative total of the days before ``d``."""
    out: list[Piece] = [("Y", EPOCH, d.replace(month=1, day=1))]
    months = 0
    for n in (*MONTH_BLOCKS, 1):
        while months + n <= d.month - 1:
            first = date(d.year, months + 1, 1)
            out.append((f"M{n}" if n > 1 else "M", first, first + _DAY))
            months += n
    days = 0
    for n in (*DAY_BLOCKS, 1):
        while days + n <= d.day - 1:
            first = d.replace(day=days + 1)
            out.append((f"D{n}" if n > 1 else "D", first, first + _DAY))
            days += n
    return out


def weigh(points: Sequence[tuple[date, Weights]]) -> list[WeightedPiece]:
    """Disjoint bucket ranges, each with the sum of the weights of the points whose cumulative covers it.

    ``Σ_points weights × cum(point)`` = ``Σ_ranges weights × Σ buckets in range``, and each
    bucket is read once however many points need it (the year buckets before the period
    serve its start and its end). Ranges whose weights are all zero are left out.
    """
    width = len(points[0][1]) if points else 0
    by_grain: dict[str, list[tuple[date, date, Weights]]] = {}
    for d, w in points:
        for grain, lo, hi in pieces_before(d):
            by_grain.setdefault(grain, []).append((lo, hi, w))
    out: list[WeightedPiece] = []
    for grain in GRAINS:
        ranges = by_grain.get(grain, [])
        cuts = sorted({x for lo, hi, _ in ranges for x in (lo, hi)})
        for lo, hi in pairwise(cuts):
            total = [0] * width
            for a, b, w in ranges:
                if a <= lo and hi <= b:
                    for i in range(width):
                        total[i] += w[i]
            if any(total):
                out.append((grain, lo, hi, tuple(total)))
    return out


def add_counts(into: dict[str, int], more: Mapping[str, int], sign: int = 1) -> None:
    """``into += sign * more``, key by key."""
    for k, v in more.items():
        into[k] = into.get(k, 0) + sign * int(v)


def sum_counts(items: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for item in items:
        add_counts(total, item)
    return total
