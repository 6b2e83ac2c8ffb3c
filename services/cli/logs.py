"""Readable logs: the console of ``tthc up`` and ``tthc logs``.

The services write JSON lines (``shared/logs.py``). ``tthc up`` keeps each service's lines, as
they are, in ``<data dir>/logs/<service>.log`` (rotated by size) and prints them on its console
as ``time service level message key=value…`` (coloured on a terminal); with
``TTHC_CONSOLE_FORMAT=json`` the console gets the JSON lines unchanged (for production log shippers).
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

_COLOURS = {
    "debug": "\x1b[2m",
    "info": "",
    "warning": "\x1b[33m",
    "error": "\x1b[31m",
    "critical": "\x1b[1;31m",
}
_RESET = "\x1b[0m"
_SERVICE_COLOUR = "\x1b[36m"
_SHOWN_FIRST = ("ts", "level", "service", "logger", "msg", "exc", "color_message")
_print_lock = threading.Lock()


def _local_time(ts: str) -> str:
    try:
        return datetime.fromisoformat(ts).astimezone().strftime("%H:%M:%S")
    except ValueError:
        return ts[:8]


def human_line(service: str, level: str, message: str, *, colour: bool, when: str | None = None) -> str:
    """``12:03:04 processing  info     message``."""
    when = when or time.strftime("%H:%M:%S")
    level = level.lower()
    if colour:
        c = _COLOURS.get(level, "")
        return f"{when} {_SERVICE_COLOUR}{service:<10}{_RESET} {c}{level:<7}{_RESET if c else ''} {c}{message}{_RESET if c else ''}"
    return f"{when} {service:<10} {level:<7} {message}"


def format_json_line(raw: str, service: str, *, colour: bool, compact: bool = True) -> str:
    """One service log line made readable; a line that is not JSON is shown as it is."""
    raw = raw.rstrip("\n")
    try:
        entry: dict[str, Any] = json.loads(raw)
        if not isinstance(entry, dict):
            raise ValueError
    except ValueError:
        return human_line(service, "info", raw, colour=colour)
    extras = " ".join(f"{k}={v}" for k, v in entry.items() if k not in _SHOWN_FIRST and v not in ("", None))
    message = str(entry.get("msg", ""))
    if extras:
        message = f"{message}  {extras}"
    if entry.get("exc"):  # the console gets the exception's last line; the log file keeps the traceback
        last = str(entry["exc"]).strip().splitlines()[-1:] or [""]
        message = f"{message}  ({last[0]})" if compact else f"{message}\n{entry['exc']}"
    return human_line(
        str(entry.get("service", service)),
        str(entry.get("level", "info")),
        message,
        colour=colour,
        when=_local_time(str(entry.get("ts", ""))),
    )


def rotating_file(path: Path, max_bytes: int, backups: int) -> logging.Handler:
    """A size-rotated file that receives lines verbatim."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


class LogPump:
    """Copies one child's output to its log file and, readable, to the console (a daemon thread)."""

    def __init__(
        self, service: str, stream: IO[bytes], file: logging.Handler, *, console: str, colour: bool
    ) -> None:
        self.service = service
        self.stream = stream
        self.file = file
        self.console = console
        self.colour = colour
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"log-{service}")
        self.thread.start()

    def _run(self) -> None:
        for chunk in iter(self.stream.readline, b""):
            line = chunk.decode("utf-8", "replace").rstrip("\n")
            if not line:
                continue
            self.file.emit(logging.makeLogRecord({"msg": line, "args": None, "levelno": logging.INFO}))
            if self.console == "json":
                shown = line
            elif self.console == "human":
                shown = format_json_line(line, self.service, colour=self.colour)
            else:
                continue
            with _print_lock:
                print(shown, flush=True)
        self.stream.close()


def say(message: str, *, level: str = "info", colour: bool | None = None) -> None:
    """A line of ``tthc up`` itself on the console."""
    if colour is None:
        colour = sys.stdout.isatty()
    with _print_lock:
        print(human_line("tthc up", level, message, colour=colour), flush=True)


# --- tthc logs ------------------------------------------------------------------------------


SERVICE_LOGS = ("registry", "processing", "reporting")


def log_files(logs_dir: Path, service: str | None) -> list[Path]:
    """One log (a service, ``postgres`` or ``broker``), or the three services' logs."""
    return [logs_dir / f"{name}.log" for name in ([service] if service else SERVICE_LOGS)]


def _timestamp(raw: str) -> str:
    try:
        entry = json.loads(raw)
        return str(entry.get("ts", "")) if isinstance(entry, dict) else ""
    except ValueError:
        return ""


def last_lines(files: list[Path], count: int) -> list[tuple[str, str]]:
    """The last ``count`` lines over ``files``, as (service, line), in time order."""
    lines: list[tuple[str, str, str]] = []
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as f:
            tail = f.readlines()[-count:]
        lines.extend((_timestamp(line), path.stem, line) for line in tail)
    lines.sort(key=lambda t: t[0])
    return [(service, line) for _, service, line in lines[-count:]]


def follow_lines(files: list[Path], poll_s: float = 0.3) -> Iterator[tuple[str, str]]:
    """New lines of ``files`` as they are written (a rotated file is reopened)."""
    handles: dict[Path, IO[str]] = {}
    try:
        while True:
            for path in files:
                f = handles.get(path)
                if f is None:
                    if not path.exists():
                        continue
                    f = handles[path] = open(path, encoding="utf-8", errors="replace")
                    f.seek(0, 2)
                line = f.readline()
                while line:
                    if line.endswith("\n"):
                        yield path.stem, line
                    line = f.readline()
                try:
                    now = path.stat()
                    if now.st_ino != os.fstat(f.fileno()).st_ino or now.st_size < f.tell():  # rotated
                        f.close()
                        handles[path] = open(path, encoding="utf-8", errors="replace")
                except OSError:
                    pass
            time.sleep(poll_s)
    finally:
        for f in handles.values():
            f.close()


def run_logs(service: str | None, *, follow: bool, lines: int, as_json: bool, data_dir: Path | None) -> int:
    """``tthc logs``: print, then optionally follow, the log files of ``tthc up``."""
    from shared import runstate

    state = runstate.load(data_dir)
    folder = Path(state.logs_dir) if state and state.logs_dir else runstate.data_dir(data_dir) / "logs"
    files = [p for p in log_files(folder, service) if p.exists()]
    if not files:
        what = f"no log of {service}" if service else "no logs"
        print(
            f"{what} in {folder}: start the system with `tthc up` in this folder, or give --data-dir",
            file=sys.stderr,
        )
        return 1
    colour = sys.stdout.isatty()

    def show(svc: str, raw: str) -> None:
        shown = raw.rstrip("\n") if as_json else format_json_line(raw, svc, colour=colour, compact=False)
        print(shown, flush=True)

    for svc, raw in last_lines(files, lines):
        show(svc, raw)
    if follow:
        try:
            for svc, raw in follow_lines(files):
                show(svc, raw)
        except KeyboardInterrupt:
            pass
    return 0


class ConsoleHandler(logging.Handler):
    """Log records of ``tthc up``'s own process (the demo stream, devstack) as readable console lines."""

    def __init__(self, colour: bool) -> None:
        super().__init__(logging.INFO)
        self.colour = colour

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                exc = record.exc_info[1]
                message = f"{message}  ({type(exc).__name__}: {exc})"
            name = "simulator" if record.name.startswith("tthc.simulator") else "tthc up"
            with _print_lock:
                print(human_line(name, record.levelname, message, colour=self.colour), flush=True)
        except Exception:  # a log line must never break the caller
            self.handleError(record)


def log_to_console(colour: bool) -> None:
    """Route this process's log records (not the services': they are children) to the console."""
    root = logging.getLogger()
    root.handlers[:] = [ConsoleHandler(colour)]
    root.setLevel(logging.INFO)
    for noisy in ("aiokafka", "httpx", "httpcore", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
