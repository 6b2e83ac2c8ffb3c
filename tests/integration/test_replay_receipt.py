"""The real receipt log through ``replay`` → the real broker → registry + processing → PostgreSQL.

The expected figures come from parsing the XES here, with gzip and ElementTree, independently
of the importer, and from shared.calendar directly:

- statutory view (what processing judges, by the mapping's Dutch legal profile): the clock
  starts at the "Confirmation of receipt" event (the profile has no in-person cut-off), due =
  start + the mapping's statutory time (56 calendar days) on a Dutch calendar (Europe/Amsterdam,
  Dutch public holidays, a last day off rolls over to the next working day); the case's
  ``enddate`` is the resolution; resolved on an earlier local day than the due day → early, by
  the due moment → on time, after → late; an ``enddate`` before the acceptance is an impossible
  order (no outcome); a case without ``enddate`` is censored at the log's end (its last moment):
  "open_at_end_of_log", and reporting never counts it pending after that (a 2026 report);
- deadline view (the log's own): the appointed return date processing stored (it must equal
  the trace's ``deadline``) against the resolution moment processing stored (it must equal
  ``enddate``), by the same day rule in the calendar's time zone; compared with the same
  classification of ``enddate`` against ``deadline`` read from the XES.
"""

from __future__ import annotations

import asyncio
import gzip
import time
import tomllib
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import orjson
import pytest

from services.replay.adapters.registry_client import RegistryClient
from services.replay.replay import Summary, load_mapping, replay
from shared.calendar import Duration, DurationUnit, OfficeHours, WorkingCalendar
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
    form06: dict[str, dict[str, int]]  # Biểu 06 totals by year


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
    reporting = ServiceProcess("reporting", dsn, infra.bootstrap_servers, env, logs / "reporting.log").start()
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
        # every case judged and published; the ones open at the log's end censored (after the
        # replay wrote the end into the profile)
        open_at_end = sum(1 for c in read_log_independently().values() if c.enddate is None)
        await wait_until(
            dsn,
            "SELECT count(*) FROM processing.dossiers WHERE outcome = 'open_at_end_of_log' "
            "AND published_revision = revision",
            open_at_end,
            timeout=90,
        )
        await wait_until(
            dsn,
            "SELECT count(*) FROM processing.dossiers WHERE published_revision = revision "
            "AND (outcome IS NOT NULL OR resolved_at < accepted_at)",
            summary.dossiers,
            timeout=60,
        )
        seconds = time.perf_counter() - started
        again = await replay(RECEIPT, MAPPING_IN_TEST, settings, registry=client, progress=False)
        stored, events = await stored_state(dsn)
        reports = await form06_by_year(reporting.url, summary.dossiers)
    finally:
        await client.aclose()
        reporting.stop()
        processing.stop()
        registry.stop()
    assert again.events == summary.events and set(again.registry.values()) == {"exists"}
    assert set(again.end.values()) == {"end of log kept"}
    return Replayed(summary, stored, events, seconds, reports)


async def form06_by_year(url: str, dossiers: int) -> dict[str, dict[str, int]]:
    """Biểu 06 totals of the log's agency for 2010, 2011, 2012 and 2026, once reporting has every dossier."""
    years = ("2010", "2011", "2012", "2026")
    agency = MAPPING_IN_TEST.dossier.agency_code
    totals: dict[str, dict[str, int]] = {}
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            for year in years:
                r = await c.get("/api/v1/reports/form06", params={"period": year, "agency": agency})
                totals[year] = r.json()["totals"] if r.status_code == 200 else {}
            # received_total includes the dossiers carried over from the previous period
            received = sum(
                totals[y].get("received_total", 0) - totals[y].get("carried_over", 0) for y in years
            )
            if received == dossiers and totals["2012"].get("pending_total") == 0:
                return totals
            await asyncio.sleep(0.5)
    raise AssertionError(f"reporting never had the {dossiers} dossiers, censored: {totals}")


@needs_log
async def test_the_replay_produces_every_case_and_event_of_the_log(replayed: Replayed) -> None:
    log = read_log_independently()
    assert len(log) == 1434 and sum(c.events for c in log.values()) == 8577
    s = replayed.summary
    ended = sum(1 for c in log.values() if c.enddate is not None)
    # every log event, plus per case its submission (startdate) and, if it ended, its resolution (enddate)
    assert (s.cases, s.dossiers, s.events) == (1434, 1434, 8577 + 1434 + ended)
    assert s.invalid == 0 and not s.skipped
    assert (
        set(s.registry.values()) == {"created"} and len(s.registry) == 5
    )  # agency, profile, procedure, QMS, process
    assert set(replayed.stored) == set(log)
    # the second replay changed nothing downstream: same event ids, deduplicated
    assert replayed.events_stored == s.events


@needs_log
async def test_outcomes_against_the_statutory_time_match_the_independent_count(replayed: Replayed) -> None:
    log = read_log_independently()
    mapping = tomllib.loads(MAPPING.read_text(encoding="utf-8"))
    term = mapping["registry"]["procedure"]["statutory_time"]
    statutory = Duration(Decimal(term["value"]), DurationUnit(term["unit"]))
    profile = mapping["profile"]
    assert profile["in_person_cutoff"] == "none" and profile["roll_over_day_off"] is True
    # The mapping's profile, built here from the TOML with shared.calendar alone.
    calendar = WorkingCalendar(
        office_hours=OfficeHours.parse(profile["office_hours"]),
        tz=ZoneInfo(profile["timezone"]),
        country=profile["holiday_country"],
        window=CommonSettings().date_window(),
    )
    expected: dict[str, str | None] = {}
    due: dict[str, datetime] = {}
    for case in log.values():
        due[case.case_id] = calendar.add(case.accepted_at, statutory)
        if case.enddate is None:
            expected[case.case_id] = "open_at_end_of_log"
        elif case.enddate < case.accepted_at:
            expected[case.case_id] = None  # impossible order: a data-quality finding, no outcome
        else:
            expected[case.case_id] = day_rule(case.enddate, due[case.case_id], calendar)
    got = {case_id: s.outcome for case_id, s in replayed.stored.items()}
    print("statutory view by the Dutch profile:", sorted(Counter(expected.values()).items(), key=str))
    assert Counter(got.values()) == Counter(expected.values())
    assert got == expected
    assert {k: s.due_at for k, s in replayed.stored.items()} == due
    assert {k: s.resolved_at for k, s in replayed.stored.items()} == {k: c.enddate for k, c in log.items()}


@needs_log
async def test_no_case_of_the_log_is_pending_in_a_2026_report(replayed: Replayed) -> None:
    log = read_log_independently()
    tz = ZoneInfo(CommonSettings().timezone)  # reporting's days
    open_in_2011 = sum(
        1 for c in log.values() if c.enddate is None and c.accepted_at.astimezone(tz).year <= 2011
    )
    y = replayed.form06
    new = {year: y[year]["received_total"] - y[year]["carried_over"] for year in y}
    assert sum(new[year] for year in ("2010", "2011", "2012")) == len(log)
    # Before the log's end (23 Jan 2012) the open cases were pending; none is after it.
    assert y["2011"]["pending_total"] >= open_in_2011 > 0
    for year in ("2012", "2026"):
        assert (y[year]["pending_total"], y[year]["pending_overdue"]) == (0, 0), (year, y[year])
    assert (y["2026"]["received_total"], y["2026"]["carried_over"]) == (0, 0)


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
