"""One case of a log → the dossier events it stands for (DESIGN §3), per the mapping.

Pure: the same case, mapping and numbering state always give the same events, with the
same ids — ``<source>:<case id>#<position>`` for an activity (its place in the case as
written) and ``<source>:<case id>#<attribute>`` for a case-attribute event — so a second
replay of a file is a no-op downstream (event-id dedupe). Events come out as JSON-ready
dicts, ordered by moment; the caller validates each against the contract before sending.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, get_args
from zoneinfo import ZoneInfo

from services.replay.domain.log import BadMoment, LogCase, LogEvent, parse_moment
from services.replay.domain.mapping import EventKind, Mapping
from services.replay.domain.numbering import DossierNumbering

_MAX_EVENT_ID = 128


@dataclass(frozen=True)
class Problem:
    """Something in the log that could not become an event; ``where`` points into the case."""

    case_id: str
    where: str
    reason: str


@dataclass(frozen=True)
class CaseTranslation:
    """The events of one case, what was skipped on purpose, and what could not be read."""

    case_id: str
    dossier_code: str | None
    events: tuple[dict[str, Any], ...]
    skipped: Counter[str] = field(default_factory=Counter)
    problems: tuple[Problem, ...] = ()


# A draft event: (moment, order, id suffix, kind, payload, occurred_at text). A tuple, not a
# dataclass: one is made per log event.
_Draft = tuple[datetime, int, str, EventKind, dict[str, Any], str]

# The ISO 8601 forms ``datetime.isoformat`` gives back from their own text but for the fraction
# (``datetime.isoformat`` of a parsed moment costs several times its parsing on this machine).
_CANONICAL = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.([0-9]{3}|[0-9]{6}))?[+-][0-9]{2}:[0-9]{2}"
)


def iso_text(raw: str, moment: datetime) -> str:
    """``moment.isoformat()``, where ``moment`` was parsed from ``raw`` (stripped): taken from the
    text when it is in a canonical form, computed otherwise."""
    found = _CANONICAL.fullmatch(raw)
    if found is None or raw.endswith("-00:00"):  # -00:00 reads as +00:00
        return moment.isoformat()
    fraction = found.group(1)
    if fraction is None:
        return raw
    if fraction.count("0") == len(fraction):  # no microseconds: isoformat writes no fraction
        return raw[:19] + raw[-6:]
    return raw[:20] + fraction.ljust(6, "0") + raw[-6:]


def _by_moment(drafts: list[_Draft]) -> None:
    """Sort by (moment, order). When every moment has the same offset, the local times as text
    sort like the instants (the fraction, when there is one, follows the seconds), and strings
    compare much faster than aware datetimes."""
    suffix = drafts[0][5][-6:]
    if suffix[0] in "+-" and all(d[5][-6:] == suffix for d in drafts):
        drafts.sort(key=lambda d: (d[5][:-6], d[1]))
    else:
        drafts.sort(key=lambda d: (d[0], d[1]))


def event_id(source: str, case_id: str, suffix: str) -> str:
    """Deterministic event id; hashed only when the readable form would exceed the contract's 128."""
    readable = f"{source}:{case_id}#{suffix}"
    if len(readable) <= _MAX_EVENT_ID:
        return readable
    digest = hashlib.sha256(f"{case_id}#{suffix}".encode()).hexdigest()
    return f"{source}:{digest}"


class Translator:
    """Translates cases one by one under one mapping (holds the dossier numbering)."""

    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping
        self.numbering = DossierNumbering(mapping.dossier.sequence_digits)
        zone = mapping.log.naive_timezone
        self._naive_zone = ZoneInfo(zone) if zone else None
        log = mapping.log
        # what the mapping decides, looked up once a log event instead of recomputed
        self._keep = frozenset(log.keep_transitions) if log.lifecycle and log.keep_transitions else None
        self._types = {kind: f"dossier.{kind}" for kind in get_args(EventKind)}
        default = log.unit_default
        self._unit_default = mapping.units.get(default, default) if default is not None else None
        self._activity, self._timestamp, self._lifecycle = log.activity, log.timestamp, log.lifecycle or ""
        self._unit_key, self._handler = log.unit, log.handler
        self._rules, self._units = mapping.activities, mapping.units

    def translate(self, case: LogCase) -> CaseTranslation:
        """The dossier events of ``case``."""
        m = self.mapping
        attributes = case.attributes
        problems: list[Problem] = []
        skipped: Counter[str] = Counter()

        def problem(where: str, reason: str) -> None:
            problems.append(Problem(case.case_id, where, reason))

        channel = self._channel(case)
        appointed: str | None = None
        if m.case.deadline and (raw := attributes.get(m.case.deadline, "").strip()):
            try:
                appointed = iso_text(raw, parse_moment(raw, self._naive_zone))
            except BadMoment as exc:
                problem(f"attribute {m.case.deadline}", str(exc))

        drafts: list[_Draft] = []
        payloads: dict[tuple[EventKind, str | None], dict[str, Any] | None] = {}
        for event in case.events:
            draft = self._from_activity(case, event, channel, appointed, skipped, problem, payloads)
            if draft is not None:
                drafts.append(draft)
        for order, rule in enumerate(m.case_events, start=len(case.events)):
            raw = attributes.get(rule.timestamp, "").strip()
            if not raw:
                continue  # e.g. a case that has not ended has no end date: no resolution yet
            try:
                moment = parse_moment(raw, self._naive_zone)
            except BadMoment as exc:
                problem(f"attribute {rule.timestamp}", str(exc))
                continue
            payload = self._payload(rule.event, rule.reason, channel, appointed)
            if payload is None:
                problem(f"attribute {rule.timestamp}", self._no_channel(case))
                continue
            drafts.append((moment, order, rule.timestamp, rule.event, payload, iso_text(raw, moment)))

        if not drafts:
            return CaseTranslation(case.case_id, None, (), skipped, tuple(problems))
        _by_moment(drafts)
        code = self.numbering.next_code(m.dossier.agency_code, drafts[0][0].date())
        source, case_id, types = m.log.source, case.case_id, self._types
        envelope = {
            "source": source,
            "dossier_code": code,
            "agency_code": m.dossier.agency_code,
            "procedure_code": m.dossier.procedure_code,
        }
        events = tuple(
            {
                "event_id": event_id(source, case_id, suffix),
                "event_type": types[kind],
                "occurred_at": occurred_at,
                **envelope,
                "payload": payload,
            }
            for _, _, suffix, kind, payload, occurred_at in drafts
        )
        return CaseTranslation(case_id, code, events, skipped, tuple(problems))

    # --- pieces ---------------------------------------------------------------------------------

    def _channel(self, case: LogCase) -> int | None:
        c = self.mapping.case
        if c.channel is not None:
            value = case.attributes.get(c.channel, "").strip()
            if value in c.channel_values:
                return c.channel_values[value]
        return c.default_channel

    def _no_channel(self, case: LogCase) -> str:
        c = self.mapping.case
        value = case.attributes.get(c.channel or "", "")
        return (
            f"channel {value!r} is not in [case] channel_values and there is no default_channel; "
            "add it to the mapping"
        )

    @staticmethod
    def _payload(
        kind: EventKind, reason: str | None, channel: int | None, appointed: str | None
    ) -> dict[str, Any] | None:
        """Payload of a non-step event; None when it needs a channel the case does not give."""
        if kind in ("submitted", "accepted"):
            if channel is None:
                return None
            if kind == "accepted" and appointed is not None:
                return {"channel": channel, "appointed_return_at": appointed}
            return {"channel": channel}
        if kind in ("not_accepted", "supplement_requested", "stopped"):
            return {"reason": reason}
        if kind == "withdrawn" and reason is not None:
            return {"reason": reason}
        return {}

    def _from_activity(
        self,
        case: LogCase,
        event: LogEvent,
        channel: int | None,
        appointed: str | None,
        skipped: Counter[str],
        problem: Callable[[str, str], None],
        payloads: dict[tuple[EventKind, str | None], dict[str, Any] | None],
    ) -> _Draft | None:
        attributes = event.attributes
        activity = attributes.get(self._activity, "").strip()
        if not activity:
            problem(f"event {event.position}", f"no activity (attribute {self._activity!r})")
            return None
        if self._keep is not None:
            transition = attributes.get(self._lifecycle, "").strip()
            if transition not in self._keep:
                skipped[f"{activity} ({transition or 'no transition'})"] += 1
                return None
        rule = self._rules.get(activity)
        if rule is None:
            if self.mapping.log.unmapped_activities == "error":
                problem(
                    f"event {event.position}",
                    f"activity {activity!r} is not in [activities]; map it or ignore it",
                )
            else:
                skipped[f"{activity} (not in the mapping)"] += 1
            return None
        kind = rule.event
        if kind == "ignore":
            skipped[activity] += 1
            return None
        raw = attributes.get(self._timestamp, "").strip()
        if not raw:
            problem(f"event {event.position}", f"no timestamp (attribute {self._timestamp!r})")
            return None
        try:
            moment = parse_moment(raw, self._naive_zone)
        except BadMoment as exc:
            problem(f"event {event.position}", str(exc))
            return None
        position = event.position
        if kind == "step_completed":
            assert rule.step is not None  # the mapping model guarantees it
            unit = self._unit(event)
            if unit is None:
                problem(
                    f"event {position}", f"no unit (attribute {self._unit_key!r}) and no [log] unit_default"
                )
                return None
            payload: dict[str, Any] = {"step_code": rule.step, "from_unit": unit}
            handler = attributes.get(self._handler, "").strip() if self._handler else ""
            if handler:
                payload["handler"] = handler
            return (moment, position, str(position), kind, payload, iso_text(raw, moment))
        key = (kind, rule.reason)
        if key in payloads:
            built = payloads[key]
        else:
            built = payloads[key] = self._payload(kind, rule.reason, channel, appointed)
        if built is None:
            problem(f"event {position}", self._no_channel(case))
            return None
        return (moment, position, str(position), kind, dict(built), iso_text(raw, moment))

    def _unit(self, event: LogEvent) -> str | None:
        raw = event.attributes.get(self._unit_key, "").strip() if self._unit_key else ""
        if raw:
            return self._units.get(raw, raw)
        return self._unit_default
