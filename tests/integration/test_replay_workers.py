"""A full-speed replay split over worker processes reports exactly what one process reports: the
same counts, the same first problems in log order, every valid event on the topic once, in order
per dossier."""

from __future__ import annotations

import json
import multiprocessing
from collections import defaultdict
from pathlib import Path

import pytest

from services.replay.adapters.xes import UnreadableLog
from services.replay.domain.mapping import parse_mapping
from services.replay.domain.translate import Problem
from services.replay.replay import HAND_OVER_EVENTS, replay
from shared.settings import CommonSettings, Topics
from tests.conftest import Infra
from tests.integration.streams import read_topic
from tests.unit.test_replay_mapping import MAPPING

pytestmark = pytest.mark.integration

CASES = 3_000  # 6,000 events: several hand-over batches, so both workers get some


def bad_date(c: int) -> bool:  # a step dated 1990: outside the contract's date window
    return c % 150 == 7


def bad_text(c: int) -> bool:  # an acceptance whose timestamp is not a date: the translation refuses it
    return c % 200 == 7


def write_log(path: Path) -> None:
    traces = []
    for c in range(CASES):
        received = "garbage" if bad_text(c) else f"2011-10-{1 + c % 28:02d}T09:00:00.000+02:00"
        checked = f"{1990 if bad_date(c) else 2011}-10-{1 + c % 28:02d}T10:00:00.000+02:00"
        traces.append(
            f'<trace><string key="concept:name" value="c{c}"/><string key="channel" value="Desk"/>'
            f'<event><string key="concept:name" value="Receive"/><date key="time:timestamp" value="{received}"/>'
            '<string key="lifecycle:transition" value="complete"/></event>'
            f'<event><string key="concept:name" value="Check"/><date key="time:timestamp" value="{checked}"/>'
            '<string key="org:group" value="Group 1"/><string key="lifecycle:transition" value="complete"/></event>'
            "</trace>\n"
        )
    path.write_text('<?xml version="1.0" encoding="UTF-8" ?>\n<log>\n' + "".join(traces) + "</log>\n")


async def test_workers_report_what_one_process_reports(infra: Infra, unique: str, tmp_path: Path) -> None:
    assert CASES * 2 > 2 * HAND_OVER_EVENTS
    log = tmp_path / "log.xes"
    write_log(log)
    mapping = parse_mapping(MAPPING)
    summaries = {}
    for workers in (0, 2):
        settings = CommonSettings(
            kafka_bootstrap_servers=infra.bootstrap_servers,
            kafka_partitions=3,
            topics=Topics(dossier_events=f"t{unique}.replay-workers-{workers}.v1"),
        )
        summaries[workers] = await replay(log, mapping, settings, progress=False, workers=workers)

    one, split = summaries[0], summaries[2]
    expected_problems = []
    for c in range(CASES):
        if bad_text(c):
            expected_problems.append(("event 0", "'garbage' is not an ISO 8601 timestamp"))
        if bad_date(c):
            expected_problems.append((f"event test-log:c{c}#1", "dossier.step_completed.occurred_at"))
    invalid = sum(bad_text(c) for c in range(CASES)) + sum(bad_date(c) for c in range(CASES))
    for s in (one, split):
        assert (s.cases, s.dossiers, s.invalid) == (CASES, CASES, invalid)
        assert s.events == 2 * CASES - invalid
        assert [
            (p.where, p.reason.split(":")[0] if p.where.startswith("event test") else p.reason)
            for p in s.problems
        ] == (expected_problems[:20])
    assert split.problems == one.problems and split.skipped == one.skipped and split.log_end == one.log_end
    assert all(isinstance(p, Problem) for p in split.problems)

    records = await read_topic(infra.bootstrap_servers, f"t{unique}.replay-workers-2.v1", split.events)
    per_dossier: dict[str, list[str]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        event = json.loads(r.value)
        assert r.key.decode() == event["dossier_code"]
        per_dossier[event["dossier_code"]].append(event["event_id"])
    assert (
        len(records) == split.events
        and len({json.loads(r.value)["event_id"] for r in records}) == split.events
    )
    assert all(ids == sorted(ids, key=lambda i: int(i.rsplit("#", 1)[1])) for ids in per_dossier.values())


async def test_a_log_that_breaks_midway_stops_the_workers_with_the_readers_error(
    infra: Infra, unique: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "broken.xes"
    write_log(log)
    log.write_text(log.read_text().replace("</log>", "<trace><event></trace></log>"))
    settings = CommonSettings(
        kafka_bootstrap_servers=infra.bootstrap_servers,
        topics=Topics(dossier_events=f"t{unique}.replay-workers-broken.v1"),
    )
    with pytest.raises(UnreadableLog, match=r"malformed XML \(mismatched tag: line 3003"):
        await replay(log, parse_mapping(MAPPING), settings, progress=False, workers=1)
    assert "Traceback" not in capfd.readouterr().err  # the worker stopped quietly
    assert multiprocessing.active_children() == []
