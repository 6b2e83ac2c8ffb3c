"""Issue 3's change-feed test, end to end through `tthc up`: a new ISO process version written in
the registry reaches processing over tthc.registry.v1 and judges the dossiers accepted from its
effective date, while a dossier accepted before keeps the older version."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from tests.e2e.system import RunningSystem

pytestmark = pytest.mark.e2e

ADMIN_TOKEN = "tthc_e2e-registry-admin-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PROVINCE = "000.00.00.H94"
WARD = "000.01.00.H94"
PROCEDURE = "1.004837"


def process(version: int, effective_from: str, units: list[str]) -> dict[str, Any]:
    return {
        "agency_code": WARD,
        "procedure_code": PROCEDURE,
        "version": version,
        "effective_from": effective_from,
        "steps": [
            {
                "code": f"B{i}",
                "name": f"Bước {i}",
                "responsible_unit": unit,
                "budget": {"value": "4", "unit": "working_hours"},
            }
            for i, unit in enumerate(units, 1)
        ],
    }


def event(dossier: str, n: int, kind: str, at: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": f"{dossier}-{n}",
        "event_type": kind,
        "occurred_at": at,
        "source": "e2e-registry",
        "dossier_code": f"{WARD}-{dossier}",
        "agency_code": WARD,
        "procedure_code": PROCEDURE,
        "payload": payload,
    }


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    s = RunningSystem(
        Path(tmp_path_factory.mktemp("reg", numbered=True)) / "state",
        extra_env={"TTHC_ADMIN_TOKEN": ADMIN_TOKEN},
    )
    try:
        s.wait_for(r"all services healthy", timeout=90)
        yield s
    finally:
        s.stop()


async def produce(servers: str, events: list[dict[str, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=servers)
    await producer.start()
    try:
        for e in events:
            await producer.send_and_wait(
                "tthc.dossier-events.v1", json.dumps(e).encode(), key=str(e["dossier_code"]).encode()
            )
    finally:
        await producer.stop()


def put(system: RunningSystem, path: str, body: dict[str, Any]) -> None:
    r = httpx.put(f"{system.url('registry')}/api/v1{path}", json=body, headers=AUTH, timeout=10)
    assert r.status_code in (200, 201), r.text


def wait_for_version(system: RunningSystem, dossier: str, expected: int, timeout: float = 45) -> None:
    """Poll processing until the dossier is judged by ISO process version ``expected``.

    The registry feed and the dossier events are separate topics: a dossier may be assessed
    before a process version reaches processing, and is re-assessed when it does.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        r = httpx.get(f"{system.url('processing')}/api/v1/dossiers/{WARD}-{dossier}", headers=AUTH, timeout=5)
        if r.status_code == 200:
            last = r.json()
            if last.get("iso_process_version") == expected:
                return
        time.sleep(0.3)
    raise AssertionError(
        f"dossier {dossier} was never judged by ISO process version {expected}; last: {last}"
    )


def test_each_dossier_is_judged_by_the_version_in_force_when_accepted(system: RunningSystem) -> None:
    put(system, f"/agencies/{PROVINCE}", {"code": PROVINCE, "name": "UBND tỉnh thử", "level": "province"})
    put(
        system,
        f"/agencies/{WARD}",
        {"code": WARD, "name": "UBND xã thử", "level": "commune", "parent_code": PROVINCE},
    )
    put(
        system,
        f"/procedures/{PROCEDURE}",
        {
            "code": PROCEDURE,
            "name": "Thủ tục đăng ký giám hộ",
            "statutory_time": {"value": "3", "unit": "working_days"},
        },
    )
    put(
        system, f"/iso-processes/{WARD}/{PROCEDURE}/1", process(1, "2025-01-01", ["BPMC", "TP-HT", "LD-UBND"])
    )
    # the procedure is in the ward's announced ISO scope (otherwise the dossier is OUT_OF_SCOPE)
    put(
        system,
        f"/qms/{WARD}",
        {
            "agency_code": WARD,
            "state": "announced",
            "transitions": [{"state": "announced", "on": "2024-06-03", "document": "12/QĐ-UBND"}],
            "scope": [PROCEDURE],
        },
    )
    # version 1 only: the February dossier is judged by it
    asyncio.run(
        produce(
            system.bootstrap_servers,
            [event("250210-0001", 1, "dossier.accepted", "2025-02-10T09:00:00+07:00", {"channel": 1})],
        )
    )
    wait_for_version(system, "250210-0001", 1)
    # version 2 takes effect on 1 March: the March dossier gets it, the February one keeps version 1
    put(
        system,
        f"/iso-processes/{WARD}/{PROCEDURE}/2",
        process(2, "2025-03-01", ["BPMC", "VP-UBND", "LD-UBND", "BPMC"]),
    )
    asyncio.run(
        produce(
            system.bootstrap_servers,
            [event("250310-0002", 1, "dossier.accepted", "2025-03-10T09:00:00+07:00", {"channel": 1})],
        )
    )
    wait_for_version(system, "250310-0002", 2)
    wait_for_version(system, "250210-0001", 1)
