"""Faults against a running `tthc up`, with a steady stream through the HTTP ingress.

kill -9 processing, kill -9 reporting, kill -9 the postmaster, SIGSTOP of PostgreSQL for 20 s: after
each the system is healthy again with nobody acting; at the end every accepted event is stored
exactly once and the reports equal those of an uninterrupted run of the same stream. kill -9 of the
broker heals too: the local broker is memory only (docs/operations.md), but the ingress keeps every
accepted event in its PostgreSQL outbox until processing has stored it, so none is lost, and the new
broker epoch makes processing send again what reporting had not read, so reporting ends equal to an
uninterrupted run (asserted).
Recovery times are printed (`-s`) and kept in docs/operations.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
import pytest

from shared import runstate
from shared.settings import CommonSettings
from tests.e2e.system import RunningSystem

pytestmark = pytest.mark.e2e

DOSSIERS = 120
SEED = 11
MORE = (60, SEED + 88)  # the broker test's own stream: other dossiers, other ids
RATE = 12.0  # events/s while faults happen
BATCH = 5
RECOVERY_LIMIT_S = 60.0
TIMINGS: dict[str, float] = {}
REPUBLISH_AFTER_S = 5
FAST_ENV = {
    "TTHC_TIMER_INTERVAL_SECONDS": "1",
    "TTHC_SUPERVISOR_MAX_CRASHES": "10",
    # what a broker restart lost is published again this soon (default 60 s)
    "TTHC_INGEST_OUTBOX_REPUBLISH_AFTER_S": str(REPUBLISH_AFTER_S),
    "TTHC_INGEST_OUTBOX_SWEEP_S": "1",
}


def _events(dossiers: int = DOSSIERS, seed: int = SEED) -> list[dict[str, Any]]:
    """The stream: seeded simulated dossiers (every event id unique), all in the past."""
    from services.simulator.simulate import Options, encoded, generate, start_of_today

    settings = CommonSettings()
    options = Options(
        dossiers=dossiers,
        seed=seed,
        duplicate_rate=0.0,
        progress=False,
        reference=start_of_today(settings) - timedelta(days=45),
    )
    _, simulated = generate(settings, options)
    return [event for _, _, _, event in encoded(simulated, options)]


@dataclass
class Stream:
    """Posts the events in small batches at a steady rate; retries whatever was not answered."""

    url: str
    key: str
    events: list[dict[str, Any]]
    rate: float | None = RATE
    accepted: dict[str, float] = field(default_factory=dict)  # event id → when the ingress accepted it
    rejected: list[Any] = field(default_factory=list)
    retries: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Stream:
        threading.Thread(target=self._run, daemon=True, name="fault-stream").start()
        return self

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, headers={"X-API-Key": self.key}, timeout=10) as client:
            started, sent = time.monotonic(), 0
            for i in range(0, len(self.events), BATCH):
                batch = self.events[i : i + BATCH]
                while not self.stop.is_set():
                    try:
                        answer = client.post("/api/v1/events", json=batch)
                    except httpx.HTTPError:
                        answer = None
                    if answer is not None and answer.status_code == 200:
                        now = time.monotonic()
                        for item in answer.json()["results"]:
                            if item["status"] in (
                                "accepted",
                                "duplicate",
                            ):  # duplicate: a retry of an accepted one
                                self.accepted.setdefault(item["event_id"], now)
                            else:
                                self.rejected.append(item)
                        break
                    if answer is not None and answer.status_code < 500 and answer.status_code != 429:
                        self.rejected.append((answer.status_code, answer.text))
                        break
                    self.retries += 1
                    time.sleep(0.5)
                if self.stop.is_set():
                    return
                sent += len(batch)
                if self.rate:
                    wait = started + sent / self.rate - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
        self.done.set()


@dataclass
class Running:
    system: RunningSystem
    state: runstate.RunState
    key: str
    data_dir: Path

    def pg(self, query: str, *args: Any) -> Any:
        async def run() -> Any:
            conn = await asyncpg.connect(self.state.database_url, timeout=3)
            try:
                return await conn.fetch(query, *args, timeout=5)
            finally:
                await conn.close()

        return asyncio.run(run())

    def stored(self, ids: list[str]) -> dict[str, int]:
        rows = self.pg(
            "SELECT event_id, count(*) AS n FROM processing.events WHERE event_id = ANY($1) GROUP BY event_id",
            ids,
        )
        return {r["event_id"]: r["n"] for r in rows}

    def healthy(self) -> bool:
        try:
            return all(
                httpx.get(f"{u}/healthz", timeout=2).status_code == 200 for u in self.state.services.values()
            )
        except httpx.HTTPError:
            return False

    def child(self, marker: str) -> psutil.Process:
        for p in psutil.Process(self.system.proc.pid).children():
            cmd = " ".join(p.cmdline())
            if marker in cmd:
                return p
        raise AssertionError(f"no child of tthc up runs {marker!r}")

    def reports(self) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.state.admin_token}"}
        base = self.state.services["reporting"]
        year = time.strftime("%Y")
        out = {}
        for name, path in (
            ("form06", f"/api/v1/reports/form06?period={year}"),
            ("register", f"/api/v1/reports/nonconformities?period={year}&limit=10000"),
            ("index766", f"/api/v1/reports/index766?period={year}"),
        ):
            answer = httpx.get(base + path, headers=headers, timeout=30)
            assert answer.status_code == 200, answer.text
            out[name] = _without_volatile(answer.json())
        return out


def _without_volatile(doc: Any) -> Any:
    """A report without the moment it was computed."""
    if isinstance(doc, dict):
        return {
            k: _without_volatile(v)
            for k, v in doc.items()
            if k not in ("generated_at", "as_of", "computed_at")
        }
    if isinstance(doc, list):
        return [_without_volatile(v) for v in doc]
    return doc


def _start(data_dir: Path) -> Running:
    system = RunningSystem(data_dir, {**FAST_ENV, "TTHC_ADMIN_TOKEN": "fault-suite-admin-token-0123456789"})
    try:
        return _set_up(system, data_dir)
    except BaseException:
        system.stop(signal.SIGTERM)  # never leave a system behind
        raise


def _set_up(system: RunningSystem, data_dir: Path) -> Running:
    from services.processing.adapters import emitter_keys
    from services.simulator.adapters.registry_setup import put_province
    from services.simulator.domain.province import build_province

    system.wait_for(r"all services healthy", timeout=120)
    state = runstate.load(data_dir)
    assert state is not None

    async def setup() -> tuple[str, int, int]:
        conn = await asyncpg.connect(state.database_url)
        try:
            key = await emitter_keys.create_key(conn, "fault-suite", ["*"])
        finally:
            await conn.close()
        province = build_province()
        await put_province(state.services["registry"], state.admin_token, province)
        return key, len(province.agencies), len(province.procedures)

    key, agencies, procedures = asyncio.run(setup())
    run = Running(system, state, key, data_dir)
    # the same starting point for both runs: the registry has reached processing and reporting
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        counts = run.pg(
            "SELECT (SELECT count(*) FROM processing.registry_entities WHERE entity = 'agency') AS pa,"
            " (SELECT count(*) FROM processing.procedures) AS pp,"
            " (SELECT count(*) FROM reporting.agencies) AS ra,"
            " (SELECT count(*) FROM reporting.procedures) AS rp"
        )[0]
        if (
            counts["pa"] >= agencies
            and counts["pp"] >= procedures
            and counts["ra"] >= agencies
            and counts["rp"] >= procedures
        ):
            return run
        time.sleep(0.5)
    raise AssertionError(f"the registry did not reach processing and reporting: {dict(counts)}")


def _quiesce(run: Running, ids: list[str], timeout: float = 90) -> dict[str, int]:
    """Wait until every id is stored, or nothing new was stored for 20 s."""
    deadline, last, last_change = time.monotonic() + timeout, -1, time.monotonic()
    stored: dict[str, int] = {}
    while time.monotonic() < deadline:
        try:
            stored = run.stored(ids)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            pass
        if len(stored) == len(ids):
            return stored
        if len(stored) != last:
            last, last_change = len(stored), time.monotonic()
        elif time.monotonic() - last_change > 20:
            break
        time.sleep(0.5)
    return stored


def _reports_settled(run: Running, timeout: float = 60) -> dict[str, Any]:
    """The reports once two reads 3 s apart agree (reporting has caught up)."""
    previous = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = run.reports()
        if current == previous:
            return current
        previous = current
        time.sleep(3)
    raise AssertionError("the reports kept changing")


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return _events()


@pytest.fixture(scope="module")
def more_events() -> list[dict[str, Any]]:
    return _events(*MORE)


@pytest.fixture(scope="module")
def reference(
    events: list[dict[str, Any]], more_events: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """The reports of an uninterrupted run of the same stream (``first``), then of it and the broker
    test's stream (``both``)."""
    run = _start(tmp_path_factory.mktemp("reference") / "state")
    try:
        out = {}
        for name, stream_events in (("first", events), ("both", more_events)):
            stream = Stream(run.state.services["processing"], run.key, stream_events, rate=None).start()
            assert stream.done.wait(120), "the reference stream did not finish"
            assert not stream.rejected, stream.rejected[:3]
            stored = _quiesce(run, list(stream.accepted))
            assert len(stored) == len(stream_events)
            out[name] = reports = _reports_settled(run)
            # something to compare: dossiers counted in Biểu 06, findings in the register, 766 facts
            assert reports["register"]["total"] > 0
            assert any(v for k, v in reports["form06"]["totals"].items() if isinstance(v, int)), reports[
                "form06"
            ]["totals"]
            assert reports["index766"]["totals"]["measures"], reports["index766"]["totals"]
        assert out["first"] != out["both"]
        return out
    finally:
        run.system.stop(signal.SIGTERM)


@pytest.fixture(scope="module")
def faulted(
    events: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Running, Stream]]:
    run = _start(tmp_path_factory.mktemp("faulted") / "state")
    stream = Stream(run.state.services["processing"], run.key, events).start()
    try:
        yield run, stream
    finally:
        stream.stop.set()
        run.system.stop(signal.SIGTERM)
        print("\nrecovery times (s):", {k: round(v, 1) for k, v in TIMINGS.items()})
        print("".join(line for line in run.system.output if " tthc up " in line and "warning" in line))


def _recover(run: Running, stream: Stream, name: str, since: float) -> float:
    """Seconds from ``since`` until every service is healthy and an event accepted after the fault is stored."""
    deadline = since + RECOVERY_LIMIT_S
    while time.monotonic() < deadline:
        run.system.alive()
        newer = [i for i, t in list(stream.accepted.items()) if t > since]
        if newer and run.healthy():
            try:
                if run.stored(newer[-50:]):  # any: the first ones may wait to be published again
                    TIMINGS[name] = time.monotonic() - since
                    return TIMINGS[name]
            except (OSError, asyncpg.PostgresError, TimeoutError):
                pass
        time.sleep(0.25)
    health = {}
    for service, url in run.state.services.items():
        try:
            health[service] = httpx.get(f"{url}/healthz", timeout=2).text[:300]
        except httpx.HTTPError as exc:
            health[service] = repr(exc)
    newer = [i for i, t in list(stream.accepted.items()) if t > since]
    raise AssertionError(
        f"not recovered {RECOVERY_LIMIT_S:.0f} s after {name}: health {health}; {len(newer)} events accepted "
        f"since, {stream.retries} retries; tthc up said:\n"
        + "".join(line for line in run.system.output if " tthc up " in line)[-3000:]
        + "\nprocessing.log:\n"
        + "".join(
            line[:400] + "\n"
            for line in (run.data_dir / "logs" / "processing.log").read_text().splitlines()
            if not any(noise in line for noise in ("Unable connect", "Unable to update", "NodeNotReady"))
        )[-6000:]
    )


def _status(p: psutil.Process) -> str:
    try:
        return str(p.status())
    except psutil.NoSuchProcess:
        return "gone"


def _steady(stream: Stream, seconds: float = 2.0) -> None:
    before = len(stream.accepted)
    time.sleep(seconds)
    assert len(stream.accepted) > before, "the stream is not flowing"


def test_kill_9_processing_heals(faulted: tuple[Running, Stream]) -> None:
    run, stream = faulted
    _steady(stream)
    victim = run.child("services.processing")
    t0 = time.monotonic()
    victim.kill()
    _recover(run, stream, "kill -9 processing", t0)
    assert any("processing exited with signal SIGKILL" in line for line in run.system.output)


def test_kill_9_reporting_heals(faulted: tuple[Running, Stream]) -> None:
    run, stream = faulted
    _steady(stream)
    victim = run.child("services.reporting")
    t0 = time.monotonic()
    victim.kill()
    _recover(run, stream, "kill -9 reporting", t0)
    assert any("reporting exited with signal SIGKILL" in line for line in run.system.output)


def test_kill_9_postgres_heals(faulted: tuple[Running, Stream]) -> None:
    run, stream = faulted
    _steady(stream)
    postmaster = run.child("bin/postgres")
    t0 = time.monotonic()
    postmaster.kill()
    _recover(run, stream, "kill -9 PostgreSQL (postmaster)", t0)
    assert any("postgres restarted" in line for line in run.system.output)
    deadline = time.monotonic() + 15  # the dead postmaster's backends exit and are reaped: no zombie stays
    while zombies := [p for p in run.system.descendants() if _status(p) == psutil.STATUS_ZOMBIE]:
        assert time.monotonic() < deadline, f"zombies left: {zombies}"
        time.sleep(0.5)


def test_sigstop_postgres_for_20_s_heals(faulted: tuple[Running, Stream]) -> None:
    run, stream = faulted
    _steady(stream)
    group = os.getpgid(run.child("bin/postgres").pid)  # the postmaster and its backends
    os.killpg(group, signal.SIGSTOP)
    try:
        time.sleep(20)
    finally:
        os.killpg(group, signal.SIGCONT)
    t0 = time.monotonic()
    _recover(run, stream, "SIGSTOP PostgreSQL 20 s (from SIGCONT)", t0)


def test_every_accepted_event_is_stored_once_and_the_reports_equal_an_uninterrupted_run(
    faulted: tuple[Running, Stream], reference: dict[str, dict[str, Any]], events: list[dict[str, Any]]
) -> None:
    run, stream = faulted
    stream.rate = None  # send the rest at once
    assert stream.done.wait(120), "the stream did not finish"
    assert not stream.rejected, stream.rejected[:3]
    assert len(stream.accepted) == len(events)
    stored = _quiesce(run, list(stream.accepted))
    missing = [i for i in stream.accepted if i not in stored]
    assert not missing, f"{len(missing)} accepted events never stored, e.g. {missing[:3]}"
    assert set(stored.values()) == {1}
    assert _reports_settled(run) == reference["first"]


def test_kill_9_broker_heals_nothing_accepted_is_lost_and_reporting_equals_an_uninterrupted_run(
    faulted: tuple[Running, Stream],
    events: list[dict[str, Any]],
    more_events: list[dict[str, Any]],
    reference: dict[str, dict[str, Any]],
) -> None:
    """The memory broker forgets what it held: the ingress outbox publishes again the accepted events
    processing had not stored, the new broker epoch makes processing send again the assessments and
    events reporting had not read. Nothing is lost; reporting ends as after an uninterrupted run.

    Consumers usually keep up within milliseconds, leaving the broker nothing to lose; so they are
    held up (an EXCLUSIVE lock on a table they write, which reads pass) before the kill: reporting's
    two consumers for 6 s (the broker then holds assessments and events processing has stored and
    reporting has not read), processing's for the last 3 (accepted events processing has not stored).
    """
    run, first = faulted
    stream = Stream(run.state.services["processing"], run.key, more_events, rate=30).start()
    try:
        _steady(stream)
        with _held(run, "reporting.dossier_facts", "reporting.index766_facts"):
            _steady(stream, 3.0)
            with _held(run, "processing.events"):
                before = len(stream.accepted)
                _steady(stream, 3.0)
                held = len(stream.accepted) - before  # accepted, published, not stored
                broker = run.child("tansu")
                t0 = time.monotonic()
                broker.kill()
                # held until the supervisor kills the services: what they read was never written
                while not any("the broker restarts empty" in line for line in run.system.output):
                    assert time.monotonic() - t0 < 15, "the supervisor did not restart the broker"
                    time.sleep(0.1)
        _recover(run, stream, "kill -9 broker", t0)
        assert any("broker restarted" in line for line in run.system.output)
        assert stream.done.wait(60)
        assert not stream.rejected, stream.rejected[:3]
        assert len(stream.accepted) == len(more_events)
        stored = _quiesce(run, list(stream.accepted), timeout=60 + 4 * REPUBLISH_AFTER_S)
        TIMINGS["kill -9 broker: every accepted event stored"] = time.monotonic() - t0
        missing = [i for i in stream.accepted if i not in stored]
        assert not missing, f"{len(missing)} accepted events never stored, e.g. {missing[:3]}"
        assert set(stored.values()) == {1}
        # the outbox is empty again: every row was settled by processing
        deadline = time.monotonic() + 30
        while left := run.pg("SELECT count(*) AS n FROM processing.ingress_outbox")[0]["n"]:
            assert time.monotonic() < deadline, f"{left} outbox rows never settled"
            time.sleep(0.5)
        copies = httpx.get(run.state.services["processing"] + "/metrics", timeout=5).text
        republished = sum(
            float(line.split()[-1])
            for line in copies.splitlines()
            if line.startswith("tthc_ingress_outbox_republished_total")
        )
        TIMINGS["kill -9 broker: accepted while the consumer was held"] = held
        TIMINGS["kill -9 broker: accepted events published again"] = republished
        assert republished > 0, (
            "the outbox never published again: the broker lost nothing, nothing was tested"
        )
        # the new epoch was recovered: assessments and stored events sent again
        [epoch] = run.pg(
            "SELECT recovered_at, assessments, events, "
            "extract(epoch FROM recovered_at - started_at) AS took FROM processing.broker_epochs "
            "WHERE reason <> 'started' ORDER BY epoch"
        )
        assert epoch["recovered_at"] is not None
        assert epoch["assessments"] > 0 and epoch["events"] > 0, dict(epoch)
        TIMINGS["kill -9 broker: epoch recovered after (s)"] = float(epoch["took"])
        TIMINGS["kill -9 broker: assessments sent again"] = epoch["assessments"]
        TIMINGS["kill -9 broker: stored events sent again"] = epoch["events"]

        # the rest of the suite's first stream too, so the reports compare with the reference run's
        first.rate = None
        assert first.done.wait(120), "the first stream did not finish"
        assert len(_quiesce(run, list(first.accepted))) == len(events)
        behind = _reporting_behind(run)
        TIMINGS["kill -9 broker: dossiers whose assessment reporting lacks"] = behind
        assert behind == 0, f"reporting lacks the latest assessment of {behind} dossiers"
        codes = sorted({e["dossier_code"] for e in [*events, *more_events]})
        differ = _facts_766_differ(run, codes)
        TIMINGS["kill -9 broker: dossiers whose 766 facts differ"] = len(differ)
        assert not differ, (
            f"reporting's Decision 766 facts differ for {len(differ)} dossiers, e.g. {differ[:3]}"
        )
        assert _reports_settled(run) == reference["both"]
    finally:
        stream.stop.set()


def _reporting_behind(run: Running, patience: float = 30) -> int:
    """Dossiers whose latest assessment reporting has not got, once that count stops falling."""
    deadline = time.monotonic() + patience
    while True:
        behind = run.pg(
            "SELECT count(*) AS n FROM processing.dossiers d LEFT JOIN reporting.dossier_facts f "
            "USING (dossier_code) WHERE f.revision IS DISTINCT FROM d.revision"
        )[0]["n"]
        if not behind or time.monotonic() > deadline:
            return int(behind)
        time.sleep(1)


def _facts_766_differ(run: Running, codes: list[str], patience: float = 30) -> list[str]:
    """Dossiers whose Decision 766 facts in reporting differ from those of every event processing
    stored (what an uninterrupted run records), once reporting has had ``patience`` seconds."""
    from zoneinfo import ZoneInfo

    from services.reporting.adapters.index766 import changes
    from services.reporting.domain.index766_facts import Facts766
    from shared.contracts.events import parse_dossier_event

    fields = [f.name for f in dataclasses.fields(Facts766)]
    stored = run.pg("SELECT body::text AS body FROM processing.events WHERE dossier_code = ANY($1)", codes)
    expected, _ = changes(
        {}, [parse_dossier_event(r["body"]) for r in stored], ZoneInfo(CommonSettings().timezone)
    )
    deadline = time.monotonic() + patience
    while True:
        rows = run.pg("SELECT * FROM reporting.index766_facts WHERE dossier_code = ANY($1)", codes)
        actual = {r["dossier_code"]: Facts766(**{f: r[f] for f in fields}) for r in rows}
        differ = sorted(c for c in expected.keys() | actual.keys() if expected.get(c) != actual.get(c))
        if not differ or time.monotonic() > deadline:
            return differ
        time.sleep(1)


@contextlib.contextmanager
def _held(run: Running, *tables: str) -> Iterator[None]:
    """Hold the consumers that write these tables: an EXCLUSIVE lock blocks their writes (and SELECT …
    FOR UPDATE), not plain reads (the ingress's, the reports') nor other tables (the outbox).
    Released on leaving (the connection closes)."""
    locked, release = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    async def hold() -> None:
        conn = await asyncpg.connect(run.state.database_url, timeout=5)
        try:
            async with conn.transaction():
                for table in tables:
                    await conn.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
                locked.set()
                while not release.is_set():
                    await asyncio.sleep(0.05)
        finally:
            await conn.close()

    def run_hold() -> None:
        try:
            asyncio.run(hold())
        except BaseException as exc:
            failure.append(exc)
            locked.set()

    holder = threading.Thread(target=run_hold, daemon=True, name="hold-consumer")
    holder.start()
    assert locked.wait(10) and not failure, failure
    try:
        yield
    finally:
        release.set()
        holder.join(10)
