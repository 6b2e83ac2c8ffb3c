"""Run ``tthc up`` as a child process, the way an operator does, and talk to it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from shared.devstack import free_port


class RunningSystem:
    """``tthc up`` on free ports with its own embedded PostgreSQL and broker."""

    def __init__(
        self,
        data_dir: Path | None,
        extra_env: dict[str, str] | None = None,
        *,
        cwd: Path | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        self.ports = {name: free_port() for name in ("registry", "processing", "reporting")}
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")}
        env.update({f"TTHC_{n.upper()}_PORT": str(p) for n, p in self.ports.items()})
        env.update(
            TTHC_KAFKA_SESSION_TIMEOUT_MS="3000",
            TTHC_KAFKA_HEARTBEAT_INTERVAL_MS="1000",
            PYTHONUNBUFFERED="1",
        )
        env.update(extra_env or {})
        self.output: list[str] = []
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "services.cli",
                "up",
                *(["--data-dir", str(data_dir)] if data_dir else []),
                *args,
            ],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def alive(self) -> None:
        """Fail with the system's own output if ``tthc up`` is no longer running."""
        if self.proc.poll() is not None:
            raise AssertionError(
                f"tthc up exited with {self.proc.returncode}:\n{''.join(self.output)[-6000:]}"
            )

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            for line in list(self.output):
                if m := rx.search(line):
                    return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(
            f"no line matching {pattern!r} within {timeout} s; output:\n{''.join(self.output)[-4000:]}"
        )

    @property
    def bootstrap_servers(self) -> str:
        return self.wait_for(r"broker .* on (\S+)", 1).group(1)

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)


def wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """The processes still alive after ``timeout`` s."""
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    return [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
