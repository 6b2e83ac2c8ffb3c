"""The pieces of `tthc up` that need no processes: the supervisor's restart policy, the readable
console, `tthc logs`, and whether the embedded server's user can reach a folder."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import tempfile
from pathlib import Path

import pytest

from services.cli.logs import format_json_line, last_lines, run_logs
from shared.devstack.postgres import can_reach
from shared.devstack.supervisor import Child, Supervisor, TooManyCrashes, describe_exit


class FakeProc:
    """Enough of Popen for the supervisor: exits when told to."""

    count = 0

    def __init__(self) -> None:
        FakeProc.count += 1
        self.pid = 10_000_000 + FakeProc.count  # no real process has it
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode

    def kill(self) -> None:
        self.returncode = -9

    def wait(self, timeout: float | None = None) -> int:
        return self.returncode or 0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _supervised(clock: Clock, said: list[str], **kw: float) -> tuple[Supervisor, list[FakeProc]]:
    started: list[FakeProc] = []

    def start() -> FakeProc:
        started.append(FakeProc())
        return started[-1]

    sup = Supervisor(said.append, clock=clock, **kw)  # type: ignore[arg-type]
    sup.add(Child("processing", start))  # type: ignore[arg-type]
    return sup, started


def test_a_crashed_child_is_restarted_after_a_doubling_backoff_and_each_restart_is_logged() -> None:
    clock, said = Clock(), []
    sup, started = _supervised(clock, said, max_crashes=10, window_s=60, backoff_initial_s=0.5)
    waits = []
    for _ in range(3):
        started[-1].returncode = -9
        sup.tick()  # notices the crash
        crashed_at = clock.now
        while len(started) == len(waits) + 1:
            clock.now += 0.25
            sup.tick()
        waits.append(clock.now - crashed_at)
    assert waits == [0.5, 1.0, 2.0]
    assert len(started) == 4
    assert "processing exited with signal SIGKILL; restarting in 0.5 s" in said[0]
    assert sum("restarted" in s for s in said) == 3


def test_more_crashes_than_allowed_within_the_window_stops_everything() -> None:
    clock, said = Clock(), []
    sup, started = _supervised(clock, said, max_crashes=3, window_s=60, backoff_initial_s=0.1)
    with pytest.raises(TooManyCrashes, match="4 crashes within 60 s"):
        for _ in range(10):
            started[-1].returncode = 1
            sup.tick()
            clock.now += 5
            sup.tick()
    assert len(started) == 4  # the first start and three restarts


def test_crashes_older_than_the_window_are_forgiven() -> None:
    clock, said = Clock(), []
    sup, started = _supervised(clock, said, max_crashes=2, window_s=60, backoff_initial_s=0.1)
    for _ in range(10):  # one crash every 40 s: never more than 2 within 60 s
        started[-1].returncode = 1
        sup.tick()
        clock.now += 40
        sup.tick()
    assert len(started) == 11


def test_a_restart_that_fails_counts_as_a_crash_and_is_retried() -> None:
    clock, said = Clock(), []
    attempts = {"n": 0}

    def start() -> FakeProc:
        attempts["n"] += 1
        if attempts["n"] in (2, 3):
            raise RuntimeError("port busy")
        return FakeProc()

    sup = Supervisor(said.append, clock=clock, max_crashes=5, window_s=60, backoff_initial_s=1)
    child = sup.add(Child("broker", start))  # type: ignore[arg-type]
    assert child.proc is not None
    child.proc.returncode = -9  # type: ignore[misc]
    for _ in range(20):
        sup.tick()
        clock.now += 1
    assert attempts["n"] == 4
    assert child.proc.poll() is None
    assert sum("did not restart (port busy)" in s for s in said) == 2


def test_exit_descriptions() -> None:
    assert describe_exit(-9) == "signal SIGKILL"
    assert describe_exit(3) == "code 3"


def test_the_console_shows_time_service_level_and_message_not_json() -> None:
    raw = json.dumps(
        {
            "ts": "2026-12-03T05:04:03.123+00:00",
            "level": "warning",
            "service": "processing",
            "logger": "x",
            "msg": "batch retried",
            "dossier_code": "D-1",
            "color_message": "ignored",
            "exc": "Traceback (most recent call last):\n  ...\nConnectionRefusedError: refused",
        }
    )
    line = format_json_line(raw, "processing", colour=False)
    assert line.split()[1:4] == ["processing", "warning", "batch"]
    assert "dossier_code=D-1" in line and "ConnectionRefusedError: refused" in line
    assert "{" not in line and "Traceback" not in line and "color_message" not in line
    full = format_json_line(raw, "processing", colour=False, compact=False)
    assert "Traceback (most recent call last)" in full
    coloured = format_json_line(raw, "processing", colour=True)
    assert "\x1b[33m" in coloured  # warnings in yellow on a terminal
    assert format_json_line("plain text", "broker", colour=False).endswith("broker     info    plain text")


def test_tthc_logs_prints_the_last_lines_of_every_service_in_time_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    for service, seconds in (("registry", (1, 4)), ("processing", (2, 3))):
        lines = [
            json.dumps(
                {"ts": f"2026-12-03T00:00:0{s}+00:00", "level": "info", "service": service, "msg": f"m{s}"}
            )
            for s in seconds
        ]
        (logs / f"{service}.log").write_text("\n".join(lines) + "\n")
    assert [line.split('"msg": "')[1][:2] for _, line in last_lines(sorted(logs.glob("*.log")), 3)] == [
        "m2",
        "m3",
        "m4",
    ]
    assert run_logs(None, follow=False, lines=10, as_json=False, data_dir=tmp_path) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[-1] for line in out] == ["m1", "m2", "m3", "m4"]
    assert run_logs("reporting", follow=False, lines=10, as_json=False, data_dir=tmp_path) == 1
    assert "no log of reporting" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() != 0, reason="needs another user's view of the folders (runs as root in CI)")
def test_whether_the_server_user_can_reach_a_folder() -> None:
    nobody = pwd.getpwnam("nobody")
    top = Path(tempfile.mkdtemp(dir="/tmp"))  # pytest's tmp_path sits under a 0700 folder
    try:
        top.chmod(0o755)
        private = top / "home"
        (private / "clone").mkdir(parents=True)
        private.chmod(0o700)
        assert not can_reach(private / "clone", nobody)
        private.chmod(0o711)
        assert can_reach(private / "clone", nobody)
        assert can_reach(private / "clone", pwd.getpwnam("root"))
    finally:
        shutil.rmtree(top)


def test_tthc_ups_own_log_records_are_one_readable_line_without_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import logging

    from services.cli.logs import ConsoleHandler

    logger = logging.getLogger("tthc.simulator.live")
    handler = ConsoleHandler(colour=False)
    logger.addHandler(handler)
    try:
        try:
            raise ConnectionError("registry not reachable")
        except ConnectionError:
            logger.exception("live simulation stopped")
    finally:
        logger.removeHandler(handler)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    assert out[0].split()[1:4] == ["simulator", "error", "live"]
    assert out[0].endswith("(ConnectionError: registry not reachable)")


def test_tthc_logs_follow_prints_new_lines_and_survives_a_rotation(tmp_path: Path) -> None:
    import threading
    import time

    from services.cli.logs import follow_lines

    log = tmp_path / "processing.log"
    log.write_text("old line\n")

    def write() -> None:
        time.sleep(0.3)
        with log.open("a") as f:
            f.write("new line\n")
        time.sleep(0.3)
        log.rename(tmp_path / "processing.log.1")  # what RotatingFileHandler does
        log.write_text("after rotation, a line longer than what was read before\n")

    writer = threading.Thread(target=write)
    writer.start()
    lines = follow_lines([log], poll_s=0.02)
    try:
        assert next(lines) == ("processing", "new line\n")  # not the old one
        assert next(lines) == ("processing", "after rotation, a line longer than what was read before\n")
    finally:
        lines.close()
        writer.join()


@pytest.mark.parametrize("console", ["human", "json", "none"])
def test_each_service_line_is_kept_verbatim_and_shown_as_the_console_setting_says(
    console: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    from services.cli.logs import LogPump, rotating_file

    raw = json.dumps(
        {"ts": "2026-12-03T05:04:03+00:00", "level": "info", "service": "registry", "msg": "hello"}
    )
    handler = rotating_file(tmp_path / "logs" / "registry.log", 1_000_000, 1)
    pump = LogPump(
        "registry", io.BytesIO(f"{raw}\nnot json\n".encode()), handler, console=console, colour=False
    )
    pump.thread.join(5)
    handler.close()
    assert (tmp_path / "logs" / "registry.log").read_text().splitlines() == [raw, "not json"]
    shown = capsys.readouterr().out.splitlines()
    expected = {
        "human": [
            format_json_line(raw, "registry", colour=False),
            format_json_line("not json", "registry", colour=False),
        ],
        "json": [raw, "not json"],
        "none": [],
    }[console]
    assert shown == expected
    if console == "human":
        assert shown[0].endswith("registry   info    hello")


def test_log_files_are_rotated_at_the_configured_size(tmp_path: Path) -> None:
    import io

    from services.cli.logs import LogPump, rotating_file

    handler = rotating_file(tmp_path / "processing.log", 10_000, 2)
    lines = b"".join(b'{"msg": "%05d' % i + b"x" * 90 + b'"}\n' for i in range(1000))  # ~100 KB
    LogPump("processing", io.BytesIO(lines), handler, console="none", colour=False).thread.join(5)
    handler.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["processing.log", "processing.log.1", "processing.log.2"]
    assert all(p.stat().st_size <= 10_000 for p in tmp_path.iterdir())
    assert (tmp_path / "processing.log").read_text().splitlines()[-1].startswith('{"msg": "00999')


def test_a_planned_restart_starts_the_children_again_at_once_and_is_no_crash() -> None:
    clock, said = Clock(), []
    sup, started = _supervised(clock, said, max_crashes=1, window_s=60, backoff_initial_s=0.5)
    first = started[-1]
    first.terminate = first.kill  # type: ignore[attr-defined]
    sup.restart(["processing"], "their broker restarted empty")
    assert first.poll() is not None and len(started) == 2 and started[-1].poll() is None
    sup.tick()
    assert not sup.children["processing"].crashes
    assert said == ["restarting processing: their broker restarted empty"]
