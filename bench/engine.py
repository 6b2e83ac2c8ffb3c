"""The pure engine alone: CPU µs per assessment of ``evaluate``, and per stage.

No database, no broker: the ``bench.processing`` stream (N dossiers, 7 events each) is parsed and
folded first, then ``evaluate`` runs over it, timed by ``time.process_time`` only around the
engine. Two cases:

- all: one assessment per dossier, of its 7 events (a dossier's events in one batch);
- spread: one assessment per event, each over the dossier's events so far (a dossier's events in
  7 batches, as in a live system and ``bench.processing_handler --spread``).

``--iso`` gives every dossier an ISO process of three steps (the control slip's verdicts run);
without it the coverage is what ``bench.processing_handler`` sees (no QMS: OUT_OF_SCOPE).
The digest of every assessment's JSON is printed: equal digests, equal outputs. So is the share of
the garbage collector (``gc.callbacks``): the run keeps every assessment it makes, as a batch of the
handler keeps its batch's, and the collector walks all of them.

Per stage: each rule group of ``evaluate`` run alone over the same dossiers (all case).

    .venv/bin/python -m bench.engine --dossiers 5000 [--iso] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from bench.processing import PROCEDURES, stream
from services.processing.domain import engine
from services.processing.domain.apologies import judge_apologies
from services.processing.domain.clocks import compute_clocks
from services.processing.domain.control_slip import build_control_slip
from services.processing.domain.data_quality import judge_order
from services.processing.domain.history import Fold, check_dates, fold, fold_more
from services.processing.domain.inputs import ClockRules, ProcedureTerms, ProcessContext
from services.processing.domain.scope import judge_scope
from services.processing.domain.supplements import judge_supplements
from services.processing.domain.timeliness import judge_timeliness
from shared.calendar import Duration, DurationUnit
from shared.contracts.events import DossierEvent, parse_dossier_event
from shared.contracts.registry import IsoProcessRecord
from shared.settings import CommonSettings

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _process(code: str) -> IsoProcessRecord:
    return IsoProcessRecord.model_validate(
        {
            "agency_code": "x",
            "procedure_code": code,
            "version": 1,
            "effective_from": date(2024, 1, 1).isoformat(),
            "steps": [
                {
                    "code": f"B{i + 1}",
                    "name": f"step {i + 1}",
                    "responsible_unit": unit,
                    "budget": {"value": "0.5", "unit": "working_days"},
                }
                for i, unit in enumerate(("MC", "CV", "XX"))
            ],
        }
    )


def inputs(
    dossiers: int, iso: bool
) -> tuple[list[list[DossierEvent]], dict[str, ProcedureTerms], dict[str, ProcessContext]]:
    by_dossier: dict[str, list[DossierEvent]] = {}
    for key, value in stream(dossiers):
        by_dossier.setdefault(key.decode(), []).append(parse_dossier_event(value))
    terms = {
        code: ProcedureTerms(code, Duration(Decimal(days), DurationUnit.WORKING_DAYS))
        for code, days in PROCEDURES
    }
    coverage = {
        code: ProcessContext(True, (_process(code),)) if iso else ProcessContext(False, ())
        for code, _ in PROCEDURES
    }
    return list(by_dossier.values()), terms, coverage


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.process_time()
    out = fn()
    return time.process_time() - t, out


class _Collections:
    """CPU seconds the garbage collector used while this is among ``gc.callbacks``."""

    def __init__(self) -> None:
        self.used = 0.0
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.process_time()
        else:
            self.used += time.process_time() - self._began

    def __enter__(self) -> _Collections:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dossiers", type=int, default=5_000)
    ap.add_argument("--iso", action="store_true", help="every dossier has an ISO process (step verdicts run)")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs of each case")
    ap.add_argument("--no-stages", action="store_true")
    args = ap.parse_args()

    settings = CommonSettings()
    calendar = settings.calendar()
    rules = ClockRules.from_settings(settings)
    dossiers, terms, coverage = inputs(args.dossiers, args.iso)
    full: list[tuple[Fold, ProcedureTerms, ProcessContext]] = []
    prefixes: list[tuple[Fold, ProcedureTerms, ProcessContext]] = []
    for events in dossiers:
        code = events[0].procedure_code
        state: Fold | None = None
        for e in events:
            state = fold_more(state, [e])
            assert state is not None
            prefixes.append((state, terms[code], coverage[code]))
        assert state is not None
        full.append((state, terms[code], coverage[code]))

    def run(cases: list[tuple[Fold, ProcedureTerms, ProcessContext]]) -> list[engine.Evaluation]:
        return [engine.evaluate(f, t, calendar, rules, NOW, p) for f, t, p in cases]

    run(full[:200])  # warm the calendar's caches: a long-running service has them warm
    for name, cases in (("all", full), ("spread", prefixes)):
        best, collecting = float("inf"), 0.0
        out: list[engine.Evaluation] = []
        for _ in range(args.repeat):
            with _Collections() as collections:
                used, out = _timed(lambda cases=cases: run(cases))  # type: ignore[misc]
            if used < best:
                best, collecting = used, collections.used
        digest = hashlib.sha256()
        for ev in out:
            digest.update(ev.assessment.model_dump_json().encode())
            digest.update(repr(ev.next_deadline).encode())
        events = sum(len(f) for f, _, _ in full)
        print(
            f"{name:6}: {len(cases):,} assessments, {best / len(cases) * 1e6:7.1f} µs CPU/assessment, "
            f"{best / events * 1e6:7.1f} µs CPU/event  (digest {digest.hexdigest()[:16]}); "
            f"of which the garbage collector {collecting / len(cases) * 1e6:.1f} µs/assessment"
        )
    if args.no_stages:
        return

    histories = [(fold(f, rules.clock_stop), t, p) for f, t, p in full]
    clocks = [compute_clocks(h, t, calendar, rules) for h, t, _ in histories]
    scopes = [judge_scope(h, t, p, calendar) for h, t, p in histories]
    times = [judge_timeliness(h, c, calendar, NOW) for (h, _, _), c in zip(histories, clocks, strict=True)]
    stages: dict[str, Callable[[], Any]] = {
        "history (fold → facts)": lambda: [fold(f, rules.clock_stop) for f, _, _ in full],
        "check_dates": lambda: [check_dates(h, calendar) for h, _, _ in histories],
        "judge_scope": lambda: [judge_scope(h, t, p, calendar) for h, t, p in histories],
        "compute_clocks": lambda: [compute_clocks(h, t, calendar, rules) for h, t, _ in histories],
        "judge_order": lambda: [judge_order(h) for h, _, _ in histories],
        "judge_timeliness": lambda: [
            judge_timeliness(h, c, calendar, NOW) for (h, _, _), c in zip(histories, clocks, strict=True)
        ],
        "judge_apologies": lambda: [
            judge_apologies(h, c.due_at if c else None, tm.outcome, calendar, rules, NOW)
            for (h, _, _), c, tm in zip(histories, clocks, times, strict=True)
        ],
        "judge_supplements": lambda: [
            judge_supplements(h, c.start if c else None, calendar, rules)
            for (h, _, _), c in zip(histories, clocks, strict=True)
        ],
        "build_control_slip": lambda: [
            build_control_slip(h, s.process, calendar, NOW)
            for (h, _, _), s in zip(histories, scopes, strict=True)
        ],
        "working_days_between": lambda: [
            calendar.working_days_between(h.accepted.occurred_at, h.resolved.occurred_at)
            for h, _, _ in histories
            if h.accepted is not None and h.resolved is not None
        ],
    }
    total, _ = _timed(lambda: run(full))
    parts = 0.0
    print(f"stages (all case, {len(full):,} assessments, µs CPU/assessment):")
    for label, fn in stages.items():
        used = min(_timed(fn)[0] for _ in range(args.repeat))
        parts += used
        print(f"  {label:24} {used / len(full) * 1e6:7.1f}")
    print(f"  {'the rest (assembly)':24} {(total - parts) / len(full) * 1e6:7.1f}")
    print(f"  {'evaluate':24} {total / len(full) * 1e6:7.1f}")


if __name__ == "__main__":
    main()
