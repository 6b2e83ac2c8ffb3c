"""The embedded PostgreSQL of `tthc up` on real processes: a killed server's lock is cleaned and it
starts again on its data; a live server's data is never taken over by a second one."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from shared.devstack import LocalPostgres
from shared.devstack.postgres import RUNTIME_ROOT_ENV

pytestmark = pytest.mark.integration


@pytest.fixture
def private_folder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A 0700 folder (like root's home) and a runtime root of the test's own."""
    folder = Path(tempfile.mkdtemp(prefix="tthc devstack ", dir="/tmp"))
    runtime = Path(tempfile.mkdtemp(prefix="tthc-pg-runtime-", dir="/tmp"))
    runtime.chmod(0o755)
    monkeypatch.setenv(RUNTIME_ROOT_ENV, str(runtime))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(runtime, ignore_errors=True)


async def _count(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS kept (n int)")
        await conn.execute("INSERT INTO kept VALUES (1)")
        n: int = await conn.fetchval("SELECT count(*) FROM kept")
        return n
    finally:
        await conn.close()


def test_a_killed_server_restarts_on_its_data_and_a_live_one_is_never_taken_over(
    private_folder: Path,
) -> None:
    data = private_folder / "clone with spaces" / ".tthc" / "pg"
    pg = LocalPostgres(data).start()
    try:
        assert asyncio.run(_count(pg.dsn)) == 1
        second = LocalPostgres(data)
        with pytest.raises(RuntimeError, match=r"another PostgreSQL .* is running"):
            second.start()
        assert pg.proc is not None
        os.kill(pg.proc.pid, signal.SIGKILL)  # kill -9 the postmaster: its postmaster.pid stays behind
        pg.proc.wait()
        assert (pg.server_data / "postmaster.pid").exists()
        pg.proc = None
        pg.start(timeout=60)  # the stale lock is removed, the same port and data are used
        assert asyncio.run(_count(pg.dsn)) == 2
    finally:
        pg.stop()
    if os.geteuid() == 0:  # as root the data moved out of the private folder, behind a link
        assert data.is_symlink() and (data / "PG_VERSION").exists()
