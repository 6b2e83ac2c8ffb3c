"""Streaming XES reader (IEEE 1849): one case at a time, constant memory in the number of events.

``iterparse`` builds each ``<trace>`` element; once it is read into a :class:`LogCase` the
trace is cleared and dropped from the root, so only the case in hand is ever in memory.
Attributes are the direct ``key``/``value`` children of the trace and of each event (string,
date, int, float, boolean, id); nested and list attributes are not read. ``.gz`` is read
transparently.
"""

from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

from services.replay.domain.log import LogCase, LogEvent

_SIMPLE = frozenset({"string", "date", "int", "float", "boolean", "id"})


class UnreadableLog(ValueError):
    """A log file that cannot be read; the message says which file and why."""


def open_log(path: Path) -> IO[bytes]:
    """The file's bytes, decompressed when it is gzip (by content, not by name)."""
    raw = path.open("rb")
    magic = raw.read(2)
    raw.seek(0)
    if magic == b"\x1f\x8b":
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
    return raw


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class _Tags:
    """Full tag names under the log's namespace, so the hot loop compares strings, not splits them."""

    def __init__(self, root_tag: str) -> None:
        prefix = root_tag[: root_tag.index("}") + 1] if root_tag.startswith("{") else ""
        self.trace = prefix + "trace"
        self.event = prefix + "event"
        self.simple = frozenset(prefix + t for t in _SIMPLE)

    def attributes(self, element: ET.Element) -> dict[str, str]:
        found: dict[str, str] = {}
        for child in element:
            if child.tag in self.simple:
                key = child.get("key")
                value = child.get("value")
                if key is not None and value is not None:
                    found[key] = value
        return found


def read_xes(path: Path, case_id_key: str = "concept:name") -> Iterator[LogCase]:
    """The cases of an XES file in file order; a trace without ``case_id_key`` gets ``#<n>``."""
    with open_log(path) as stream:
        root: ET.Element | None = None
        tags: _Tags | None = None
        n = 0
        try:
            for kind, element in ET.iterparse(stream, events=("start", "end")):
                if kind == "start":
                    if root is None:  # only the root's start is needed: to drop finished traces
                        root = element
                        if _local(root.tag) != "log":
                            raise UnreadableLog(
                                f"{path} is not an XES log (root element <{_local(root.tag)}>)"
                            )
                        tags = _Tags(root.tag)
                    continue
                assert tags is not None and root is not None
                if element.tag != tags.trace:
                    continue
                attributes = tags.attributes(element)
                events = tuple(
                    LogEvent(i, tags.attributes(e))
                    for i, e in enumerate(c for c in element if c.tag == tags.event)
                )
                case_id = attributes.get(case_id_key) or f"#{n}"
                n += 1
                element.clear()
                root.clear()  # drop the emptied trace from the root too: memory stays flat
                yield LogCase(case_id, attributes, events)
        except ET.ParseError as exc:
            raise UnreadableLog(f"{path}: malformed XML ({exc})") from exc
        except (OSError, EOFError) as exc:
            raise UnreadableLog(f"{path}: {exc}") from exc
