"""Streaming XES reader (IEEE 1849): one case at a time, constant memory in the number of events.

The file is fed to expat 64 KiB at a time; the element callbacks keep only the trace in hand
(its attributes and events), and the cases finished in a chunk are handed over before the next
chunk is read, so memory is bounded by a chunk's cases, never by the log. No element tree is
built: on this 2-core machine that reads about twice as many events a second as
``ElementTree.iterparse`` with ``clear()`` or lxml's ``iterparse`` (docs/decisions.md, "Replay
reader"). Attributes are the direct ``key``/``value`` children of the trace and of each event
(string, date, int, float, boolean, id); nested and list attributes are not read. ``.gz`` is
read transparently.

Most traces of a real log are plain: ``<trace>``, ``<event>`` and simple attributes written
``<string key="…" value="…"/>``, nothing else. Such a trace is cut out of the stream and read with
a few regular-expression passes (one checks that the whole block has exactly that shape, the
others list its attributes), which costs a fraction of an expat callback an element; every other
part of the file (its head, its end, and any trace with anything else in it: prefixed or nested
elements, entities, ``value`` before ``key``, line breaks or tabs inside a value) goes through
expat as before, so both paths give the same cases (tests/unit/test_replay_streaming.py).
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast
from xml.parsers import expat

from services.replay.domain.log import LogCase, LogEvent

# --- the plain-trace path --------------------------------------------------------------------
# XML whitespace (not Python's \s, which takes Unicode spaces too) and an attribute value expat
# returns unchanged: no quote, no markup, no entity, no control character (expat turns tab, CR and
# LF into spaces), no non-character.
_W = r"[ \t\r\n]"
_VALUE = r'[^"<&\x00-\x1f\ufffe\uffff]*+'
_TYPES = r"(?:string|date|int|float|boolean|id)"
_KEY_VALUE = re.compile(rf'<{_TYPES} key="({_VALUE})" value="({_VALUE})"{_W}*/>')
_PLAIN_ATTRIBUTE = rf'<{_TYPES} key="{_VALUE}" value="{_VALUE}"{_W}*/>'
_PLAIN_TRACE = re.compile(
    rf"<trace{_W}*>(?:{_W}*+(?:{_PLAIN_ATTRIBUTE}|<event{_W}*>(?:{_W}*+{_PLAIN_ATTRIBUTE})*+{_W}*</event{_W}*>))*+"
    rf"{_W}*</trace{_W}*>"
)
_EVENT_TAG = re.compile(rf"</?event{_W}*>")
_TRACE_START = b"<trace"
_TRACE_END = b"</trace>"
_AFTER_TRACE_NAME = frozenset(b" \t\r\n>")
_MAX_PENDING = 1 << 22  # a trace bigger than this is fed to expat in pieces
_ENCODING = re.compile(rb"""^(?:\xef\xbb\xbf)?<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._\-]+)["']""")

_SIMPLE = frozenset({"string", "date", "int", "float", "boolean", "id"})
_CHUNK = 1 << 16

# what an element is to the reader, by its local name
_OTHER, _ATTRIBUTE, _EVENT, _TRACE = 0, 1, 2, 3


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
    # no namespace processing (it costs a third of the parse): ``xes:trace`` and ``trace`` alike
    return tag.rpartition(":")[2]


class _Fold:
    """The expat callbacks: depth 1 is the log, 2 a trace, 3 a trace attribute or an event,
    4 an event attribute; deeper elements (nested attributes) are passed over."""

    def __init__(self, path: Path, case_id_key: str) -> None:
        self.path = path
        self.case_id_key = case_id_key
        self.kinds: dict[str, int] = {}
        self.depth = 0
        self.trace: dict[str, str] | None = None
        self.events: list[LogEvent] = []
        self.event: dict[str, str] | None = None
        self.n = 0
        self.finished: list[LogCase] = []

    def kind(self, name: str) -> int:
        found = self.kinds.get(name)
        if found is None:
            local = _local(name)
            found = (
                _ATTRIBUTE
                if local in _SIMPLE
                else _EVENT
                if local == "event"
                else _TRACE
                if local == "trace"
                else _OTHER
            )
            self.kinds[name] = found
        return found

    def start(self, name: str, attrs: list[str]) -> None:
        self.depth += 1
        depth = self.depth
        if depth == 4:
            target = self.event
        elif depth == 3:
            target = self.trace
            if target is not None and self.kind(name) == _EVENT:
                self.event = {}
                return
        elif depth == 2:
            if self.kind(name) == _TRACE:
                self.trace, self.events = {}, []
            return
        else:
            if depth == 1 and _local(name) != "log":
                raise UnreadableLog(f"{self.path} is not an XES log (root element <{_local(name)}>)")
            return
        if target is None or self.kind(name) != _ATTRIBUTE:
            return
        # ordered attributes: [name, value, name, value, ...]; XES writers put key before value
        if len(attrs) == 4 and attrs[0] == "key" and attrs[2] == "value":
            target[attrs[1]] = attrs[3]
        else:
            pairs = dict(zip(attrs[::2], attrs[1::2], strict=True))
            if "key" in pairs and "value" in pairs:
                target[pairs["key"]] = pairs["value"]

    def end(self, name: str) -> None:
        depth = self.depth
        self.depth = depth - 1
        if depth == 3:
            if self.event is not None:
                self.events.append(LogEvent(len(self.events), self.event))
                self.event = None
        elif depth == 2 and self.trace is not None:
            case_id = self.trace.get(self.case_id_key) or f"#{self.n}"
            self.finished.append(LogCase(case_id, self.trace, tuple(self.events)))
            self.n += 1
            self.trace = None


def _plain_trace(block: bytes) -> tuple[dict[str, str], tuple[LogEvent, ...]] | None:
    """A ``<trace>…</trace>`` block of the plain shape → its attributes and events; None otherwise."""
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if _PLAIN_TRACE.fullmatch(text) is None:
        return None
    parts = _EVENT_TAG.split(text)  # trace level, event, trace level, event, …, trace level
    attributes = dict(_KEY_VALUE.findall("".join(parts[0::2])))
    events = tuple(LogEvent(i, dict(_KEY_VALUE.findall(body))) for i, body in enumerate(parts[1::2]))
    return attributes, events


def _plain_allowed(head: bytes) -> bool:
    """Whether the plain-trace path may read this file: UTF-8, and no DOCTYPE, comment, CDATA or
    processing instruction after the XML declaration (a ``<trace`` inside one is not a trace)."""
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return False
    declared = _ENCODING.match(head)
    if declared is not None and declared.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        return False
    body = head[head.find(b"?>") + 2 :] if head.lstrip(b"\xef\xbb\xbf").startswith(b"<?xml") else head
    return b"<!" not in body and b"<?" not in body


class _Cutter:
    """Cuts plain traces out of the byte stream and feeds everything else to expat, in order."""

    def __init__(self, fold: _Fold, parser: expat.XMLParserType) -> None:
        self.fold = fold
        self.parser = parser

    def feed(self, buf: bytes) -> bytes:
        """Read what ``buf`` completes; return the bytes to keep until more arrive."""
        fold, parse = self.fold, self.parser.Parse
        pos = 0
        while True:
            start = buf.find(_TRACE_START, pos)
            if start < 0 or start + 6 >= len(buf):
                break
            if buf[start + 6] not in _AFTER_TRACE_NAME:  # <traces…>: not a trace
                parse(buf[pos : start + 6], False)
                pos = start + 6
                continue
            end = buf.find(_TRACE_END, start)
            if end < 0:
                break
            end += len(_TRACE_END)
            if start > pos:
                parse(buf[pos:start], False)
            plain = _plain_trace(buf[start:end]) if fold.depth == 1 else None
            if plain is None:
                parse(buf[start:end], False)
            else:
                attributes, events = plain
                fold.finished.append(
                    LogCase(attributes.get(fold.case_id_key) or f"#{fold.n}", attributes, events)
                )
                fold.n += 1
            pos = end
        rest = buf[pos:]
        if start < 0:  # no trace begins here: keep only what could be the start of one
            cut = rest.rfind(b"<")
            if cut < 0:
                cut = len(rest)
            parse(rest[:cut], False)
            return rest[cut:]
        if len(rest) > _MAX_PENDING:  # one huge trace: expat reads it as it comes
            parse(rest, False)
            return b""
        return rest


def read_xes(path: Path, case_id_key: str = "concept:name") -> Iterator[LogCase]:
    """The cases of an XES file in file order; a trace without ``case_id_key`` gets ``#<n>``."""
    fold = _Fold(path, case_id_key)
    parser = expat.ParserCreate()
    parser.ordered_attributes = True
    parser.StartElementHandler = fold.start
    parser.EndElementHandler = fold.end
    cutter = _Cutter(fold, parser)
    try:
        with open_log(path) as stream:
            pending = stream.read(_CHUNK)
            plain = _plain_allowed(pending)
            while pending:
                if plain:
                    pending = cutter.feed(pending)
                else:
                    parser.Parse(pending, False)
                    pending = b""
                if fold.finished:
                    yield from fold.finished
                    fold.finished.clear()
                chunk = stream.read(_CHUNK)
                if not chunk:
                    break
                if plain and (b"<!" in pending[-1:] + chunk or b"<?" in pending[-1:] + chunk):
                    plain = False
                pending += chunk
            parser.Parse(pending, True)
            yield from fold.finished
    except expat.ExpatError as exc:
        raise UnreadableLog(f"{path}: malformed XML ({_first_error(path) or exc})") from exc
    except (OSError, EOFError) as exc:
        raise UnreadableLog(f"{path}: {exc}") from exc


def _first_error(path: Path) -> expat.ExpatError | None:
    """Expat's own report on the whole file: the line and column the plain-trace path hides."""
    parser = expat.ParserCreate()
    try:
        with open_log(path) as stream:
            parser.ParseFile(stream)
    except expat.ExpatError as exc:
        return exc
    except (OSError, EOFError):
        return None
    return None
