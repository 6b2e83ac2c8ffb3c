"""Replay mapping logic on small hand-written XES and CSV logs: the exact events produced."""

from __future__ import annotations

import gzip
import tomllib
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from services.registry.domain.iso_process import process_problems
from services.replay.adapters.csv_log import read_csv
from services.replay.adapters.xes import UnreadableLog, read_xes
from services.replay.domain.log import LogCase, LogEvent
from services.replay.domain.mapping import MappingError, parse_mapping
from services.replay.domain.translate import Translator, event_id, iso_text
from services.replay.replay import load_mapping, log_format
from shared.contracts.events import parse_dossier_event

MAPPING = """
[log]
source = "test-log"
unit = "org:group"
unit_default = "NONE"
handler = "org:resource"
lifecycle = "lifecycle:transition"
keep_transitions = ["complete"]

[dossier]
agency_code = "000.00.13.H13"
procedure_code = "1.004845"

[case]
deadline = "deadline"
channel = "channel"
channel_values = { Desk = 1, Internet = 2 }

[units]
"Group 1" = "MC"

[[case_events]]
event = "resolved"
timestamp = "enddate"

[activities]
"Receive" = { event = "accepted" }
"Check" = { event = "step_completed", step = "B1" }
"Ask more" = { event = "supplement_requested", reason = "documents missing" }
"More arrived" = { event = "supplement_received" }
"Noise" = { event = "ignore" }
"""

XES = """<?xml version="1.0" encoding="UTF-8" ?>
<log xes.version="1.0" xmlns="http://www.xes-standard.org/">
  <global scope="trace"><string key="concept:name" value="UNKNOWN"/></global>
  <string key="concept:name" value="the log's own name, not a case"/>
  <trace>
    <string key="concept:name" value="c1"/>
    <string key="channel" value="Desk"/>
    <date key="deadline" value="2011-12-06T13:41:31.788+01:00"/>
    <date key="enddate" value="2011-10-20T10:00:00.000+02:00"/>
    <event>
      <string key="concept:name" value="Receive"/>
      <date key="time:timestamp" value="2011-10-11T13:45:40.276+02:00"/>
      <string key="lifecycle:transition" value="complete"/>
    </event>
    <event>
      <string key="concept:name" value="Check"/>
      <string key="org:group" value="Group 1"/>
      <string key="org:resource" value="Resource21"/>
      <date key="time:timestamp" value="2011-10-12T08:26:25.398+02:00"/>
      <string key="lifecycle:transition" value="start"/>
    </event>
    <event>
      <string key="concept:name" value="Check"/>
      <string key="org:group" value="Group 1"/>
      <string key="org:resource" value="Resource21"/>
      <date key="time:timestamp" value="2011-10-12T09:26:25.398+02:00"/>
      <string key="lifecycle:transition" value="complete"/>
    </event>
    <event>
      <string key="concept:name" value="Noise"/>
      <date key="time:timestamp" value="2011-10-12T09:30:00+02:00"/>
      <string key="lifecycle:transition" value="complete"/>
    </event>
    <event>
      <string key="concept:name" value="Ask more"/>
      <date key="time:timestamp" value="2011-10-13T09:00:00+02:00"/>
      <string key="lifecycle:transition" value="complete"/>
    </event>
    <event>
      <string key="concept:name" value="Phone call"/>
      <date key="time:timestamp" value="2011-10-13T10:00:00+02:00"/>
      <string key="lifecycle:transition" value="complete"/>
    </event>
    <event>
      <string key="concept:name" value="More arrived"/>
      <date key="time:timestamp" value="2011-10-31T09:00:00+01:00"/>
      <string key="lifecycle:transition" value="complete"/>
    </event>
  </trace>
  <trace>
    <string key="concept:name" value="c2"/>
    <string key="channel" value="Internet"/>
    <event>
      <string key="concept:name" value="Receive"/>
      <date key="time:timestamp" value="2011-10-11T23:10:00+02:00"/>
      <string key="lifecycle:transition" value="complete"/>
    </event>
    <event>
      <string key="concept:name" value="Check"/>
      <date key="time:timestamp" value="2011-10-12T10:00:00+02:00"/>
      <string key="lifecycle:transition" value="complete"/>
    </event>
  </trace>
</log>
"""

BASE = {"source": "test-log", "agency_code": "000.00.13.H13", "procedure_code": "1.004845"}
C1 = {**BASE, "dossier_code": "000.00.13.H13-111011-0001"}
C2 = {**BASE, "dossier_code": "000.00.13.H13-111011-0002"}

EXPECTED_C1: list[dict[str, Any]] = [
    {
        **C1,
        "event_id": "test-log:c1#0",
        "event_type": "dossier.accepted",
        "occurred_at": "2011-10-11T13:45:40.276000+02:00",
        "payload": {"channel": 1, "appointed_return_at": "2011-12-06T13:41:31.788000+01:00"},
    },
    {
        **C1,
        "event_id": "test-log:c1#2",
        "event_type": "dossier.step_completed",
        "occurred_at": "2011-10-12T09:26:25.398000+02:00",
        "payload": {"step_code": "B1", "from_unit": "MC", "handler": "Resource21"},
    },
    {
        **C1,
        "event_id": "test-log:c1#4",
        "event_type": "dossier.supplement_requested",
        "occurred_at": "2011-10-13T09:00:00+02:00",
        "payload": {"reason": "documents missing"},
    },
    {
        **C1,
        "event_id": "test-log:c1#enddate",
        "event_type": "dossier.resolved",
        "occurred_at": "2011-10-20T10:00:00+02:00",
        "payload": {},
    },
    {
        **C1,
        "event_id": "test-log:c1#6",
        "event_type": "dossier.supplement_received",
        "occurred_at": "2011-10-31T09:00:00+01:00",
        "payload": {},
    },
]
EXPECTED_C2: list[dict[str, Any]] = [
    {
        **C2,
        "event_id": "test-log:c2#0",
        "event_type": "dossier.accepted",
        "occurred_at": "2011-10-11T23:10:00+02:00",
        "payload": {"channel": 2},
    },
    {
        **C2,
        "event_id": "test-log:c2#1",
        "event_type": "dossier.step_completed",
        "occurred_at": "2011-10-12T10:00:00+02:00",
        "payload": {"step_code": "B1", "from_unit": "NONE"},
    },
]


def translate_all(cases: list[LogCase], mapping_text: str = MAPPING) -> tuple[list[Any], Translator]:
    translator = Translator(parse_mapping(mapping_text))
    return [translator.translate(c) for c in cases], translator


def test_xes_cases_become_exactly_the_expected_events(tmp_path: Path) -> None:
    path = tmp_path / "log.xes"
    path.write_text(XES, encoding="utf-8")
    cases = list(read_xes(path))
    assert [c.case_id for c in cases] == ["c1", "c2"]  # the log's own concept:name is not a case
    results, _ = translate_all(cases)
    c1, c2 = results
    assert list(c1.events) == EXPECTED_C1  # ordered by moment; the resolution sits between the events
    assert list(c2.events) == EXPECTED_C2  # no end date: not resolved; no deadline: no appointment
    assert c1.dossier_code == "000.00.13.H13-111011-0001"
    # day 111011 is the local date as written (+02:00), and the sequence counts per agency and day
    assert c2.dossier_code == "000.00.13.H13-111011-0002"
    assert dict(c1.skipped) == {
        "Check (start)": 1,
        "Noise": 1,
        "Phone call (not in the mapping)": 1,
    }
    assert c1.problems == () and c2.problems == ()
    for event in [*c1.events, *c2.events]:
        parse_dossier_event(orjson.dumps(event))  # every one meets the contract


def test_the_same_log_gzipped_reads_the_same(tmp_path: Path) -> None:
    plain, packed = tmp_path / "log.xes", tmp_path / "log.xes.gz"
    plain.write_text(XES, encoding="utf-8")
    packed.write_bytes(gzip.compress(XES.encode()))
    assert list(read_xes(plain)) == list(read_xes(packed))
    assert log_format(packed) == "xes" and log_format(tmp_path / "x.CSV") == "csv"


CSV = """case,activity,time,org:group,org:resource,lifecycle:transition,channel,deadline,enddate
c1,Receive,2011-10-11T13:45:40.276+02:00,,,complete,Desk,2011-12-06T13:41:31.788+01:00,
c1,Check,2011-10-12T08:26:25.398+02:00,Group 1,Resource21,start,,,
c1,Check,2011-10-12T09:26:25.398+02:00,Group 1,Resource21,complete,,,
c1,Noise,2011-10-12T09:30:00+02:00,,,complete,,,
c1,Ask more,2011-10-13T09:00:00+02:00,,,complete,,,
c1,Phone call,2011-10-13T10:00:00+02:00,,,complete,,,
c1,More arrived,2011-10-31T09:00:00+01:00,,,complete,,,2011-10-20T10:00:00.000+02:00
c2,Receive,2011-10-11T23:10:00+02:00,,,complete,Internet,,
c2,Check,2011-10-12T10:00:00+02:00,,,complete,Internet,,
"""

CSV_MAPPING = MAPPING.replace(
    'source = "test-log"', 'source = "test-log"\ncase_id = "case"\nactivity = "activity"\ntimestamp = "time"'
)


def test_a_csv_log_gives_the_same_events_as_the_xes_log(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text(CSV, encoding="utf-8")
    results, _ = translate_all(list(read_csv(path, "case")), CSV_MAPPING)
    assert [list(r.events) for r in results] == [EXPECTED_C1, EXPECTED_C2]


def test_a_csv_log_not_grouped_by_case_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("case,activity\nc1,Receive\nc2,Receive\nc1,Check\n", encoding="utf-8")
    with pytest.raises(UnreadableLog, match="sort the file by case"):
        list(read_csv(path, "case"))
    with pytest.raises(UnreadableLog, match="no column 'id'"):
        list(read_csv(path, "id"))


def case(case_id: str, attributes: dict[str, str], *events: dict[str, str]) -> LogCase:
    return LogCase(case_id, attributes, tuple(LogEvent(i, e) for i, e in enumerate(events)))


def test_what_cannot_become_an_event_is_reported_per_case_not_produced() -> None:
    bad = case(
        "c9",
        {"channel": "Pigeon", "deadline": "next week", "enddate": "2011-13-45"},
        {
            "concept:name": "Receive",
            "time:timestamp": "2011-10-11T13:45:40+02:00",
            "lifecycle:transition": "complete",
        },
        {"concept:name": "Check", "time:timestamp": "yesterday", "lifecycle:transition": "complete"},
        {
            "concept:name": "Check",
            "time:timestamp": "2011-10-12T09:00:00",
            "lifecycle:transition": "complete",
        },
        {"time:timestamp": "2011-10-12T09:00:00+02:00"},
    )
    (result,), _ = translate_all([bad])
    assert result.events == ()  # nothing usable: no dossier code is spent either
    assert result.dossier_code is None
    reasons = {p.where: p.reason for p in result.problems}
    assert "not an ISO 8601 timestamp" in reasons["attribute deadline"]
    assert "not an ISO 8601 timestamp" in reasons["attribute enddate"]
    assert "'Pigeon' is not in [case] channel_values" in reasons["event 0"]
    assert "not an ISO 8601 timestamp" in reasons["event 1"]
    assert "no UTC offset; set [log] naive_timezone" in reasons["event 2"]
    assert "no activity" in reasons["event 3"]


def test_naive_timestamps_are_read_in_the_configured_zone_and_unmapped_can_be_an_error() -> None:
    text = MAPPING.replace(
        'keep_transitions = ["complete"]',
        'keep_transitions = ["complete"]\nnaive_timezone = "Europe/Amsterdam"\nunmapped_activities = "error"',
    )
    log_case = case(
        "c1",
        {"channel": "Internet"},
        {
            "concept:name": "Receive",
            "time:timestamp": "2011-10-30T12:00:00",
            "lifecycle:transition": "complete",
        },
        {
            "concept:name": "Phone",
            "time:timestamp": "2011-10-30T12:00:00",
            "lifecycle:transition": "complete",
        },
    )
    (result,), _ = translate_all([log_case], text)
    assert result.events[0]["occurred_at"] == "2011-10-30T12:00:00+01:00"  # after the DST change
    assert [p.reason for p in result.problems] == [
        "activity 'Phone' is not in [activities]; map it or ignore it"
    ]


def test_event_ids_and_dossier_codes_are_the_same_on_every_replay(tmp_path: Path) -> None:
    path = tmp_path / "log.xes"
    path.write_text(XES, encoding="utf-8")
    first, _ = translate_all(list(read_xes(path)))
    second, _ = translate_all(list(read_xes(path)))
    assert [r.events for r in first] == [r.events for r in second]
    long_id = "x" * 200
    hashed = event_id("test-log", long_id, "3")
    assert len(hashed) <= 128 and hashed == event_id("test-log", long_id, "3")
    assert hashed != event_id("test-log", long_id, "4")


def test_dossier_numbers_run_per_day_and_widen_only_past_the_digits() -> None:
    cases = [
        case(
            f"c{i}",
            {"channel": "Desk"},
            {
                "concept:name": "Receive",
                "time:timestamp": f"2025-03-1{i // 3}T09:00:00+07:00",
                "lifecycle:transition": "complete",
            },
        )
        for i in range(6)
    ]
    results, _ = translate_all(cases)
    assert [r.dossier_code.rsplit("-", 2)[1:] for r in results] == [
        ["250310", "0001"],
        ["250310", "0002"],
        ["250310", "0003"],
        ["250311", "0001"],
        ["250311", "0002"],
        ["250311", "0003"],
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ('"Check" = { event = "step_completed", step = "B1" }', None),
        ('"Check" = { event = "step_completed" }', "give `step`"),
        ('"Check" = { event = "stopped" }', "needs a `reason`"),
        ('"Check" = { event = "fee_paid" }', "activities.Check.event"),
        ('"Check" = { event = "ignore", colour = "red" }', "colour"),
        ('"Check" = {', "not valid TOML"),
    ],
)
def test_mapping_errors_say_where_and_what(change: str, message: str | None) -> None:
    text = MAPPING.replace('"Check" = { event = "step_completed", step = "B1" }', change)
    if message is None:
        parse_mapping(text)
        return
    with pytest.raises(MappingError, match=message):
        parse_mapping(text, "m.toml")


def test_the_shipped_receipt_mapping_is_complete_and_its_process_fits_the_statutory_time() -> None:
    path = Path(__file__).resolve().parents[2] / "services" / "replay" / "mappings" / "receipt.toml"
    mapping = load_mapping(path)
    assert len(mapping.activities) == 27  # every activity of the log
    procedure, process = mapping.procedure_record(), mapping.iso_process_record()
    assert procedure is not None and process is not None and mapping.agency_record() is not None
    assert process_problems(process, procedure.statutory_time, Decimal(8)) == []
    mapped_steps = {r.step for r in mapping.activities.values() if r.step}
    assert mapped_steps == {s.code for s in process.steps}
    assert tomllib.loads(path.read_text())["registry"]["procedure"]["statutory_time"]["value"] == "56"
    qms = mapping.qms_record(None)
    assert qms is not None and qms.scope == (mapping.dossier.procedure_code,)
    assert mapping.qms_record(qms) is None  # already in scope: nothing to write


def test_times_keep_their_offsets() -> None:
    (result,), _ = translate_all(
        [
            case(
                "c1",
                {"channel": "Desk"},
                {
                    "concept:name": "Receive",
                    "time:timestamp": "2011-10-11T13:45:40Z",
                    "lifecycle:transition": "complete",
                },
            )
        ]
    )
    occurred = datetime.fromisoformat(result.events[0]["occurred_at"])
    assert occurred.utcoffset() is not None and occurred.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "text",
    [
        "2011-10-11T13:00:40.276+02:00",
        "2011-10-11T13:00:40.000+02:00",
        "2011-10-11T13:00:40.000000-05:30",
        "2011-10-11T13:00:40.270100+00:00",
        "2011-10-11T13:00:40-00:00",
        "2011-10-11T13:00:40+14:00",
        "2011-10-11T13:00:40.5+02:00",
        "2011-10-11T13:00:40Z",
        "2011-10-11 13:00:40.276+02:00",
        "20111011T130040+0200",
        "2011-10-11T13:00:40.276+02:00:30",
    ],
)
def test_the_text_of_a_moment_is_what_isoformat_gives(text: str) -> None:
    assert iso_text(text, datetime.fromisoformat(text)) == datetime.fromisoformat(text).isoformat()


def test_events_sort_by_instant_across_offsets_and_fractions(tmp_path: Path) -> None:
    """Within one offset the local times sort as text; across a DST change, as instants."""
    mapping = parse_mapping(MAPPING)
    moments = [
        "2011-10-30T02:30:00.000+02:00",  # 00:30 UTC
        "2011-10-30T02:10:00.500+01:00",  # 01:10:00.5 UTC, earlier local time, later instant
        "2011-10-30T02:10:00+01:00",  # 01:10 UTC
        "2011-10-30T02:10:00.000+01:00",  # the same instant: log order breaks the tie
    ]
    events = tuple(
        LogEvent(
            i,
            {
                "concept:name": "Check",
                "time:timestamp": t,
                "org:group": "MC",
                "lifecycle:transition": "complete",
            },
        )
        for i, t in enumerate(moments)
    )
    same_offset = tuple(
        LogEvent(i, {**e.attributes, "time:timestamp": t})
        for i, (e, t) in enumerate(
            zip(
                events[:3],
                ["2011-10-30T09:00:00.5+01:00", "2011-10-30T09:00:00+01:00", "2011-10-30T08:59:59.999+01:00"],
                strict=True,
            )
        )
    )
    translator = Translator(mapping)
    mixed = translator.translate(LogCase("c", {}, events))
    plain = translator.translate(LogCase("d", {}, same_offset))
    assert [e["event_id"] for e in mixed.events] == [
        "test-log:c#0",
        "test-log:c#2",
        "test-log:c#3",
        "test-log:c#1",
    ]
    assert [e["event_id"] for e in plain.events] == ["test-log:d#2", "test-log:d#1", "test-log:d#0"]
    assert [e["occurred_at"] for e in plain.events] == [
        "2011-10-30T08:59:59.999000+01:00",
        "2011-10-30T09:00:00+01:00",
        "2011-10-30T09:00:00.500000+01:00",
    ]
