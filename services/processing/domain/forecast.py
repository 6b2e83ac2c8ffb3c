"""Dự báo trễ hạn: when will an open dossier be resolved, and when is it at risk (issue #17 item 4).

The model is the durations actually observed: for each procedure and each milestone (the
acceptance, or the completion of a step), the time from that milestone to the resolution in
dossiers already resolved. An open dossier whose last milestone was ``elapsed`` ago is estimated
to be resolved at the ``quantile`` of those durations *longer than* ``elapsed`` (it is known not
to be resolved yet). The estimate only grows while nothing happens, so the moment it passes the
due moment is found by a binary search, and is the dossier's next timer.

The first warning (``at_risk_since``) is computed causally: for each interval between
milestones only what was known at its start is used, so evaluating a finished history gives the
moment a live system would have warned.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.processing.domain.history import DossierHistory

ACCEPTED = "accepted"  # the milestone key of the acceptance


def _suffix_quantiles(samples: Sequence[float], quantile: float) -> list[float]:
    """``q[i]`` = the quantile of ``samples[i:]`` (sorted): non-decreasing in ``i``."""
    n = len(samples)
    return [samples[i + min(n - i - 1, int(quantile * (n - i)))] for i in range(n)]


@dataclass(frozen=True)
class RemainingTimes:
    """Observed seconds from each milestone to the resolution, per (procedure, milestone)."""

    samples: Mapping[tuple[str, str], Sequence[float]]
    quantile: float = 0.8
    min_samples: int = 20
    _suffix: dict[tuple[str, str], list[float]] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not 0 < self.quantile < 1:
            raise ValueError(f"the forecast quantile must be between 0 and 1, got {self.quantile}")
        ordered = {key: tuple(sorted(values)) for key, values in self.samples.items()}
        object.__setattr__(self, "samples", ordered)
        for key, values in ordered.items():
            if len(values) >= self.min_samples:
                self._suffix[key] = _suffix_quantiles(values, self.quantile)

    @classmethod
    def learn(
        cls, histories: Iterable[DossierHistory], quantile: float = 0.8, min_samples: int = 20
    ) -> RemainingTimes:
        """The model of resolved ``histories`` (their clock-stopping event is the resolution)."""
        samples: dict[tuple[str, str], list[float]] = {}
        for h in histories:
            if h.accepted is None or h.resolved is None or h.resolved.occurred_at < h.accepted.occurred_at:
                continue
            end = h.resolved.occurred_at
            procedure = h.first.procedure_code
            for key, at in _milestones(h):
                if at <= end:
                    samples.setdefault((procedure, key), []).append((end - at).total_seconds())
        return cls(samples, quantile, min_samples)

    @property
    def usable(self) -> int:
        """How many (procedure, milestone) pairs have enough observations to estimate from."""
        return len(self._suffix)

    def _table(self, procedure: str, milestone: str) -> tuple[Sequence[float], list[float]] | None:
        for key in ((procedure, milestone), (procedure, ACCEPTED)):
            suffix = self._suffix.get(key)
            if suffix is not None:
                return self.samples[key], suffix
        return None

    def estimate(self, procedure: str, milestone: str, since: datetime, now: datetime) -> datetime | None:
        """Estimated resolution of a dossier whose last milestone was at ``since``, still open at ``now``.

        None: too few observations. Past every observed duration: ``now`` (beyond experience).
        """
        table = self._table(procedure, milestone)
        if table is None:
            return None
        ordered, suffix = table
        i = bisect_right(ordered, (now - since).total_seconds())
        if i >= len(ordered):
            return now
        return since + timedelta(seconds=suffix[i])

    def crossing(self, procedure: str, milestone: str, since: datetime, due: datetime) -> datetime | None:
        """The earliest moment from ``since`` on at which the estimate passes ``due`` (None: no model)."""
        table = self._table(procedure, milestone)
        if table is None:
            return None
        ordered, suffix = table
        allowed = (due - since).total_seconds()
        lo, hi = 0, len(suffix)
        while lo < hi:  # first i with suffix[i] > allowed (suffix is non-decreasing)
            mid = (lo + hi) // 2
            if suffix[mid] > allowed:
                hi = mid
            else:
                lo = mid + 1
        # The tail starts at i once the elapsed time reaches ordered[i - 1]; past the last sample
        # the dossier is beyond experience, which is a risk too.
        i = min(lo, len(ordered))
        elapsed = ordered[i - 1] if i > 0 else 0.0
        return since + timedelta(seconds=elapsed)


def _milestones(history: DossierHistory) -> list[tuple[str, datetime]]:
    assert history.accepted is not None
    found = [(ACCEPTED, history.accepted.occurred_at)]
    found += [(s.payload.step_code, s.occurred_at) for s in history.steps if s.occurred_at >= found[0][1]]
    return found


@dataclass(slots=True)  # never changed once built; not frozen: a frozen init costs 7× on the hot path
class Forecast:
    """The warning of one dossier: first moment at risk, current estimate, next moment to look again."""

    at_risk_since: datetime | None
    estimate: datetime | None
    wake_at: datetime | None


def forecast(
    history: DossierHistory, due_at: datetime | None, model: RemainingTimes, now: datetime
) -> Forecast:
    """AT_RISK of one accepted dossier with a due moment, judged causally up to ``now`` (or its resolution)."""
    if history.accepted is None or due_at is None:
        return Forecast(None, None, None)
    procedure = history.first.procedure_code
    stop = history.resolved.occurred_at if history.resolved is not None else now
    stop = min(stop, now)
    points = _milestones(history)
    at_risk: datetime | None = None
    for k, (key, at) in enumerate(points):
        if at > stop:
            break
        until = points[k + 1][1] if k + 1 < len(points) else stop
        until = min(until, stop)
        cross = model.crossing(procedure, key, at, due_at)
        if cross is not None and cross <= until and (cross < due_at):
            at_risk = cross
            break
    if history.resolved is not None and history.resolved.occurred_at <= now:
        return Forecast(at_risk, None, None)
    key, at = max((p for p in points if p[1] <= now), key=lambda p: p[1])
    estimate = model.estimate(procedure, key, at, now)
    cross = model.crossing(procedure, key, at, due_at)
    wake = cross if at_risk is None and cross is not None and now < cross < due_at else None
    return Forecast(at_risk, estimate, wake)
