"""``tthc up``: the whole system on this machine, stopped cleanly by Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType

import httpx

from shared.db import migrate_all
from shared.devstack import LocalKafka, LocalPostgres
from shared.devstack.process import spawn, stop
from shared.kafka import ensure_topics
from shared.settings import CommonSettings, ServiceName

SERVICES: tuple[ServiceName, ...] = ("registry", "processing", "reporting")


def _say(text: str) -> None:
    print(f"[tthc up] {text}", flush=True)


def _wait_healthy(
    urls: dict[ServiceName, str], procs: dict[ServiceName, subprocess.Popen[bytes]], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    pending = dict(urls)
    while pending and time.monotonic() < deadline:
        for name, url in list(pending.items()):
            if procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited with code {procs[name].returncode} while starting")
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
    """Run until SIGINT/SIGTERM; returns the exit code."""
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

    live_stop = threading.Event()
    postgres: LocalPostgres | None = None
    kafka: LocalKafka | None = None
    procs: dict[ServiceName, subprocess.Popen[bytes]] = {}
    code = 0
    try:
        data_dir = data_dir.resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        if not settings.database_url:
            postgres = LocalPostgres(data_dir / "pg").start()
            env["DATABASE_URL"] = postgres.dsn
            _say(f"PostgreSQL (embedded) on {postgres.dsn}")
        if not settings.kafka_bootstrap_servers:
            kafka = LocalKafka(log_file=data_dir / "broker.log").start()
            env["KAFKA_BOOTSTRAP_SERVERS"] = kafka.bootstrap_servers
            _say(f"Kafka-protocol broker (local, memory only) on {kafka.bootstrap_servers}")
        effective = CommonSettings(
            database_url=env.get("DATABASE_URL", settings.database_url),
            kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", settings.kafka_bootstrap_servers),
        )
        applied = asyncio.run(migrate_all(effective.database_url))
        _say(f"migrations: {len(applied)} applied")
        created = asyncio.run(ensure_topics(effective))
        _say(f"topics: {len(created)} created")
        from services.registry.dev_token import ensure_admin_token

        token = ensure_admin_token(effective)  # TTHC_ADMIN_TOKEN if set, else a new one
        env["TTHC_ADMIN_TOKEN"] = token
        for name in SERVICES:
            procs[name] = spawn([sys.executable, "-m", f"services.{name}"], env=env)
        urls = {name: f"http://{settings.http_host}:{settings.port_of(name)}" for name in SERVICES}
        _wait_healthy(urls, procs, timeout=60)
        _say(f"all services healthy after {time.monotonic() - started:.1f} s")
        for service, url in urls.items():
            _say(f"  {service:<10} {url}   ({url}/healthz, {url}/metrics, {url}/docs)")
        _say(f"  dashboard  {urls['reporting']}/dashboard")
        _say(f"admin token (Authorization: Bearer …): {token}")
        if demo:
            from services.cli.demo import load_demo
            from services.simulator.live import run_live

            summary = asyncio.run(load_demo(urls["registry"], effective))
            _say(f"demo data: {summary}")
            # a live, seeded stream of simulated dossiers keeps the dashboard moving
            live = threading.Thread(
                target=run_live,
                args=(urls["registry"], effective, token, live_stop),
                daemon=True,
                name="simulator",
            )
            live.start()
            _say("live simulated stream: about 20 events/s from a simulated province (.SIM agencies)")
            _say(
                f"  try {urls['reporting']}/dashboard and {urls['reporting']}/api/v1/reports/form06?period={time.strftime('%Y')}"
            )
        _say("running; press Ctrl-C to stop")
        while True:
            for service, proc in procs.items():
                if proc.poll() is not None:
                    _say(f"{service} exited unexpectedly with code {proc.returncode}; stopping everything")
                    code = 1
                    raise _Stop
            time.sleep(0.5)
    except _Stop:
        pass
    except Exception as exc:
        _say(f"error: {exc}")
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        live_stop.set()
        _say("stopping services")
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            stop(proc, timeout=25)
        if kafka is not None:
            kafka.stop()
        if postgres is not None:
            postgres.stop()
        _say("stopped")
    return code
