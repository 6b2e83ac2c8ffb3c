"""With ``tthc up --demo`` running, the other commands work with no variable exported (issue #13),
and the demo's findings are the simulator's injected ones (issue #14 item 8).

The commands find the database, the broker, the services and the admin token in the running
system's ``run.json`` (shared.runstate); an operator's first command, ``tthc status``, shows every
service healthy and the dossiers arriving.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from services.cli.demo import demo_dossiers, demo_options
from services.simulator.simulate import start_of_today
from shared import runstate
from shared.settings import CommonSettings
from tests.e2e.system import RunningSystem
from tests.integration.test_cli_mistakes import SYSTEM_VARIABLES
from tests.unit.test_replay_mapping import MAPPING, XES

pytestmark = pytest.mark.e2e


def recorded_state(data_dir: Path) -> runstate.RunState:
    """The run.json that ``tthc up`` writes once every service is healthy."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if (state := runstate.load(data_dir)) is not None:
            return state
        time.sleep(0.2)
    raise AssertionError(f"tthc up wrote no run.json in {data_dir}")


def tthc(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``tthc ARGS`` from another folder, as a user runs it: nothing exported but the data folder."""
    env = {k: v for k, v in os.environ.items() if k not in SYSTEM_VARIABLES and not k.startswith("TTHC_")}
    env["TTHC_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Traceback" not in output, output
    return output


def test_commands_find_the_running_system_without_any_variable(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    system = RunningSystem(data_dir, args=("--demo",))
    try:
        system.wait_for(r"all services healthy", 90)
        state = recorded_state(data_dir)
        system.wait_for(r"demo data: ", 60)

        status = ok(tthc(data_dir, "status"))
        for name in ("registry", "processing", "reporting"):
            assert re.search(rf"^{name}\s+ok\s", status, re.M), status
        assert "dead letters" in status and "tthc.dossier-events.v1.dlq" in status

        assert "seed cantho-2021 applied" in ok(tthc(data_dir, "seed", "cantho-2021"))
        officer = ok(
            tthc(data_dir, "token", "--subject", "o@cantho", "--role", "officer", "--agency", "000.00.13.H13")
        )
        assert officer.startswith("tthc_")

        simulated = ok(tthc(data_dir, "simulate", "--dossiers", "20", "--seed", "4", "--no-progress"))
        assert "simulated 20 dossiers" in simulated

        log, mapping = tmp_path / "log.xes", tmp_path / "mapping.toml"
        log.write_text(XES, encoding="utf-8")
        mapping.write_text(MAPPING, encoding="utf-8")
        assert "2 cases → 2 dossiers" in ok(tthc(data_dir, "replay", str(log), "--mapping", str(mapping)))
        ok(tthc(data_dir, "dlq", "list"))

        refused = tthc(data_dir, "keys", "create", "k", "--agency", "ZZZ")
        assert (
            refused.returncode == 1
            and "no agency ZZZ" in refused.stderr
            and "Traceback" not in refused.stderr
        )

        # the dossiers arrive: status counts the 20 simulated and the 2 replayed ones
        deadline = time.monotonic() + 60
        while True:
            status = ok(tthc(data_dir, "status"))
            stored = re.search(r"^dossiers\s+([\d,]+)\s+stored", status, re.M)
            if stored and int(stored.group(1).replace(",", "")) >= 22:
                break
            assert time.monotonic() < deadline, status
            system.alive()
            time.sleep(1)
        assert re.search(r"^processing\s+ok\s+[\d,–]+", status, re.M), status
        assert_demo_findings_are_the_injected_ones(system.url("processing"), state.admin_token)
    finally:
        system.stop()


def assert_demo_findings_are_the_injected_ones(processing: str, token: str) -> None:
    """Every demo dossier's nonconformity codes, as processing judged them, equal its truth."""
    settings = CommonSettings()
    truth = {
        d.code: sorted(str(c) for c in d.codes)
        for d in demo_dossiers(settings, demo_options(reference=start_of_today(settings)))
    }
    got: dict[str, list[str]] = {}
    deadline = time.monotonic() + 60
    auth = {"Authorization": f"Bearer {token}"}  # processing's reads need a token, like every read API
    with httpx.Client(base_url=processing, headers=auth, timeout=10) as client:
        while len(got) < len(truth) and time.monotonic() < deadline:
            for code in sorted(set(truth) - set(got)):
                r = client.get(f"/api/v1/dossiers/{code}")
                if r.status_code == 200:
                    got[code] = sorted({nc["code"] for nc in r.json()["nonconformities"]})
            time.sleep(0.5)
        # a dossier's findings can still grow while its later events arrive: read them all once more
        got = {
            c: sorted({nc["code"] for nc in client.get(f"/api/v1/dossiers/{c}").json()["nonconformities"]})
            for c in truth
        }
    differ = {c: (got[c], truth[c]) for c in truth if got[c] != truth[c]}
    assert not differ, f"{len(differ)} demo dossiers differ (got, injected): {list(differ.items())[:5]}"
