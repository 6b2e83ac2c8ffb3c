"""``tthc up``: the whole system on this machine, kept running until Ctrl-C or SIGTERM.

PostgreSQL (embedded), the broker (local Tansu) and the three services are child processes under a
supervisor (``shared/devstack/supervisor.py``) that restarts any of them when it crashes. Once every
service is healthy the run-state file (``shared/runstate.py``) tells the other ``tthc`` commands
where everything is; it is removed on stop. Each service's JSON log lines go to
``<data dir>/logs/<service>.log``; the console shows them readable (``services/cli/logs.py``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType

import httpx

from services.cli import logs
from services.processing.broker_epoch import record_epoch
from shared import runstate
from shared.db import migrate_all
from shared.devstack import LocalKafka, LocalPostgres
from shared.devstack.process import spawn, stop
from shared.devstack.supervisor import Child, Supervisor, TooManyCrashes, become_subreaper, describe_exit
from shared.kafka import ensure_topics
from shared.settings import CommonSettings, ServiceName

SERVICES: tuple[ServiceName, ...] = ("registry", "processing", "reporting")
LIVE_RESTART_S = 5.0


def _wait_healthy(urls: dict[ServiceName, str], supervisor: Supervisor, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = dict(urls)
    while pending and time.monotonic() < deadline:
        for name, url in list(pending.items()):
            proc = supervisor.children[name].proc
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {describe_exit(proc.returncode)} while starting; see its log"
                )
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    del pending[name]
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    if pending:
        raise RuntimeError(f"not healthy after {timeout:.0f} s: {', '.join(pending)}")


class _Stop(Exception):
    pass


def run_up(settings: CommonSettings, data_dir: Path, demo: bool) -> int:
    """Run until SIGINT/SIGTERM (or too many crashes); returns the exit code."""
    from services.cli.errors import up_preflight  # every setting checked before anything starts

    if (refused := up_preflight()) is not None:
        return refused
    started = time.monotonic()
    stopping = {"signal": 0}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if not stopping["signal"]:
            stopping["signal"] = signum
            raise _Stop

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    colour = sys.stdout.isatty()
    logs.log_to_console(colour)

    def say(text: str, level: str = "info") -> None:
        logs.say(text, level=level, colour=colour)

    supervisor = Supervisor(
        lambda text: say(text, "warning"),
        max_crashes=settings.supervisor_max_crashes,
        window_s=settings.supervisor_crash_window_s,
        backoff_max_s=settings.supervisor_backoff_max_s,
    )
    live_stop = threading.Event()
    postgres: LocalPostgres | None = None
    kafka: LocalKafka | None = None
    data_dir = data_dir.absolute()
    logs_dir = data_dir / "logs"
    pumps: list[logs.LogPump] = []
    code = 0
    try:
        become_subreaper()
        data_dir.mkdir(parents=True, exist_ok=True)
        logs_dir.mkdir(exist_ok=True)
        env = dict(os.environ)
        if not settings.database_url:
            postgres = LocalPostgres(data_dir / "pg")
            postgres.log_file = logs_dir / "postgres.log"
            postgres.start()
            pg = postgres

            def restart_postgres() -> subprocess.Popen[bytes]:
                pg.clean_stale_lock()
                return pg.spawn()

            supervisor.add(
                Child("postgres", restart_postgres, lambda: pg.wait_ready(30), proc=postgres.proc),
                started=True,
            )
            env["DATABASE_URL"] = postgres.dsn
            say(f"PostgreSQL (embedded) on {postgres.dsn} (data in {postgres.server_data})")
        if not settings.kafka_bootstrap_servers:
            kafka = LocalKafka(log_file=logs_dir / "broker.log").start()
            env["KAFKA_BOOTSTRAP_SERVERS"] = kafka.bootstrap_servers
            say(f"Kafka-protocol broker (local, memory only) on {kafka.bootstrap_servers}")
        effective = CommonSettings(
            database_url=env.get("DATABASE_URL", settings.database_url),
            kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", settings.kafka_bootstrap_servers),
        )
        if kafka is not None:
            broker = kafka

            def broker_ready() -> None:
                broker.wait_ready(20)
                created = asyncio.run(ensure_topics(effective))
                # a new broker epoch: processing sends again what reporting may not have read
                epoch = record_epoch(
                    effective.database_url, broker.bootstrap_servers, "restarted after a crash"
                )
                say(
                    f"the restarted broker is empty (memory only): {len(created)} topics created again; "
                    f"broker epoch {epoch}: processing publishes again the accepted events it has not stored "
                    "(ingress outbox) and the assessments and events of the last TTHC_BROKER_EPOCH_WINDOW_S "
                    "that reporting may not have read",
                    "warning",
                )
                supervisor.start_again([n for n in SERVICES if n in supervisor.children])

            def restart_broker() -> subprocess.Popen[bytes]:
                # The new broker is empty. A service that lived on would keep its consumers' positions
                # in the lost topics and skip (or, closing, commit past) the new topics' first offsets:
                # the services are killed first and started afresh once the topics exist again.
                supervisor.halt(
                    [n for n in SERVICES if n in supervisor.children],
                    "the broker restarts empty (memory only)",
                    kill=True,
                )
                return broker.spawn()

            supervisor.add(Child("broker", restart_broker, broker_ready, proc=kafka.proc), started=True)
        applied = asyncio.run(migrate_all(effective.database_url))
        say(f"migrations: {len(applied)} applied")
        created = asyncio.run(ensure_topics(effective))
        say(f"topics: {len(created)} created")
        if kafka is not None:  # the database may hold work the previous (memory) broker lost undelivered
            epoch = record_epoch(effective.database_url, kafka.bootstrap_servers, "started")
            say(f"broker epoch {epoch} (a memory broker starts empty)")
        from services.registry.dev_token import ensure_admin_token

        token = ensure_admin_token(effective)  # TTHC_ADMIN_TOKEN if set, else a new one
        env["TTHC_ADMIN_TOKEN"] = token
        if demo:
            env["TTHC_REPORTING_REQUIRE_TOKEN"] = "false"

        def service_starter(name: ServiceName) -> Child:
            handler = logs.rotating_file(
                logs_dir / f"{name}.log", settings.log_file_max_bytes, settings.log_file_backups
            )

            def start() -> subprocess.Popen[bytes]:
                proc = spawn(
                    [sys.executable, "-m", f"services.{name}"],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                )
                assert proc.stdout is not None
                pumps.append(
                    logs.LogPump(name, proc.stdout, handler, console=settings.console_format, colour=colour)
                )
                return proc

            return Child(name, start)

        for name in SERVICES:
            supervisor.add(service_starter(name))
        urls = {name: f"http://{settings.http_host}:{settings.port_of(name)}" for name in SERVICES}
        _wait_healthy(urls, supervisor, timeout=60)
        say(f"all services healthy after {time.monotonic() - started:.1f} s")
        for service, url in urls.items():
            say(f"  {service:<10} {url}   ({url}/healthz, {url}/metrics, {url}/docs)")
        say(f"  dashboard  {urls['reporting']}/dashboard")
        say(f"admin token (Authorization: Bearer …): {token}")
        say(f"logs: {logs_dir}/<service>.log  (tthc logs [service] [-f])")
        state_path = runstate.write(
            runstate.RunState(
                database_url=effective.database_url,
                kafka_bootstrap_servers=effective.kafka_bootstrap_servers,
                services={str(k): v for k, v in urls.items()},
                admin_token=token,
                pid=os.getpid(),
                data_dir=str(data_dir),
                logs_dir=str(logs_dir),
            ),
            data_dir,
        )
        say(f"run state for the other tthc commands: {state_path}")
        live: threading.Thread | None = None
        live_down_since: float | None = None

        def start_live() -> threading.Thread:
            from services.simulator.live import run_live

            thread = threading.Thread(
                target=run_live,
                args=(urls["registry"], effective, token, live_stop),
                daemon=True,
                name="simulator",
            )
            thread.start()
            return thread

        if demo:
            from services.cli.demo import load_demo

            say(
                "demo: reporting answers anonymous reads (TTHC_REPORTING_REQUIRE_TOKEN=false); "
                "without --demo a bearer token is required",
                "warning",
            )
            summary = asyncio.run(load_demo(urls["registry"], effective))
            say(f"demo data: {summary}")
            # a live, seeded stream of simulated dossiers keeps the dashboard moving
            live = start_live()
            say("live simulated stream: about 20 events/s from a simulated province (.SIM agencies)")
            say(
                f"  try {urls['reporting']}/dashboard and {urls['reporting']}/api/v1/reports/form06?period={time.strftime('%Y')}"
            )
        say("running; press Ctrl-C to stop")
        while True:
            supervisor.tick()
            if live is not None and not live.is_alive():
                now = time.monotonic()
                if live_down_since is None:
                    live_down_since = now
                    say(
                        f"the live simulated stream stopped; restarting it in {LIVE_RESTART_S:.0f} s",
                        "warning",
                    )
                elif now - live_down_since >= LIVE_RESTART_S:
                    live, live_down_since = start_live(), None
            time.sleep(0.5)
    except _Stop:
        pass
    except TooManyCrashes as exc:
        say(str(exc), "error")
        code = 1
    except Exception as exc:
        say(f"error: {exc}", "error")
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        logging.getLogger("tthc.simulator").setLevel(logging.CRITICAL)  # its services are going away
        live_stop.set()
        if (state := runstate.load(data_dir)) is not None and state.pid == os.getpid():
            runstate.remove(data_dir)  # ours only: a refused second `tthc up` leaves the first one's
        say("stopping services")
        services = [c.proc for n, c in supervisor.children.items() if n in SERVICES and c.proc is not None]
        for proc in services:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in services:
            stop(proc, timeout=25)
        for pump in pumps:
            pump.thread.join(timeout=2)
        broker_child = supervisor.children.get("broker")
        if kafka is not None:
            kafka.proc = broker_child.proc if broker_child else kafka.proc
            kafka.stop()
        pg_child = supervisor.children.get("postgres")
        if postgres is not None:
            postgres.proc = pg_child.proc if pg_child else postgres.proc
            postgres.stop()
        say("stopped")
    return code
