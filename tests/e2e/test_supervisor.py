"""`tthc up` leaves no process behind, however it is stopped."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from services.reporting.settings import ReportingSettings
from shared import runstate
from tests.e2e.system import RunningSystem, wait_gone

pytestmark = pytest.mark.e2e


def test_sigterm_stops_everything_cleanly(tmp_path: Path) -> None:
    system = RunningSystem(tmp_path / "state")
    try:
        system.wait_for(r"all services healthy", timeout=90)
        children = system.descendants()
        assert len(children) >= 5  # postgres (+ its workers), broker, three services
        assert system.stop(signal.SIGTERM) == 0
        assert wait_gone(children, timeout=10) == []
        assert any("stopped" in line for line in system.output)
    finally:
        system.stop(signal.SIGKILL)


def test_a_killed_supervisor_takes_its_children_with_it(tmp_path: Path) -> None:
    system = RunningSystem(tmp_path / "state")
    try:
        system.wait_for(r"all services healthy", timeout=90)
        children = system.descendants()
        system.proc.kill()  # kill -9: no chance to clean up
        system.proc.wait(10)
        assert wait_gone(children, timeout=30) == [], "orphans left after kill -9 of tthc up"
    finally:
        for p in system.descendants() if system.proc.poll() is None else []:
            p.kill()


def test_restart_reuses_the_data_dir(tmp_path: Path) -> None:
    """Stopping and starting again keeps PostgreSQL's data (the broker is memory only)."""
    for _ in range(2):
        system = RunningSystem(tmp_path / "state")
        try:
            system.wait_for(r"all services healthy", timeout=90)
        finally:
            assert system.stop(signal.SIGINT) == 0
    assert (tmp_path / "state" / "pg" / "PG_VERSION").exists()
    assert any("migrations: 0 applied" in line for line in system.output)


ROOT = Path(__file__).resolve().parents[2]
TOKEN = "tthc-test-admin-token-0123456789abcdef"


def _clone_into(dest: Path) -> None:
    """The checkout as a user has it after `git clone`: tracked and new files, no venv, no data."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / name.decode()
        if source.is_file():
            target = dest / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def test_a_fresh_clone_in_a_private_home_folder_runs_and_keeps_its_data() -> None:
    """`tthc up` from a clone in $HOME (0700, as root's is; a path with spaces): healthy, the other
    commands find it, readable console with JSON log files, and a second start keeps the data."""
    home = Path(tempfile.mkdtemp(prefix="tthc home ", dir="/tmp"))  # mode 0700, like /root
    runtime = Path(tempfile.mkdtemp(prefix="tthc-pg-runtime-", dir="/tmp"))
    runtime.chmod(0o755)  # stands for /var/lib/tthc: a folder of the project's own
    try:
        clone = home / "src" / "tthc monitor"
        _clone_into(clone)
        env = {
            "HOME": str(home),
            "PYTHONPATH": str(clone),  # the clone's code, with this venv's packages (no pip install)
            "TTHC_ADMIN_TOKEN": TOKEN,
            "TTHC_EMBEDDED_PG_ROOT": str(runtime),
        }
        imported = subprocess.run(
            [sys.executable, "-c", "import services.cli.up as m; print(m.__file__)"],
            cwd=clone,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert imported.startswith(str(clone)), imported
        procedure = {
            "code": "1.004845",
            "name": "Thủ tục đăng ký chấm dứt giám hộ",
            "field": "Hộ tịch",
            "level": "Cấp xã",
            "statutory_time": {"value": "2", "unit": "working_days"},
        }
        headers = {"Authorization": f"Bearer {TOKEN}"}
        for run in (1, 2):
            system = RunningSystem(None, env, cwd=clone)
            try:
                system.wait_for(r"all services healthy", timeout=120)
                registry = system.url("registry")
                if run == 1:
                    put = httpx.put(f"{registry}/api/v1/procedures/1.004845", json=procedure, headers=headers)
                    assert put.status_code == 201, put.text  # created
                    state = runstate.load(clone / ".tthc")
                    assert state is not None and state.pid == system.proc.pid
                    assert state.services["reporting"] == system.url("reporting")
                    assert state.admin_token == TOKEN
                    assert stat.S_IMODE((clone / ".tthc" / runstate.FILE_NAME).stat().st_mode) == 0o600
                    # a second `tthc up` in the same checkout is refused and leaves the first alone
                    second = RunningSystem(None, env, cwd=clone)
                    assert second.proc.wait(60) == 1
                    second._reader.join(5)
                    assert any("another PostgreSQL" in line for line in second.output), second.output[-5:]
                    assert runstate.load(clone / ".tthc") == state
                    assert system.proc.poll() is None
                    # without --demo `tthc up` opens nothing: reporting keeps its own default
                    anonymous = httpx.get(f"{system.url('reporting')}/api/v1/reports/form06?period=2026")
                    assert anonymous.status_code == (
                        401 if ReportingSettings().reporting_require_token else 200
                    )
                else:
                    got = httpx.get(f"{registry}/api/v1/procedures/1.004845", headers=headers)
                    assert got.status_code == 200, got.text
                    assert got.json()["name"] == procedure["name"]
            finally:
                assert system.stop(signal.SIGINT) == 0
            assert runstate.load(clone / ".tthc") is None
            assert not (clone / ".tthc" / runstate.FILE_NAME).exists()
        assert any("migrations: 0 applied" in line for line in system.output)
        # nobody changed the permissions of the user's folders
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        # readable console; the services' JSON lines are in the log files
        service_lines = [line for line in system.output if " registry " in line[:20]]
        assert service_lines and not any(line.lstrip().startswith("{") for line in system.output)
        logged = (clone / ".tthc" / "logs" / "registry.log").read_text().splitlines()
        assert logged and all(
            json.loads(line)["service"] == "registry" for line in logged if line.startswith("{")
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(runtime, ignore_errors=True)


def test_demo_loads_data_and_opens_anonymous_report_reads_saying_so(tmp_path: Path) -> None:
    system = RunningSystem(tmp_path / "state", {"TTHC_REPORTING_REQUIRE_TOKEN": "true"}, args=("--demo",))
    try:
        system.wait_for(r"running; press Ctrl-C", timeout=150)
        assert any("demo: reporting answers anonymous reads" in line for line in system.output)
        url = f"{system.url('reporting')}/api/v1/reports/form06?period={time.strftime('%Y')}"
        deadline = time.monotonic() + 60
        while True:  # the demo dossiers reach the report without a token
            answer = httpx.get(url, timeout=10)
            assert answer.status_code == 200, answer.text
            if any(v for v in answer.json()["totals"].values() if isinstance(v, int)):
                break
            assert time.monotonic() < deadline, answer.json()["totals"]
            time.sleep(1)
    finally:
        assert system.stop(signal.SIGTERM) == 0
