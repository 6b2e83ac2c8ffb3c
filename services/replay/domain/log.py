"""An event log as the readers hand it over: one case at a time, attributes as text.

Readers (XES, CSV) differ only in how they find cases; the translation sees the same shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo


class LogEvent(NamedTuple):
    """One event of a case; ``position`` is its 0-based place in the case as written.

    A named tuple, not a frozen dataclass: a reader makes one per log event, and a frozen
    dataclass's ``__init__`` costs three times as much."""

    position: int
    attributes: Mapping[str, str]


class LogCase(NamedTuple):
    """One case (trace) with its own attributes and its events in log order (a named tuple: see
    LogEvent)."""

    case_id: str
    attributes: Mapping[str, str]
    events: tuple[LogEvent, ...]


class BadMoment(ValueError):
    """A timestamp that is not ISO 8601, or has no offset and no zone to assume."""


def parse_moment(text: str, naive_zone: ZoneInfo | None) -> datetime:
    """An aware datetime from ISO 8601 text; the instant and its offset are kept as written.

    Text without an offset is read in ``naive_zone``; without one it is refused, because a
    guessed offset would move every due date.
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadMoment(f"{text!r} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        if naive_zone is None:
            raise BadMoment(
                f"{text!r} has no UTC offset; set [log] naive_timezone (e.g. 'Europe/Amsterdam') in the mapping"
            )
        moment = moment.replace(tzinfo=naive_zone)
    return moment
