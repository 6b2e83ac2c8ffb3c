"""How a command finds the running system (run.json), and what ``tthc status`` makes of a service."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import pytest

from services.cli import running
from services.cli.status import ServiceStatus, Status, _service, lag_of
from shared import runstate

STATE = runstate.RunState(
    database_url="postgresql://postgres@127.0.0.1:21360/postgres",
    kafka_bootstrap_servers="127.0.0.1:27326",
    services={"registry": "http://127.0.0.1:28701", "processing": "http://127.0.0.1:28702"},
    admin_token="tthc_" + "a" * 40,
    pid=os.getpid(),
)


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runstate.write(STATE, tmp_path)
    monkeypatch.setenv(runstate.DATA_DIR_ENV, str(tmp_path))


def test_what_the_environment_does_not_say_comes_from_the_running_system(recorded: None) -> None:
    environ = {"KAFKA_BOOTSTRAP_SERVERS": "broker.example:9092", "TTHC_DATABASE_URL": ""}
    filled = running.adopt(environ)
    assert environ["KAFKA_BOOTSTRAP_SERVERS"] == "broker.example:9092"  # the environment wins
    assert environ["DATABASE_URL"] == STATE.database_url  # an empty variable says nothing
    assert environ["TTHC_ADMIN_TOKEN"] == STATE.admin_token
    assert environ["TTHC_REGISTRY_PORT"] == "28701" and environ["TTHC_PROCESSING_PORT"] == "28702"
    assert "TTHC_REPORTING_PORT" not in environ  # not recorded: the configured port stays
    assert sorted(filled) == sorted(
        ["DATABASE_URL", "TTHC_ADMIN_TOKEN", "TTHC_REGISTRY_PORT", "TTHC_PROCESSING_PORT"]
    )
    running.forget(filled, environ)
    assert environ == {"KAFKA_BOOTSTRAP_SERVERS": "broker.example:9092", "TTHC_DATABASE_URL": ""}


def test_a_prefixed_variable_also_wins(recorded: None) -> None:
    environ = {"TTHC_DATABASE_URL": "postgresql://elsewhere/db"}
    running.adopt(environ)
    assert "DATABASE_URL" not in environ


def test_no_running_system_fills_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(runstate.DATA_DIR_ENV, str(tmp_path))
    environ: dict[str, str] = {}
    assert running.adopt(environ) == [] and environ == {}


METRICS = """# HELP tthc_consumer_lag_messages highwater minus position, summed over assigned partitions
# TYPE tthc_consumer_lag_messages gauge
tthc_consumer_lag_messages{service="reporting",topic="tthc.compliance.v1"} 12.0
tthc_consumer_lag_messages{service="reporting",topic="tthc.registry.v1"} 3.0
"""


def test_lag_is_the_sum_of_the_exported_series_or_unknown() -> None:
    assert lag_of(METRICS) == 15
    assert lag_of(METRICS.split("tthc_consumer_lag_messages{")[0]) is None  # declared, no series
    assert lag_of("") is None


def test_a_service_is_ok_failing_or_down() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "down":
            raise httpx.ConnectError("refused", request=request)
        if request.url.path == "/metrics":
            return httpx.Response(200, text=METRICS)
        return httpx.Response(200 if request.url.host == "up" else 503, json={})

    async def check() -> list[ServiceStatus]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            return [
                await _service(client, "reporting", "http://up"),
                await _service(client, "processing", "http://sick"),
                await _service(client, "registry", "http://down"),
            ]

    up, sick, down = asyncio.run(check())
    assert (up.health, up.lag) == ("ok", 15)
    assert sick.health == "failing (503)"
    assert (down.health, down.lag) == ("down", None)
    status = Status([up, sick, down], {"tthc.dossier-events.v1.dlq": 2}, 1234, None, pid=42)
    assert not status.healthy
    text = status.render()
    assert "1,234" in text and "not healthy" in text and "tthc.dossier-events.v1.dlq" in text
    assert [line.split()[:3] for line in text.splitlines()[2:5]] == [
        ["reporting", "ok", "15"],
        ["processing", "failing", "(503)"],
        ["registry", "down", "–"],
    ]
