"""Structured logs: one JSON object per line on stderr.

Every line carries the service name; lines written while a dossier or an event is being
handled carry ``dossier_code`` / ``event_id`` too (set with :func:`log_context`).
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson

_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("tthc_log_context", default={})  # noqa: B039

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


@contextmanager
def log_context(**fields: str) -> Iterator[None]:
    """Attach fields (e.g. dossier_code, event_id) to every log line inside the block."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_context.get())
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class RepeatFilter(logging.Filter):
    """Identical warnings and errors are written once per ``interval_s``, then with a count.

    A dependency that is away makes the same line (and traceback) thousands of times a second;
    the first goes through, the repeats within the interval are counted, and the first one after
    the interval carries ``repeated``: how many identical lines were left out since the last one.
    Lines that differ in anything (message, extra fields, context, exception) are not identical.
    """

    def __init__(
        self, interval_s: float, clock: Callable[[], float] = time.monotonic, max_keys: int = 1_000
    ) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._clock = clock
        self._max_keys = max_keys
        self._seen: OrderedDict[tuple[Any, ...], list[float]] = OrderedDict()  # key → [written at, left out]

    def _key(self, record: logging.LogRecord) -> tuple[Any, ...]:
        extra = tuple(
            (k, repr(v)) for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")
        )
        exc = record.exc_info[1] if record.exc_info else None
        return (
            record.name,
            record.levelno,
            record.getMessage(),
            extra,
            tuple(_context.get().items()),
            (type(exc).__name__, str(exc)) if exc is not None else None,
        )

    def filter(self, record: logging.LogRecord) -> bool:
        if self.interval_s <= 0 or record.levelno < logging.WARNING:
            return True
        key = self._key(record)
        now = self._clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self.interval_s:
            seen[1] += 1
            return False
        if seen is not None and seen[1]:
            record.repeated = int(seen[1])
        self._seen[key] = [now, 0]
        self._seen.move_to_end(key)
        while len(self._seen) > self._max_keys:
            self._seen.popitem(last=False)
        return True


def configure_logging(service: str, level: str, repeat_interval_s: float = 30.0) -> None:
    """JSON lines on stderr at ``level`` (a setting); identical warnings and errors at most once per
    ``repeat_interval_s`` (:class:`RepeatFilter`)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(RepeatFilter(repeat_interval_s))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uv = logging.getLogger(name)
        uv.handlers[:] = []
        uv.propagate = True
