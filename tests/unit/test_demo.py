"""The demo data of ``make run`` makes sense (issue #14 item 8).

Its agencies' announced ISO scopes cover the procedures they receive, and the findings the
system will raise on it are exactly the violations the simulator injected — judged here by the
real compliance engine with the registry records the demo loads (the e2e test
tests/e2e/test_cli_finds_the_system.py checks the running system on the same data).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import orjson

from services.cli.demo import DEMO_SEED, demo_dossiers, demo_options
from services.processing.domain.engine import ClockRules, ProcedureTerms, ProcessContext, evaluate
from services.simulator.domain.province import build_province
from shared.contracts.events import parse_dossier_event
from shared.settings import CommonSettings

SETTINGS = CommonSettings()
REFERENCE = datetime.fromisoformat("2025-06-16T00:00:00+07:00")


def test_the_demo_findings_are_the_injected_violations_and_nothing_else() -> None:
    province = build_province()
    calendar = SETTINGS.calendar()
    rules = ClockRules.from_settings(SETTINGS)
    terms = {p.code: ProcedureTerms.from_record(p) for p in province.procedures}
    qms = {q.agency_code: q for q in province.qms}
    dossiers = demo_dossiers(SETTINGS, demo_options(reference=REFERENCE))
    assert len(dossiers) == 300
    raised: Counter[str] = Counter()
    injected: Counter[str] = Counter()
    wrong = []
    for d in dossiers:
        events = [parse_dossier_event(orjson.dumps(e)) for e in d.events]
        context = ProcessContext.from_registry(
            qms.get(d.agency_code),
            [p for p in province.processes if p.agency_code == d.agency_code],
            d.procedure_code,
        )
        a = evaluate(events, terms[d.procedure_code], calendar, rules, REFERENCE, context).assessment
        got = {str(nc.code) for nc in a.nonconformities}
        raised.update(got)
        injected.update(str(c) for c in d.codes)
        if got != {str(c) for c in d.codes}:
            wrong.append((d.code, d.template, sorted(got), sorted(str(c) for c in d.codes)))
    assert not wrong, wrong[:5]
    assert raised == injected
    with_findings = sum(1 for d in dossiers if d.codes)
    # the old demo raised OUT_OF_SCOPE on every dossier of an agency without a QMS (650 for 570)
    assert with_findings < len(dossiers) / 2, f"{with_findings} of {len(dossiers)} dossiers have findings"
    assert raised["OUT_OF_SCOPE"] < len(dossiers) / 10, raised


def test_every_announced_scope_covers_what_its_agency_receives_but_the_deliberate_gaps() -> None:
    province = build_province()
    qms = {q.agency_code: q for q in province.qms}
    processes = {(p.agency_code, p.procedure_code) for p in province.processes}
    dossiers = demo_dossiers(SETTINGS, demo_options(reference=REFERENCE))
    for d in dossiers:
        if "OUT_OF_SCOPE" in {str(c) for c in d.codes}:
            continue  # the gaps the simulator injects on purpose, and says so in its truth
        assert d.agency_code in qms, d.code
        assert d.procedure_code in qms[d.agency_code].scope, d.code
        assert (d.agency_code, d.procedure_code) in processes, d.code
    assert {d.agency_code for d in dossiers} <= {a.code for a in province.agencies}


def test_the_backlog_keeps_its_dossier_codes_apart_from_the_live_stream() -> None:
    backlog = {d.code for d in demo_dossiers(SETTINGS, demo_options(reference=REFERENCE))}
    live_first_batch = {d.code for d in demo_dossiers(SETTINGS, demo_options(200, DEMO_SEED + 1, REFERENCE))}
    assert backlog and live_first_batch and not backlog & live_first_batch
