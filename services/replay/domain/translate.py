"""One case of a log → the dossier events it stands for (DESIGN §3), per the mapping.

Pure: the same case, mapping and numbering state always give the same events, with the
same ids — ``<source>:<case id>#<position>`` for an activity (its place in the case as
written) and ``<source>:<case id>#<attribute>`` for a case-attribute event — so a second
replay of a file is a no-op downstream (event-id dedupe). Events come out as JSON-ready
dicts, ordered by moment; the caller validates each against the contract before sending.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
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


@dataclass(frozen=True)
class _Draft:
    kind: EventKind
    moment: datetime
    suffix: str
    order: int
    payload: dict[str, Any]


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

    def translate(self, case: LogCase) -> CaseTranslation:
        """The dossier events of ``case``."""
        m = self.mapping
        problems: list[Problem] = []
        skipped: Counter[str] = Counter()

        def problem(where: str, reason: str) -> None:
            problems.append(Problem(case.case_id, where, reason))

        channel = self._channel(case)
        appointed: str | None = None
        if m.case.deadline and (raw := case.attributes.get(m.case.deadline, "").strip()):
            try:
                appointed = parse_moment(raw, self._naive_zone).isoformat()
            except BadMoment as exc:
                problem(f"attribute {m.case.deadline}", str(exc))

        drafts: list[_Draft] = []
        for event in case.events:
            draft = self._from_activity(case, event, channel, appointed, skipped, problem)
            if draft is not None:
                drafts.append(draft)
        for order, rule in enumerate(m.case_events, start=len(case.events)):
            raw = case.attributes.get(rule.timestamp, "").strip()
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
            drafts.append(_Draft(rule.event, moment, rule.timestamp, order, payload))

        if not drafts:
            return CaseTranslation(case.case_id, None, (), skipped, tuple(problems))
        drafts.sort(key=lambda d: (d.moment, d.order))
        first = drafts[0].moment
        code = self.numbering.next_code(m.dossier.agency_code, first.date())
        envelope = {
            "source": m.log.source,
            "dossier_code": code,
            "agency_code": m.dossier.agency_code,
            "procedure_code": m.dossier.procedure_code,
        }
        events = tuple(
            {
                "event_id": event_id(m.log.source, case.case_id, d.suffix),
                "event_type": f"dossier.{d.kind}",
                "occurred_at": d.moment.isoformat(),
                **envelope,
                "payload": d.payload,
            }
            for d in drafts
        )
        return CaseTranslation(case.case_id, code, events, skipped, tuple(problems))

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
    ) -> _Draft | None:
        log = self.mapping.log
        where = f"event {event.position}"
        activity = event.attributes.get(log.activity, "").strip()
        if not activity:
            problem(where, f"no activity (attribute {log.activity!r})")
            return None
        if log.lifecycle and log.keep_transitions:
            transition = event.attributes.get(log.lifecycle, "").strip()
            if transition not in log.keep_transitions:
                skipped[f"{activity} ({transition or 'no transition'})"] += 1
                return None
        rule = self.mapping.activities.get(activity)
        if rule is None:
            if log.unmapped_activities == "error":
                problem(where, f"activity {activity!r} is not in [activities]; map it or ignore it")
            else:
                skipped[f"{activity} (not in the mapping)"] += 1
            return None
        if rule.event == "ignore":
            skipped[activity] += 1
            return None
        raw = event.attributes.get(log.timestamp, "").strip()
        if not raw:
            problem(where, f"no timestamp (attribute {log.timestamp!r})")
            return None
        try:
            moment = parse_moment(raw, self._naive_zone)
        except BadMoment as exc:
            problem(where, str(exc))
            return None
        if rule.event == "step_completed":
            assert rule.step is not None  # the mapping model guarantees it
            unit = self._unit(event)
            if unit is None:
                problem(where, f"no unit (attribute {log.unit!r}) and no [log] unit_default")
                return None
            payload: dict[str, Any] = {"step_code": rule.step, "from_unit": unit}
            handler = event.attributes.get(log.handler, "").strip() if log.handler else ""
            if handler:
                payload["handler"] = handler
            return _Draft(rule.event, moment, str(event.position), event.position, payload)
        built = self._payload(rule.event, rule.reason, channel, appointed)
        if built is None:
            problem(where, self._no_channel(case))
            return None
        return _Draft(rule.event, moment, str(event.position), event.position, built)

    def _unit(self, event: LogEvent) -> str | None:
        log = self.mapping.log
        raw = event.attributes.get(log.unit, "").strip() if log.unit else ""
        if raw:
            return self.mapping.units.get(raw, raw)
        if log.unit_default is not None:
            return self.mapping.units.get(log.unit_default, log.unit_default)
        return None
