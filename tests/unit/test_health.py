"""/healthz answers in time whatever a dependency does; /readyz fails on a consumer that stalled."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from shared.http import BoundedChecks, install_common
from shared.kafka import ConsumerWatch


async def ok() -> None:
    return None


async def hangs_and_ignores_cancel() -> None:
    """Like a pool release towards a stopped PostgreSQL: a cancel does not end it (for 1.5 s, so
    that the test's event loop can close)."""
    until = time.monotonic() + 1.5
    while time.monotonic() < until:
        try:
            await asyncio.sleep(until - time.monotonic())
        except asyncio.CancelledError:
            continue


async def broken() -> None:
    raise ConnectionRefusedError("connection refused")


async def test_a_hanging_check_is_answered_in_time_and_not_piled_up() -> None:
    checks = BoundedChecks({"database": hangs_and_ignores_cancel, "kafka": ok}, timeout_s=0.3)
    started = time.monotonic()
    ok_all, results = await checks.run()
    assert time.monotonic() - started < 1.0
    assert not ok_all
    assert results == {"database": "error: no answer within 0.3 s", "kafka": "ok"}
    started = time.monotonic()
    ok_all, results = await checks.run()
    assert time.monotonic() - started < 0.2  # nothing new is started while the old check hangs
    assert "has not answered yet" in results["database"] and results["kafka"] == "ok"


def app(checks: dict[str, Any], stalled: dict[str, dict[str, float]] | None = None) -> FastAPI:
    a = FastAPI()
    install_common(
        a,
        "test",
        checks,
        timeout_s=0.3,
        stalled_consumers=lambda: stalled or {},
        consumers=lambda: {"events": {"lag": 5, "since_progress_s": 300.0}},
    )
    return a


def test_healthz_is_503_naming_the_dependency_within_a_second() -> None:
    with TestClient(app({"database": hangs_and_ignores_cancel, "kafka": broken})) as client:
        started = time.monotonic()
        r = client.get("/healthz")
        assert time.monotonic() - started < 1.0
    assert r.status_code == 503
    checks = r.json()["checks"]
    assert checks["database"] == "error: no answer within 0.3 s"
    assert checks["kafka"] == "error: ConnectionRefusedError: connection refused"
    assert TestClient(app({"database": ok})).get("/healthz").json()["status"] == "ok"


def test_readyz_fails_while_a_consumer_is_stalled() -> None:
    stalled = {"tthc.dossier-events.v1": {"lag": 5, "stalled_for_s": 300.0}}
    r = TestClient(app({"database": ok}, stalled)).get("/readyz")
    assert r.status_code == 503
    assert r.json()["status"] == "not ready" and r.json()["stalled"] == stalled
    fine = TestClient(app({"database": ok})).get("/readyz")
    assert fine.status_code == 200 and fine.json()["status"] == "ready"
    assert TestClient(app({"database": broken})).get("/readyz").status_code == 503


@dataclass
class FakeConsumer:
    """An aiokafka consumer's view: assigned partitions, committed offsets, highwater marks."""

    committed_at: dict[int, int] = field(default_factory=dict)
    high: dict[int, int] = field(default_factory=dict)

    def assignment(self) -> set[int]:
        return set(self.high)

    async def committed(self, tp: int) -> int | None:
        return self.committed_at.get(tp)

    def highwater(self, tp: int) -> int | None:
        return self.high.get(tp)


@dataclass
class FakeSubscriber:
    topic_names: list[str]
    consumer: FakeConsumer | None


async def test_the_watch_exports_lag_and_tells_a_consumer_that_stopped_moving() -> None:
    now = [1000.0]
    consumer = FakeConsumer({0: 10}, {0: 10, 1: 7})  # partition 1 never committed: all 7 are lag
    idle = FakeSubscriber(["t.registry"], FakeConsumer({0: 3}, {0: 3}))
    watch = ConsumerWatch(
        "svc-watch-test", lambda: [FakeSubscriber(["t.events"], consumer), idle], 60, clock=lambda: now[0]
    )
    await watch.measure()
    assert (
        REGISTRY.get_sample_value(
            "tthc_consumer_lag_messages", {"service": "svc-watch-test", "topic": "t.events"}
        )
        == 7
    )
    assert (
        REGISTRY.get_sample_value(
            "tthc_consumer_lag_messages", {"service": "svc-watch-test", "topic": "t.registry"}
        )
        == 0
    )
    now[0] += 59
    await watch.measure()
    assert watch.stalled() == {}
    now[0] += 2  # 61 s with lag and the same committed offsets
    await watch.measure()
    assert watch.stalled() == {"t.events": {"lag": 7, "stalled_for_s": 61.0}}
    consumer.committed_at[1] = 2  # it moves again
    await watch.measure()
    assert watch.stalled() == {}
    assert watch.report()["t.events"] == {"lag": 5, "since_progress_s": 0.0}
