"""`tthc up` leaves no process behind, however it is stopped."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

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
