"""The walking skeleton, end to end on the real broker and real PostgreSQL.

registry procedure → dossier events on Kafka → processing classifies on working days →
tthc.compliance.v1 → reporting rollup → Biểu 06 JSON. Then Ctrl-C leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from tests.e2e.system import RunningSystem, wait_gone

pytestmark = pytest.mark.e2e

AGENCY = "000.00.13.H13"
ADMIN_TOKEN = "tthc_e2e-admin-token-0123456789abcdef"  # the registry makes it an admin token at start
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}  # every read API takes a token (issue #12)
PROCEDURE = {
    "code": "1.004845",
    "name": "Thủ tục đăng ký chấm dứt giám hộ",
    "field": "Hộ tịch",
    "level": "Cấp xã",
    "statutory_time": {"value": "2", "unit": "working_days"},
}


def ev(
    n: int, dossier: str, kind: str, at: str, payload: dict[str, object] | None = None
) -> dict[str, object]:
    return {
        "event_id": f"{dossier}-{n}",
        "event_type": kind,
        "occurred_at": at,
        "source": "e2e",
        "dossier_code": f"{AGENCY}-{dossier}",
        "agency_code": AGENCY,
        "procedure_code": PROCEDURE["code"],
        "payload": payload or {},
    }


# 2 working days; office hours 07:30–11:30, 13:00–17:00; March 2025 has no holidays.
EVENTS = [
    # D1 online, accepted Mon 10/3 09:00 → due Wed 12/3 09:00; resolved Tue 11/3 → early
    ev(1, "250310-0001", "dossier.accepted", "2025-03-10T09:00:00+07:00", {"channel": 2}),
    ev(2, "250310-0001", "dossier.resolved", "2025-03-11T10:00:00+07:00"),
    ev(2, "250310-0001", "dossier.resolved", "2025-03-11T10:00:00+07:00"),  # duplicate delivery
    # D2 in person: resolved Wed 12/3 08:30, before the 09:00 due time on the due day → on time
    ev(1, "250310-0002", "dossier.accepted", "2025-03-10T09:00:00+07:00", {"channel": 1}),
    ev(2, "250310-0002", "dossier.resolved", "2025-03-12T08:30:00+07:00"),
    # D3 postal: resolved Thu 13/3 → late; its resolution arrives before its acceptance
    ev(2, "250310-0003", "dossier.resolved", "2025-03-13T10:00:00+07:00"),
    ev(1, "250310-0003", "dossier.accepted", "2025-03-10T09:00:00+07:00", {"channel": 3}),
    # D4 online, accepted Thu 20/3 → due Mon 24/3 09:00, never resolved → overdue at the end of March
    ev(1, "250320-0004", "dossier.accepted", "2025-03-20T09:00:00+07:00", {"channel": 2}),
]


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    data_dir = Path(tmp_path_factory.mktemp("up", numbered=True)) / "state"
    started = time.monotonic()
    s = RunningSystem(data_dir, extra_env={"TTHC_ADMIN_TOKEN": ADMIN_TOKEN})
    try:
        s.wait_for(r"all services healthy", timeout=90)
        print(f"tthc up healthy after {time.monotonic() - started:.1f} s")
        yield s
    finally:
        s.stop()


async def produce(servers: str, events: list[dict[str, object]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=servers)
    await producer.start()
    try:
        for e in events:
            await producer.send_and_wait(
                "tthc.dossier-events.v1", json.dumps(e).encode(), key=str(e["dossier_code"]).encode()
            )
    finally:
        await producer.stop()


def poll(url: str, until: object, timeout: float = 45) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: httpx.Response | None = None
    while time.monotonic() < deadline:
        last = httpx.get(url, timeout=5, headers=AUTH)
        if callable(until) and until(last):
            return last
        time.sleep(0.3)
    raise AssertionError(f"{url} never reached the expected state; last answer: {last and last.text}")


def test_every_service_answers_healthz_and_metrics(system: RunningSystem) -> None:
    system.alive()
    for service in ("registry", "processing", "reporting"):
        health = httpx.get(f"{system.url(service)}/healthz", timeout=5)
        assert health.status_code == 200
        assert health.json()["checks"] == {"database": "ok", "kafka": "ok"}
        metrics = httpx.get(f"{system.url(service)}/metrics", timeout=5)
        assert "tthc_http_requests_total" in metrics.text


def test_accepted_and_resolved_events_reach_form06(system: RunningSystem) -> None:
    put = httpx.put(
        f"{system.url('registry')}/api/v1/procedures/{PROCEDURE['code']}",
        json=PROCEDURE,
        timeout=10,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert put.status_code in (200, 201), put.text
    asyncio.run(produce(system.bootstrap_servers, EVENTS))

    report_url = f"{system.url('reporting')}/api/v1/reports/form06?period=2025-03&agency={AGENCY}"
    report = poll(
        report_url,
        lambda r: (
            r.status_code == 200
            and r.json()["totals"]["resolved_total"] == 3
            and r.json()["totals"]["pending_total"] == 1
        ),
    ).json()
    expected = {
        "agency_code": AGENCY,
        "received_total": 4,
        "received_online": 2,
        "received_offline": 2,
        "carried_over": 0,
        "resolved_total": 3,
        "resolved_early": 1,
        "resolved_on_time": 1,
        "resolved_late": 1,
        "pending_total": 1,
        "pending_within": 0,
        "pending_overdue": 1,
    }
    assert report["rows"] == [expected]
    assert report["totals"] == {k: v for k, v in expected.items() if k != "agency_code"}

    d3 = httpx.get(
        f"{system.url('processing')}/api/v1/dossiers/{AGENCY}-250310-0003", timeout=5, headers=AUTH
    ).json()
    assert d3["outcome"] == "late"
    assert d3["status"] == 9
    assert d3["due_at"] == "2025-03-12T09:00:00+07:00"
    # late, with no apology issued in time; and the agency has announced no ISO scope in this test
    assert sorted(n["code"] for n in d3["nonconformities"]) == ["APOLOGY_MISSING", "LATE", "OUT_OF_SCOPE"]
    assert {n["status"] for n in d3["nonconformities"]} == {"open"}

    # April: D4 is carried over and still pending
    april = httpx.get(
        f"{system.url('reporting')}/api/v1/reports/form06?period=2025-04&agency={AGENCY}", headers=AUTH
    ).json()
    assert april["totals"]["carried_over"] == 1
    assert april["totals"]["received_total"] == 1


def test_bad_period_is_a_422_problem(system: RunningSystem) -> None:
    r = httpx.get(f"{system.url('reporting')}/api/v1/reports/form06?period=2025-13", timeout=5, headers=AUTH)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "month" in r.json()["detail"]


def test_ctrl_c_stops_everything(system: RunningSystem) -> None:
    children = system.descendants()
    names = {p.name() for p in children}
    assert "postgres" in names and any("tansu" in n for n in names)
    assert system.stop(signal.SIGINT) == 0
    assert wait_gone(children, timeout=10) == []
