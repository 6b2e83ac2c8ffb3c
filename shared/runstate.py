"""Where the parts of a running ``tthc up`` are, so the other ``tthc`` commands find them.

``tthc up`` writes ``<data dir>/run.json`` (mode 0600: it holds the admin token and the DSN) once
every service is healthy and removes it when it stops. A command that needs the database, the broker
or a service reads it when its environment says nothing; the environment always wins.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

FILE_NAME = "run.json"
DATA_DIR_ENV = "TTHC_DATA_DIR"
DEFAULT_DATA_DIR = Path(".tthc")


@dataclass(frozen=True)
class RunState:
    """The addresses of one running system."""

    database_url: str
    kafka_bootstrap_servers: str
    services: dict[str, str] = field(default_factory=dict)  # service name → base URL
    admin_token: str = ""
    pid: int = 0  # the `tthc up` process
    data_dir: str = ""
    logs_dir: str = ""


def data_dir(explicit: Path | None = None) -> Path:
    """The data folder: an explicit one, else ``$TTHC_DATA_DIR``, else ``./.tthc``."""
    if explicit is not None:
        return explicit
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


def write(state: RunState, folder: Path) -> Path:
    """Write the state readable by this user only (created 0600, never world-readable for a moment)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILE_NAME
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(asdict(state), out, indent=2)
    os.replace(tmp, path)
    return path


def remove(folder: Path) -> None:
    (folder / FILE_NAME).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def load(folder: Path | None = None) -> RunState | None:
    """The state of the running system, or ``None`` when no ``tthc up`` runs from that folder
    (no file, an unreadable one, or one left behind by a process that is gone)."""
    path = data_dir(folder) / FILE_NAME
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        state = RunState(**raw)
    except (OSError, ValueError, TypeError):
        return None
    return state if _alive(state.pid) else None
