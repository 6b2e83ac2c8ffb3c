"""How good is the AT_RISK warning (dự báo trễ hạn)? Measured on the real receipt log, temporal split.

    .venv/bin/python -m bench.at_risk [--split 2011-06-01] [--quantiles 0.5,0.7,0.8,0.9]

The log is translated with the shipped mapping (services/replay/mappings/receipt.toml) and judged
by its Dutch legal profile with the log's end as censoring point — the same engine and inputs
processing uses, without a broker or database (pure functions). The model learns only from
dossiers *resolved* before the split date; the warning is evaluated on dossiers *accepted* on or
after it. The first warning is computed causally (for each interval between milestones only what
was known at its start is used), which gives the same moment as replaying in time order with
timers (tests/unit/test_forecast.py).

A dossier is late if it was resolved after its due moment, or was still open at the log's end
past its due moment. Precision = warned and late / warned; recall = warned and late / late;
lead time = due moment − first warning, for warned late dossiers; "before apology deadline" =
share of those warnings that came at least the apology lead time before the due moment.
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from datetime import date, datetime
from typing import Any

import orjson

from services.processing.domain.apologies import apology_deadline
from services.processing.domain.engine import ProcedureTerms, evaluate
from services.processing.domain.forecast import RemainingTimes
from services.processing.domain.history import fold
from services.processing.domain.inputs import ClockRules
from services.processing.domain.legal_profile import calendar_of, rules_of
from services.replay.domain.translate import Translator
from services.replay.replay import load_mapping, read_cases
from shared.calendar import CalendarOverrides, Duration
from shared.contracts.compliance import Outcome
from shared.contracts.events import DossierEvent, parse_dossier_event
from shared.settings import CommonSettings
from tests.conftest import ROOT, SHARED_DATA

LOG = SHARED_DATA / "receipt.xes.gz"
MAPPING = ROOT / "services" / "replay" / "mappings" / "receipt.toml"


def dossiers() -> tuple[dict[str, list[DossierEvent]], datetime]:
    mapping = load_mapping(MAPPING)
    translator = Translator(mapping)
    found: dict[str, list[DossierEvent]] = defaultdict(list)
    end: datetime | None = None
    for case in read_cases(LOG, mapping):
        result = translator.translate(case)
        for raw in result.events:
            event = parse_dossier_event(orjson.dumps(raw))
            found[event.dossier_code].append(event)
            end = event.occurred_at if end is None or event.occurred_at > end else end
    assert end is not None
    return found, end


def simulator(dossiers: int, quantiles: list[float], min_samples: int) -> None:
    """The same measure on the seeded simulator: its late templates are injected delays, and its
    ground truth (built without the engine) says which dossiers are late or pending overdue."""
    from services.simulator.domain.province import build_province
    from services.simulator.simulate import Options, generate

    settings = CommonSettings()
    reference = datetime.fromisoformat("2025-06-16T00:00:00+07:00")
    province = build_province()
    options = Options(dossiers=dossiers, seed=7, violation_rate=0.4, reference=reference)
    _, simulated = generate(settings, options)
    calendar = settings.calendar()
    rules = ClockRules.from_settings(settings)
    terms = {p.code: ProcedureTerms.from_record(p) for p in province.procedures}
    events = {d.code: [parse_dossier_event(orjson.dumps(e)) for e in d.events] for d in simulated}
    accepted = sorted(d.accepted_at for d in simulated if d.accepted_at is not None)
    split = accepted[len(accepted) // 2]
    histories = [fold(events[d.code]) for d in simulated]
    train = [h for h in histories if h.resolved is not None and h.resolved.occurred_at < split]
    test = [d for d in simulated if d.accepted_at is not None and d.accepted_at >= split]
    print(
        f"simulator: {len(simulated):,} dossiers (seed 7, violation rate 0.4, reference {reference:%Y-%m-%d}); "
        f"split {split:%Y-%m-%d %H:%M}: learn from {len(train):,} resolved before it, warn on {len(test):,}"
    )
    _table_head()
    for q in quantiles:
        model = RemainingTimes.learn(train, quantile=q, min_samples=min_samples)
        judged = []
        for d in test:
            a = evaluate(
                events[d.code], terms[d.procedure_code], calendar, rules, reference, forecast_model=model
            ).assessment
            judged.append((a, d.outcome in (Outcome.LATE, Outcome.PENDING_OVERDUE)))
        _table_row(q, judged, calendar, rules)


def _table_head() -> None:
    print(
        "| quantile | warned | late | warned and late | precision | recall | median lead time "
        "| before apology deadline |"
    )
    print("|---|---|---|---|---|---|---|---|")


def _table_row(q: float, judged: list[tuple[Any, bool]], calendar: Any, rules: ClockRules) -> None:
    warned = late = hits = in_time = 0
    leads: list[float] = []
    for a, is_late in judged:
        late += is_late
        if a.at_risk_since is not None:
            warned += 1
            if is_late:
                hits += 1
                leads.append((a.due_at - a.at_risk_since).total_seconds() / 86_400)
                in_time += a.at_risk_since <= apology_deadline(a.due_at, calendar, rules)
    precision = hits / warned if warned else 0.0
    recall = hits / late if late else 0.0
    median = statistics.median(leads) if leads else 0.0
    print(
        f"| {q:.1f} | {warned} | {late} | {hits} | {precision:.1%} | {recall:.1%} | "
        f"{median:.1f} days | {in_time / hits if hits else 0:.0%} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--split", type=date.fromisoformat, default=date(2011, 6, 1))
    ap.add_argument("--quantiles", default="0.5,0.7,0.8,0.9")
    ap.add_argument("--min-samples", type=int, default=20)
    ap.add_argument("--simulator", action="store_true", help="measure on the seeded simulator instead")
    ap.add_argument("--dossiers", type=int, default=4000)
    args = ap.parse_args()
    quantiles = [float(x) for x in args.quantiles.split(",")]
    if args.simulator:
        simulator(args.dossiers, quantiles, args.min_samples)
        return
    mapping = load_mapping(MAPPING)
    by_dossier, end = dossiers()
    profile = mapping.inline_profile(end)
    assert profile is not None
    settings = CommonSettings()
    calendar = calendar_of(profile, CalendarOverrides(), settings.date_window())
    rules = rules_of(profile, ClockRules.from_settings(settings))
    proc = mapping.procedure_record()
    assert proc is not None
    terms = ProcedureTerms(proc.code, Duration(proc.statutory_time.value, proc.statutory_time.unit))
    histories = {code: fold(events, rules.clock_stop) for code, events in by_dossier.items()}
    train = [
        h for h in histories.values() if h.resolved is not None and h.resolved.occurred_at.date() < args.split
    ]
    test = {
        c: by_dossier[c]
        for c, h in histories.items()
        if h.accepted is not None and h.accepted.occurred_at.date() >= args.split
    }
    print(
        f"receipt log: {len(by_dossier):,} dossiers, end {end.isoformat()}; split {args.split}: "
        f"learn from {len(train):,} resolved before it, warn on {len(test):,} accepted from it"
    )
    _table_head()
    for q in quantiles:
        model = RemainingTimes.learn(train, quantile=q, min_samples=args.min_samples)
        judged = []
        for events in test.values():
            a = evaluate(events, terms, calendar, rules, end, forecast_model=model).assessment
            if a.outcome is None or a.due_at is None:
                continue  # impossible order: no outcome to predict
            judged.append(
                (a, a.outcome is Outcome.LATE or (a.outcome is Outcome.OPEN_AT_END and a.due_at < end))
            )
        _table_row(q, judged, calendar, rules)


if __name__ == "__main__":
    main()
