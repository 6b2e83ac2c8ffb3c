"""`tthc simulate --via http`: the simulated stream goes through the ingress gateway with the typed client."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from services.processing.adapters import emitter_keys
from shared.kafka import ensure_topics
from shared.settings import CommonSettings
from tests.conftest import Infra, create_database
from tests.integration.service_process import ServiceProcess, isolated_topics, topic_specs_for
from tests.integration.streams import wait_until

pytestmark = pytest.mark.integration


async def test_simulate_via_http_lands_every_event(infra: Infra, unique: str, tmp_path: Path) -> None:
    env = isolated_topics(unique) | {"TTHC_CONSUMER_GROUP_PREFIX": f"g{unique}"}
    await ensure_topics(CommonSettings(kafka_bootstrap_servers=infra.bootstrap_servers), topic_specs_for(env))
    dsn = await create_database(infra)
    conn = await asyncpg.connect(dsn)
    try:
        key = await emitter_keys.create_key(conn, "simulator", ["*"])
    finally:
        await conn.close()
    proc = ServiceProcess("processing", dsn, infra.bootstrap_servers, env, tmp_path / "p.log").start()
    truth = tmp_path / "truth.jsonl"
    try:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "services.cli",
                "simulate",
                "--dossiers",
                "40",
                "--seed",
                "3",
                "--via",
                "http",
                "--no-registry",
                "--ingest-url",
                proc.url,
                "--api-key",
                key,
                "--truth",
                str(truth),
                "--no-progress",
            ],
            env={**os.environ, **env, "KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap_servers},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr + run.stdout
        dossiers = [json.loads(line) for line in truth.read_text().splitlines()]
        assert len(dossiers) == 40
        sent = int(re.search(r"([\d,]+) events", run.stdout + run.stderr).group(1).replace(",", ""))  # type: ignore[union-attr]
        await wait_until(dsn, "SELECT count(DISTINCT dossier_code) FROM processing.events", 40)
        await wait_until(dsn, "SELECT count(*) FROM processing.events", sent)
    finally:
        proc.stop()
