"""Run one service as its own process against the session's PostgreSQL and broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from shared.devstack import free_port
from shared.kafka import TopicSpec
from shared.settings import CommonSettings, Topics


def isolated_topics(suffix: str) -> dict[str, str]:
    """Environment naming topics of one's own on the shared broker."""
    return {
        "TTHC_TOPIC_DOSSIER_EVENTS": f"t{suffix}.dossier-events.v1",
        "TTHC_TOPIC_COMPLIANCE": f"t{suffix}.compliance.v1",
        "TTHC_TOPIC_REGISTRY": f"t{suffix}.registry.v1",
    }


def topic_specs_for(env: dict[str, str], partitions: int = 3) -> list[TopicSpec]:
    names = [env["TTHC_TOPIC_DOSSIER_EVENTS"], env["TTHC_TOPIC_COMPLIANCE"], env["TTHC_TOPIC_REGISTRY"]]
    return [TopicSpec(n, partitions) for n in names] + [TopicSpec(Topics.dlq(n), 1) for n in names]


class ServiceProcess:
    """``python -m services.<name>`` with the given database, broker and extra settings."""

    def __init__(self, service: str, dsn: str, servers: str, env: dict[str, str], log: Path) -> None:
        self.service = service
        self.port = free_port()
        full = {k: v for k, v in os.environ.items() if not k.startswith("TTHC_")}
        full.update(
            DATABASE_URL=dsn,
            KAFKA_BOOTSTRAP_SERVERS=servers,
            TTHC_KAFKA_SESSION_TIMEOUT_MS="3000",
            TTHC_KAFKA_HEARTBEAT_INTERVAL_MS="1000",
            **{f"TTHC_{service.upper()}_PORT": str(self.port)},
        )
        full.update(env)
        self.settings_env = full
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> ServiceProcess:
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.service}"],
            env=self.settings_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.service} exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.service} not healthy in {timeout} s: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()

    def settings(self) -> CommonSettings:
        return CommonSettings(
            database_url=self.settings_env["DATABASE_URL"],
            kafka_bootstrap_servers=self.settings_env["KAFKA_BOOTSTRAP_SERVERS"],
        )
