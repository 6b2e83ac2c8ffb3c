"""The real receipt log through ``replay`` → the real broker → registry + processing → PostgreSQL.

The expected figures come from parsing the XES here, with gzip and ElementTree, independently
of the importer, and from shared.calendar directly:

- statutory view (what processing judges): the clock starts at the "Confirmation of receipt"
  event (moved to the next working day's opening when the channel is in person and it is at
  or after the cut-off), due = start + the mapping's statutory time (56 calendar days) on the
  Vietnamese working-day calendar; the case's ``enddate`` is the resolution; resolved on an
  earlier local day than the due day → early, by the due moment → on time, after → late; a
  case without ``enddate`` is still pending (overdue once the due moment has passed);
- deadline view (the log's own): the appointed return date processing stored (it must equal
  the trace's ``deadline``) against the resolution moment processing stored (it must equal
  ``enddate``), by the same day rule in the calendar's time zone; compared with the same
  classification of ``enddate`` against ``deadline`` read from the XES.
"""

from __future__ import annotations

import gzip
import time
import tomllib
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import orjson
import pytest

from services.replay.adapters.registry_client import RegistryClient
from services.replay.replay import Summary, load_mapping, replay
from shared.calendar import Duration, DurationUnit, WorkingCalendar
from shared.kafka import ensure_topics
from shared.settings import CommonSettings, Topics
from tests.conftest import ROOT, SHARED_DATA, Infra, create_database
from tests.integration.service_process import ServiceProcess, isolated_topics, topic_specs_for
from tests.integration.streams import wait_until

pytestmark = pytest.mark.integration

RECEIPT = SHARED_DATA / "receipt.xes.gz"
MAPPING = ROOT / "services" / "replay" / "mappings" / "receipt.toml"
TOKEN = "tthc_replay-test-admin-token-0123456789"
XES = "{http://www.xes-standard.org/}"

# The shipped mapping, QMS record included: processing applies the ISO step rules too.
MAPPING_IN_TEST = load_mapping(MAPPING)

needs_log = pytest.mark.skipif(
    not RECEIPT.exists(), reason=f"the real receipt log is not at {RECEIPT} (../shared/data/receipt.xes.gz)"
)


@dataclass(frozen=True)
class LogCase:
    case_id: str
    channel: str
    accepted_at: datetime  # the "Confirmation of receipt" event
    deadline: datetime
    enddate: datetime | None
    events: int


def read_log_independently() -> dict[str, LogCase]:
    """Every trace of the receipt log, read with ElementTree alone."""
    cases = {}
    with gzip.open(RECEIPT) as f:
        root = ET.parse(f).getroot()
    for trace in root.iter(f"{XES}trace"):
        attrs = {a.get("key"): a.get("value") for a in trace if a.tag != f"{XES}event"}
        events = [{a.get("key"): a.get("value") for a in e} for e in trace.iter(f"{XES}event")]
        receipt = [e for e in events if e["concept:name"] == "Confirmation of receipt"]
        assert len(receipt) == 1
        cases[str(attrs["concept:name"])] = LogCase(
            case_id=str(attrs["concept:name"]),
            channel=str(attrs["channel"]),
            accepted_at=datetime.fromisoformat(str(receipt[0]["time:timestamp"])),
            deadline=datetime.fromisoformat(str(attrs["deadline"])),
            enddate=datetime.fromisoformat(str(attrs["enddate"])) if attrs.get("enddate") else None,
            events=len(events),
        )
    return cases


def day_rule(done: datetime, due: datetime, calendar: WorkingCalendar) -> str:
    if done.astimezone(calendar.tz).date() < due.astimezone(calendar.tz).date():
        return "early"
    return "on_time" if done <= due else "late"


@dataclass(frozen=True)
class Stored:
    outcome: str | None
    due_at: datetime | None
    resolved_at: datetime | None
    appointed: datetime | None


@dataclass(frozen=True)
class Replayed:
    summary: Summary
    stored: dict[str, Stored]  # by the log's case id
    events_stored: int
    seconds: float


async def stored_state(dsn: str) -> tuple[dict[str, Stored], int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT e.event_id, e.body::text AS body, d.outcome, d.due_at, d.resolved_at "
            "FROM processing.dossiers d JOIN processing.events e "
            "ON e.dossier_code = d.dossier_code AND e.event_type = 'dossier.accepted'"
        )
        events = await conn.fetchval("SELECT count(*) FROM processing.events")
    finally:
        await conn.close()
    stored = {}
    for r in rows:
        case_id = r["event_id"].removeprefix("coselog-receipt:").rsplit("#", 1)[0]
        appointed = orjson.loads(r["body"])["payload"].get("appointed_return_at")
        stored[case_id] = Stored(
            r["outcome"],
            r["due_at"],
            r["resolved_at"],
            datetime.fromisoformat(appointed) if appointed else None,
        )
    return stored, int(events)


@pytest.fixture(scope="module")
async def replayed(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    """The receipt log replayed once at full speed into registry + processing."""
    if not RECEIPT.exists():
        pytest.skip(f"the real receipt log is not at {RECEIPT} (../shared/data/receipt.xes.gz)")
    logs = tmp_path_factory.mktemp("replay")
    unique = f"r{time.monotonic_ns() % 10**8}"
    env = isolated_topics(unique) | {"TTHC_CONSUMER_GROUP_PREFIX": f"g{unique}"}
    await ensure_topics(CommonSettings(kafka_bootstrap_servers=infra.bootstrap_servers), topic_specs_for(env))
    dsn = await create_database(infra)
    registry = ServiceProcess(
        "registry", dsn, infra.bootstrap_servers, env | {"TTHC_ADMIN_TOKEN": TOKEN}, logs / "registry.log"
    ).start()
    processing = ServiceProcess(
        "processing", dsn, infra.bootstrap_servers, env, logs / "processing.log"
    ).start()
    settings = CommonSettings(
        kafka_bootstrap_servers=infra.bootstrap_servers,
        kafka_partitions=3,
        topics=Topics(
            dossier_events=env["TTHC_TOPIC_DOSSIER_EVENTS"],
            compliance=env["TTHC_TOPIC_COMPLIANCE"],
            registry=env["TTHC_TOPIC_REGISTRY"],
        ),
    )
    client = RegistryClient(registry.url, TOKEN)
    try:
        started = time.perf_counter()
        summary = await replay(RECEIPT, MAPPING_IN_TEST, settings, registry=client, progress=False)
        await wait_until(dsn, "SELECT count(*) FROM processing.events", summary.events, timeout=60)
        await wait_until(
            dsn,
            "SELECT count(*) FROM processing.dossiers WHERE outcome IS NOT NULL AND published_revision = revision",
            summary.dossiers,
            timeout=60,
        )
        seconds = time.perf_counter() - started
        again = await replay(RECEIPT, MAPPING_IN_TEST, settings, registry=client, progress=False)
        stored, events = await stored_state(dsn)
    finally:
        await client.aclose()
        processing.stop()
        registry.stop()
    assert again.events == summary.events and set(again.registry.values()) == {"exists"}
    return Replayed(summary, stored, events, seconds)


@needs_log
async def test_the_replay_produces_every_case_and_event_of_the_log(replayed: Replayed) -> None:
    log = read_log_independently()
    assert len(log) == 1434 and sum(c.events for c in log.values()) == 8577
    s = replayed.summary
    ended = sum(1 for c in log.values() if c.enddate is not None)
    # every log event, plus per case its submission (startdate) and, if it ended, its resolution (enddate)
    assert (s.cases, s.dossiers, s.events) == (1434, 1434, 8577 + 1434 + ended)
    assert s.invalid == 0 and not s.skipped
    assert set(s.registry.values()) == {"created"} and len(s.registry) == 4  # agency, procedure, QMS, process
    assert set(replayed.stored) == set(log)
    # the second replay changed nothing downstream: same event ids, deduplicated
    assert replayed.events_stored == s.events


@needs_log
async def test_outcomes_against_the_statutory_time_match_the_independent_count(replayed: Replayed) -> None:
    log = read_log_independently()
    mapping = tomllib.loads(MAPPING.read_text(encoding="utf-8"))
    term = mapping["registry"]["procedure"]["statutory_time"]
    statutory = Duration(Decimal(term["value"]), DurationUnit(term["unit"]))
    in_person = {name for name, channel in mapping["case"]["channel_values"].items() if channel == 1}
    settings = CommonSettings()
    calendar = settings.calendar()
    now = datetime.now(UTC)
    expected: dict[str, str] = {}
    due: dict[str, datetime] = {}
    for case in log.values():
        start = case.accepted_at
        if case.channel in in_person:
            start = calendar.transfer_after_cutoff(start, settings.in_person_cutoff)
        due[case.case_id] = calendar.add(start, statutory)
        if case.enddate is None:
            expected[case.case_id] = "pending_overdue" if now >= due[case.case_id] else "pending_within"
        else:
            expected[case.case_id] = day_rule(case.enddate, due[case.case_id], calendar)
    got = {case_id: s.outcome for case_id, s in replayed.stored.items()}
    assert Counter(got.values()) == Counter(expected.values())
    assert got == expected
    assert {k: s.due_at for k, s in replayed.stored.items()} == due
    assert {k: s.resolved_at for k, s in replayed.stored.items()} == {k: c.enddate for k, c in log.items()}


@needs_log
async def test_the_log_deadline_is_stored_as_the_appointed_date_and_classifies_the_same(
    replayed: Replayed,
) -> None:
    log = read_log_independently()
    calendar = CommonSettings().calendar()
    assert {k: s.appointed for k, s in replayed.stored.items()} == {k: c.deadline for k, c in log.items()}
    from_log = Counter(
        day_rule(c.enddate, c.deadline, calendar) if c.enddate else "open" for c in log.values()
    )
    from_system = Counter(
        day_rule(s.resolved_at, s.appointed, calendar) if s.resolved_at and s.appointed else "open"
        for s in replayed.stored.values()
    )
    assert from_system == from_log
    assert sum(from_log.values()) == 1434
