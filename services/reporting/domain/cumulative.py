"""Cumulative sums over the day / month / year buckets of ``reporting.field_rollup``.

Σ of a counter over every day before ``d`` = the year buckets before ``d``'s year + the
month buckets of its year before its month + the day buckets of its month before ``d``.
A period's flow is ``cum(end) - cum(start)``; a stock at an instant is a difference of
two cumulative flows. The number of rows read is bounded by (years of history + 11 + 30)
per agency and field, whatever the number of dossiers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

#: the earliest bucket anyone can have
EPOCH = date(1, 1, 1)

Piece = tuple[str, date, date]  # (grain, first bucket, bucket after the last)


def pieces_before(d: date) -> list[Piece]:
    """Bucket ranges whose sum is the cumulative total of the days before ``d``."""
    year_start = d.replace(month=1, day=1)
    month_start = d.replace(day=1)
    out: list[Piece] = [("Y", EPOCH, year_start)]
    if month_start > year_start:
        out.append(("M", year_start, month_start))
    if d > month_start:
        out.append(("D", month_start, d))
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
