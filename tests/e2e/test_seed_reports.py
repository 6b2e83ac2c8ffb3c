"""`tthc seed cantho-2021` → registry → feed → reporting: the QMS status report states the article's numbers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.system import RunningSystem

pytestmark = pytest.mark.e2e

TOKEN = "tthc_e2e-seed-admin-token-0123456789abcdef"


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    s = RunningSystem(Path(tmp_path_factory.mktemp("seed")) / "state", extra_env={"TTHC_ADMIN_TOKEN": TOKEN})
    try:
        s.wait_for(r"all services healthy", timeout=90)
        yield s
    finally:
        s.stop()


def test_qms_status_of_2021_h1_after_the_cantho_2021_seed(system: RunningSystem) -> None:
    dsn = system.wait_for(r"PostgreSQL \(embedded\) on (\S+)", 1).group(1)
    env = {**os.environ, "DATABASE_URL": dsn}
    seeded = subprocess.run(
        [sys.executable, "-m", "services.cli", "seed", "cantho-2021"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert seeded.returncode == 0, seeded.stderr
    url = f"{system.url('reporting')}/api/v1/reports/qms-status?period=2021-H1"
    expected = {
        "agencies_total": 123,
        "announced": 123,
        "mandatory": 29,
        "encouraged": 94,
        "updating_or_expanding": 45,
        "reannounced": 9,
        "reviewing": 36,
    }
    # the feed is asynchronous: wait until reporting has every record, then compare
    deadline = time.monotonic() + 60
    report: dict[str, object] = {}
    while time.monotonic() < deadline:
        answer = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        if answer.status_code == 200:
            report = answer.json()
            if {k: report.get(k) for k in expected} == expected:
                break
        time.sleep(0.5)
    assert {k: report.get(k) for k in expected} == expected, report
