"""The simulator: same seed → same bytes; every template's truth agrees with the engine."""

from __future__ import annotations

from datetime import datetime

import orjson

from services.processing.domain.engine import ClockRules, ProcedureTerms, ProcessContext, evaluate
from services.simulator.domain.province import build_province
from services.simulator.domain.scenario import VIOLATION_TEMPLATES
from services.simulator.simulate import Options, encoded, generate
from shared.contracts.events import parse_dossier_event
from shared.settings import CommonSettings

SETTINGS = CommonSettings()
REFERENCE = datetime.fromisoformat("2025-06-16T00:00:00+07:00")


def _stream(seed: int) -> bytes:
    options = Options(dossiers=300, seed=seed, violation_rate=0.5, reference=REFERENCE)
    _, dossiers = generate(SETTINGS, options)
    return b"\n".join(key + b" " + body for _, key, body, _ in encoded(dossiers, options))


def test_same_seed_same_stream_byte_for_byte() -> None:
    assert _stream(5) == _stream(5)
    assert _stream(5) != _stream(6)


def test_every_event_is_valid_and_before_the_reference() -> None:
    options = Options(dossiers=300, seed=3, violation_rate=0.5, reference=REFERENCE)
    _, dossiers = generate(SETTINGS, options)
    for _, _, body, _ in encoded(dossiers, options):
        assert parse_dossier_event(body).occurred_at < REFERENCE


def test_the_engine_agrees_with_the_ground_truth() -> None:
    """A fast cross-check (the e2e test checks the running system): the truth is built without
    the engine, so agreement here means the construction and the rules say the same thing."""
    province = build_province()
    calendar = SETTINGS.calendar()
    rules = ClockRules.from_settings(SETTINGS)
    terms = {p.code: ProcedureTerms.from_record(p) for p in province.procedures}
    qms = {q.agency_code: q for q in province.qms}
    _, dossiers = generate(SETTINGS, Options(dossiers=800, seed=9, violation_rate=0.6, reference=REFERENCE))
    assert {d.template for d in dossiers} >= set(VIOLATION_TEMPLATES)
    wrong = []
    for d in dossiers:
        events = [parse_dossier_event(orjson.dumps(e)) for e in d.events]
        context = ProcessContext.from_registry(
            qms.get(d.agency_code),
            [p for p in province.processes if p.agency_code == d.agency_code],
            d.procedure_code,
        )
        a = evaluate(events, terms[d.procedure_code], calendar, rules, REFERENCE, context).assessment
        got = {nc.code for nc in a.nonconformities}
        if got != {c.value for c in d.codes} or a.outcome != d.outcome:
            wrong.append((d.code, d.template, sorted(got), a.outcome))
    assert not wrong, wrong[:5]


def test_a_live_feed_never_reuses_a_dossier_code_across_its_batches() -> None:
    """The live feed of ``make run`` sends seed after seed: seeds 1 and 101 once made the same codes
    for other dossiers (the code kept only the seed's last two digits), mixing their events."""
    numbers: dict = {}
    owners: dict[str, int] = {}
    for seed in (1, 101, 201):
        options = Options(dossiers=300, seed=seed, violation_rate=0.5, reference=REFERENCE)
        _, dossiers = generate(SETTINGS, options, numbers=numbers, code_tag=7)
        for d in dossiers:
            assert owners.setdefault(d.code, seed) == seed, f"{d.code} made by seeds {owners[d.code]} and {seed}"
    assert len(owners) == 900
    # and without the shared numbering the old collision is real: the guard above is needed
    _, first = generate(SETTINGS, Options(dossiers=300, seed=1, reference=REFERENCE))
    _, again = generate(SETTINGS, Options(dossiers=300, seed=101, reference=REFERENCE))
    assert {d.code for d in first} & {d.code for d in again}
