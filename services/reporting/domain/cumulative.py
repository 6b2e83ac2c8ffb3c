"""Cumulative sums over the bucket grains of ``reporting.field_rollup``.

Every day's counts are added to ten buckets (:func:`buckets_of`): the day, the day blocks
of 2, 4, 8 and 16 days inside its month, the month, the month blocks of 2, 4 and 8 months
inside its year, and the year. A block's first day (month) minus the month's (year's) first
is a multiple of its size, so any run of days of a month (months of a year) is a few aligned
blocks. Σ of a counter over every day before ``d`` is read either forwards (the years before
``d``'s + the months of its year before its month + the days of its month before it) or, when
that takes fewer buckets, backwards from the next month or year (the years up to ``d``'s −
the months after … − the days from ``d`` on): :func:`pieces_before` keeps the shorter, at
most 5 buckets besides the years (15 December: the years up to it − 15–16 − 17–31 December).

A period's flow is ``cum(end) - cum(start)``; a stock at an instant is a difference of two
cumulative flows. :func:`weigh` reads each bucket once for all the points of a report,
with the weight every point gives it. The rows read are bounded by (years of history + 5)
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

Piece = tuple[str, date, date, int]  # (grain, first bucket, bucket after the last, sign)
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


def _blocks(first: int, end: int, sizes: tuple[int, ...]) -> list[tuple[int, int]]:
    """(offset, size) of the aligned blocks covering the units [first, end), fewest first-fit."""
    out = []
    at = first
    while at < end:
        size = next(n for n in (*sizes, 1) if at % n == 0 and at + n <= end)
        out.append((at, size))
        at += size
    return out


def pieces_before(d: date) -> list[Piece]:
    """Signed bucket ranges whose sum is the cumulative total of the days before ``d``.

    Of the four ways (days forwards from the month's first or backwards from the next month's;
    months forwards from January or backwards from next January) the one with fewest pieces.
    A block may run past the end of its month or year: the days it would hold there do not exist.
    """
    year = date(d.year, 1, 1)
    next_year = date(d.year + 1, 1, 1) if d.year < 9999 else None
    days_in_month = ((d.replace(day=28) + timedelta(days=4)).replace(day=1) - _DAY).day

    def months(upto: int) -> list[Piece]:
        """Σ before month ``upto`` (0–12) of ``d``'s year."""
        forwards: list[Piece] = [("Y", EPOCH, year, 1)]
        forwards += [_month_piece(d.year, at, n, 1) for at, n in _blocks(0, upto, MONTH_BLOCKS)]
        if next_year is None:
            return forwards
        backwards: list[Piece] = [("Y", EPOCH, next_year, 1)]
        backwards += [_month_piece(d.year, at, n, -1) for at, n in _blocks(upto, 16, MONTH_BLOCKS) if at < 12]
        return forwards if len(forwards) <= len(backwards) else backwards

    month = d.replace(day=1)
    k = d.day - 1
    forwards = months(d.month - 1) + [_day_piece(month, at, n, 1) for at, n in _blocks(0, k, DAY_BLOCKS)]
    if d.month == 12 and next_year is None:
        return forwards
    backwards = months(d.month) + [
        _day_piece(month, at, n, -1) for at, n in _blocks(k, 32, DAY_BLOCKS) if at < days_in_month
    ]
    return forwards if len(forwards) <= len(backwards) else backwards


def _month_piece(year: int, at: int, n: int, sign: int) -> Piece:
    first = date(year, at + 1, 1)
    return (f"M{n}" if n > 1 else "M", first, first + _DAY, sign)


def _day_piece(month: date, at: int, n: int, sign: int) -> Piece:
    first = month + timedelta(days=at)
    return (f"D{n}" if n > 1 else "D", first, first + _DAY, sign)


def weigh(points: Sequence[tuple[date, Weights]]) -> list[WeightedPiece]:
    """Disjoint bucket ranges, each with the sum of the weights of the points whose cumulative covers it.

    ``Σ_points weights × cum(point)`` = ``Σ_ranges weights × Σ buckets in range``, and each
    bucket is read once however many points need it (the year buckets before the period
    serve its start and its end). Ranges whose weights are all zero are left out.
    """
    width = len(points[0][1]) if points else 0
    by_grain: dict[str, list[tuple[date, date, Weights]]] = {}
    for d, w in points:
        for grain, lo, hi, sign in pieces_before(d):
            by_grain.setdefault(grain, []).append((lo, hi, tuple(sign * x for x in w)))
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
