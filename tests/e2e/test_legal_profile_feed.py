"""Issue #17, end to end through `tthc up`: a legal profile written in the registry reaches processing
over tthc.registry.v1 and its registry copy, judges the dossiers of the procedure that names it, and a
new version of it re-judges them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.system import RunningSystem
from tests.e2e.test_registry_process_versions import produce

pytestmark = pytest.mark.e2e

ADMIN_TOKEN = "tthc_e2e-legal-profile-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
AGENCY = "000.00.00.H95"
PROCEDURE = "IT.FINE.90"
DOSSIER = f"{AGENCY}-240301-0001"


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    s = RunningSystem(
        Path(tmp_path_factory.mktemp("profile", numbered=True)) / "state",
        extra_env={"TTHC_ADMIN_TOKEN": ADMIN_TOKEN},
    )
    try:
        s.wait_for(r"all services healthy", timeout=90)
        yield s
    finally:
        s.stop()


def put(system: RunningSystem, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.put(f"{system.url('registry')}/api/v1{path}", json=body, headers=AUTH, timeout=10)


def rome_profile(version: int, effective_from: str, timezone: str) -> dict[str, Any]:
    return {
        "code": "IT-RM",
        "version": version,
        "effective_from": effective_from,
        "name": "Codice della strada (Roma)",
        "timezone": timezone,
        "holiday_country": "IT",
        "holiday_subdivision": "RM",
        "registry_overrides": False,
        "roll_over_day_off": False,
        "office_hours": "09:00-13:00,14:00-18:00",
        "clock_stop": "resolved",
        "rule_codes": ["LATE", "OVERDUE"],
    }


def wait_for_due(system: RunningSystem, expected_utc: str, timeout: float = 45) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        r = httpx.get(f"{system.url('processing')}/api/v1/dossiers/{DOSSIER}", headers=AUTH, timeout=5)
        if r.status_code == 200:
            last = r.json()
            due = last.get("due_at")
            if due and datetime.fromisoformat(due) == datetime.fromisoformat(expected_utc):
                return dict(last)
        time.sleep(0.3)
    raise AssertionError(f"dossier never due at {expected_utc}; last: {last}")


def test_a_profile_from_the_registry_judges_the_dossiers_of_its_procedure(system: RunningSystem) -> None:
    assert put(
        system, f"/agencies/{AGENCY}", {"code": AGENCY, "name": "Comune di Roma", "level": "province"}
    ).status_code in (200, 201)
    unknown = put(
        system,
        f"/procedures/{PROCEDURE}",
        {
            "code": PROCEDURE,
            "name": "Multa",
            "statutory_time": {"value": "90", "unit": "calendar_days"},
            "legal_profile": "IT-RM",
        },
    )
    assert unknown.status_code == 422 and "no legal profile IT-RM" in unknown.text
    assert (
        put(system, "/legal-profiles/IT-RM/1", rome_profile(1, "2000-01-01", "Europe/Rome")).status_code
        == 201
    )
    bad = put(system, "/legal-profiles/IT-RM/9", rome_profile(9, "2000-01-01", "Europe/Atlantis"))
    assert bad.status_code == 422 and "timezone" in bad.text
    assert (
        put(
            system,
            f"/procedures/{PROCEDURE}",
            {
                "code": PROCEDURE,
                "name": "Multa",
                "statutory_time": {"value": "90", "unit": "calendar_days"},
                "legal_profile": "IT-RM",
            },
        ).status_code
        == 201
    )
    asyncio.run(
        produce(
            system.bootstrap_servers,
            [
                {
                    "event_id": "it-1",
                    "event_type": "dossier.accepted",
                    "occurred_at": "2024-03-01T10:00:00+01:00",
                    "source": "e2e-profile",
                    "dossier_code": DOSSIER,
                    "agency_code": AGENCY,
                    "procedure_code": PROCEDURE,
                    "payload": {"channel": 2},
                }
            ],
        )
    )
    # Fri 1 Mar 2024 10:00 in Rome + 90 days = Thu 30 May 10:00 CEST (+02:00) = 08:00 UTC.
    judged = wait_for_due(system, "2024-05-30T08:00:00+00:00")
    # Only LATE and OVERDUE apply in this profile: no OUT_OF_SCOPE (no QMS) and no APOLOGY_MISSING.
    assert [n["code"] for n in judged["nonconformities"]] == ["OVERDUE"]
    # A new version in force since 2024 counts in Hanoi's zone: the dossier is re-judged over the feed.
    # 10:00 +01:00 is 16:00 +07:00; 90 days later, Thu 30 May 16:00 +07:00 = 09:00 UTC.
    assert (
        put(system, "/legal-profiles/IT-RM/2", rome_profile(2, "2024-01-01", "Asia/Ho_Chi_Minh")).status_code
        == 201
    )
    wait_for_due(system, "2024-05-30T09:00:00+00:00")
