"""The replay bench's simulated log has the promised shape and replays cleanly under the shipped mapping."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson

from bench.xes_log import write_log
from services.replay.adapters.xes import read_xes
from services.replay.domain.translate import Translator
from services.replay.replay import load_mapping
from shared.contracts.events import parse_dossier_event

ROOT = Path(__file__).resolve().parents[2]


def test_simulated_log_has_3_to_7_events_a_case_ties_and_no_invalid_event(tmp_path: Path) -> None:
    path = write_log(tmp_path / "log.xes", 3_000, seed=5)
    assert path.read_bytes() == write_log(tmp_path / "again.xes", 3_000, seed=5).read_bytes()  # seeded
    cases = list(read_xes(path))
    sizes = Counter(len(c.events) for c in cases[:-1])  # the last case may be cut to the total
    assert sum(len(c.events) for c in cases) == 3_000
    assert set(sizes) == {3, 4, 5, 6, 7}
    ties = sum(
        a.attributes["time:timestamp"] == b.attributes["time:timestamp"]
        for c in cases
        for a, b in zip(c.events, c.events[1:], strict=False)
    )
    assert ties > 0
    translator = Translator(load_mapping(ROOT / "services" / "replay" / "mappings" / "receipt.toml"))
    results = [translator.translate(c) for c in cases]
    assert all(not r.problems and not r.skipped for r in results)
    events = [e for r in results for e in r.events]
    assert len(events) > 3_000  # the case start and, for most cases, the end become events too
    for event in events:
        parse_dossier_event(orjson.dumps(event))
