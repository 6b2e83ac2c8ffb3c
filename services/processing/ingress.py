"""Service layer of the HTTP ingress: validate, authorise, dedupe, record durably, hand to the relay.

Used by the two HTTP entrypoints (``POST /api/v1/events`` and ``POST /api/v1/portal-sync``).
Order of work for a batch: validate each item (size, NUL, strict types, date window); refuse the
items the emitter's key may not write (the agency, the dossier code's agency part, or a change of
the dossier's recorded agency: 403); answer ids seen before as ``duplicate`` (same content) or
``conflict`` (other content: 409); record the rest in one PostgreSQL transaction — the ids with a
content fingerprint, each new dossier's agency, and the events' bytes in the outbox — and only then
answer ``accepted``. The :class:`IngressRelay` publishes the outbox and publishes again what a
broker restart lost, until processing has stored each event: nothing answered 202 is lost with the
broker. PostgreSQL away → :class:`DatabaseUnavailable` (503); more than
``ingest_outbox_max_unpublished`` events waiting for the broker → :class:`BrokerUnavailable` (503).
docs/ingress.md describes the answers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import orjson
from pydantic import BaseModel, ValidationError

from services.processing.adapters import emitter_keys, ingress_outbox, ingress_store
from services.processing.adapters.emitter_keys import Emitter
from services.processing.domain.portal_mapping import (
    PortalMappingError,
    PortalState,
    PortalUpdate,
    map_update,
    parse_update,
)
from services.processing.ingress_relay import IngressRelay
from services.processing.settings import ProcessingSettings
from shared import metrics
from shared.contracts.events import (
    DossierEvent,
    EventType,
    check_message_bounds,
    contract_limits,
    validate_event_json,
)
from shared.db import Conn
from shared.kafka import PublishMany

Answer = dict[str, Any]

_EVENT_TYPES = {t.value for t in EventType}
_MAX_ERRORS = 20


class BrokerUnavailable(RuntimeError):
    """Too many accepted events wait for the broker: nothing was recorded, the whole request may be retried."""


class DatabaseUnavailable(RuntimeError):
    """PostgreSQL did not answer: the whole request may be retried (event ids make it safe)."""


#: What a lost or refused PostgreSQL connection raises (TimeoutError and ConnectionError are OSErrors).
DATABASE_DOWN: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.exceptions.OperatorInterventionError,
)


@dataclass(frozen=True)
class _Candidate:
    index: int  # of the item (event or portal update) that produced it
    event: DossierEvent
    value: bytes
    fingerprint: str = ""


def code_agency(dossier_code: str) -> str:
    """The agency part of a dossier code (``<agency>-YYMMDD-NNNN``)."""
    return dossier_code.rsplit("-", 2)[0]


def scope_error(
    emitter: Emitter,
    agency: str,
    dossier_code: str,
    recorded: str | None,
    fields: tuple[str, str] = ("agency_code", "dossier_code"),
) -> tuple[dict[str, str], str] | None:
    """Why ``emitter`` may not write this event (the field error and the metric reason), or None.

    A key writes only dossiers whose code's agency part and whose agency are among its
    agencies, and no event may move a dossier to another agency than the one it has.
    """
    agency_field, code_field = fields
    if not emitter.may_report_for(agency):
        return _agency_error(emitter, agency, agency_field), "agency_forbidden"
    part = code_agency(dossier_code)
    if not emitter.may_report_for(part):
        bound = ", ".join(sorted(emitter.agencies))
        return {
            "field": code_field,
            "reason": f"the dossier code {dossier_code!r} belongs to agency {part!r}, which the key of "
            f"emitter {emitter.name!r} may not report for (it is bound to: {bound})",
        }, "agency_forbidden"
    if recorded is not None and recorded != agency:
        return {
            "field": agency_field,
            "reason": f"dossier {dossier_code!r} belongs to agency {recorded!r}; an event cannot move it "
            f"to {agency!r}: send the dossier's own agency",
        }, "agency_change"
    return None


def dates_outside_window(item: BaseModel, path: str = "") -> list[dict[str, str]]:
    """Field errors for every date of a portal update outside the contract's date window."""
    limits = contract_limits()
    latest = limits.latest(date.today())
    errors: list[dict[str, str]] = []
    for name, value in item:
        where = f"{path}.{name}" if path else name
        if isinstance(value, datetime) and not limits.earliest <= value.date() <= latest:
            errors.append(
                {
                    "field": where,
                    "reason": f"must lie between {limits.earliest.isoformat()} and {latest.isoformat()} "
                    f"(got {value.date().isoformat()}); check the year",
                }
            )
        elif isinstance(value, list):
            for i, row in enumerate(value):
                if isinstance(row, BaseModel):
                    errors += dates_outside_window(row, f"{where}.{i}")
    return errors


def event_errors(exc: ValidationError) -> tuple[list[dict[str, str]], str]:
    """Per-field errors of an invalid event, and the reason label for the metrics."""
    errors: list[dict[str, str]] = []
    reason = "invalid_event"
    for e in exc.errors(include_url=False)[:_MAX_ERRORS]:
        loc = list(e.get("loc", ()))
        if loc and loc[0] in _EVENT_TYPES:
            loc = loc[1:]  # the discriminated union puts the event type first
        if e["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = ["event_type"]
            reason = "unknown_event_type" if e["type"] == "union_tag_invalid" else reason
        errors.append({"field": ".".join(str(p) for p in loc) or "(event)", "reason": e["msg"]})
    return errors, reason


def model_errors(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in e.get("loc", ())) or "(update)", "reason": e["msg"]}
        for e in exc.errors(include_url=False)[:_MAX_ERRORS]
    ]


def nul_field(item: Any, path: str = "") -> str | None:
    """The dotted path of the first key or string holding a NUL character, if any.

    JSON allows ``\\u0000``, the event models do too, but PostgreSQL text and jsonb cannot hold
    it: such an event would be accepted here and then fail in the consumer, so it is refused.
    """
    if isinstance(item, str):
        return (path or "(event)") if "\x00" in item else None
    if isinstance(item, dict):
        for key, value in item.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return where
            found = nul_field(value, where)
            if found is not None:
                return found
    elif isinstance(item, list):
        for i, value in enumerate(item):
            found = nul_field(value, f"{path}.{i}" if path else str(i))
            if found is not None:
                return found
    return None


NUL_REASON = "must not contain the NUL character (\\u0000): remove it"


def _rejected(index: int, event_id: Any, code: int, errors: list[dict[str, str]]) -> Answer:
    return {
        "index": index,
        "event_id": event_id if isinstance(event_id, str) else None,
        "status": "rejected",
        "code": code,
        "errors": errors,
    }


def _agency_error(emitter: Emitter, agency: str, field: str) -> dict[str, str]:
    bound = ", ".join(sorted(emitter.agencies))
    return {
        "field": field,
        "reason": f"the key of emitter {emitter.name!r} may not report for agency {agency!r} "
        f"(it is bound to: {bound}); ask an admin to bind it with `tthc keys create`",
    }




class IngestGateway:
    """The ingress of one processing process."""

    def __init__(
        self,
        settings: ProcessingSettings,
        pool: Callable[[], asyncpg.Pool],
        publish_many: PublishMany,
    ) -> None:
        self.settings = settings
        self._pool = pool
        self._publish_many = publish_many
        self._slots = asyncio.Semaphore(settings.ingest_max_concurrent)
        self._tz = ZoneInfo(settings.timezone)
        self.topic = settings.topics.dossier_events
        self.relay = IngressRelay(
            pool,
            publish_many,
            self.topic,
            sweep_s=settings.ingest_outbox_sweep_s,
            republish_after_s=settings.ingest_outbox_republish_after_s,
            publish_timeout_s=settings.ingest_publish_timeout_s,
            epoch_window_s=settings.broker_epoch_window_s,
        )

    @contextlib.asynccontextmanager
    async def admitted(self) -> AsyncIterator[bool]:
        """True with a slot held, or False at once when every slot is taken (→ 429)."""
        if self._slots.locked():
            yield False
            return
        async with self._slots:
            yield True

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        """A pooled connection; :class:`DatabaseUnavailable` when PostgreSQL does not answer."""
        try:
            async with self._pool().acquire(timeout=self.settings.ingest_db_timeout_s) as conn:
                yield conn
        except DATABASE_DOWN as exc:
            raise DatabaseUnavailable(f"PostgreSQL did not answer: {type(exc).__name__}") from exc

    async def emitter_of(self, key: str) -> Emitter | None:
        async with self.connection() as conn:
            return await emitter_keys.emitter_of(conn, key)

    async def ingest(self, emitter: Emitter, items: Sequence[Any]) -> Answer:
        """Answer each event of a batch; the accepted ones are durable (in the outbox) when this returns."""
        results: list[Answer | None] = [None] * len(items)
        valid: list[_Candidate] = []
        for i, item in enumerate(items):
            value = orjson.dumps(item)  # these exact bytes are validated and published
            event_id = item.get("event_id") if isinstance(item, dict) else None
            if b"\\u0000" in value and (where := nul_field(item)) is not None:
                results[i] = _rejected(i, None, 422, [{"field": where, "reason": NUL_REASON}])
                self._count("events", emitter, "rejected", "invalid_event")
                continue
            try:
                check_message_bounds(value)
                event = validate_event_json(value)
            except ValidationError as exc:
                errors, reason = event_errors(exc)
                results[i] = _rejected(i, event_id, 422, errors)
                self._count("events", emitter, "rejected", reason)
                continue
            valid.append(_Candidate(i, event, value, ingress_store.content_fingerprint(event)))

        recorded: dict[str, str] = {}
        if valid:
            async with self.connection() as conn:
                recorded = await ingress_store.recorded_agencies(conn, [c.event.dossier_code for c in valid])
        candidates: list[_Candidate] = []
        first: dict[str, _Candidate] = {}
        repeats: list[tuple[_Candidate, _Candidate]] = []
        for c in valid:
            event = c.event
            refusal = scope_error(
                emitter, event.agency_code, event.dossier_code, recorded.get(event.dossier_code)
            )
            if refusal is not None:
                error, reason = refusal
                results[c.index] = _rejected(c.index, event.event_id, 403, [error])
                self._count("events", emitter, "rejected", reason)
                continue
            recorded.setdefault(event.dossier_code, event.agency_code)  # later events of the batch too
            if (earlier := first.get(event.event_id)) is not None:
                repeats.append((c, earlier))
                continue
            first[event.event_id] = c
            candidates.append(c)

        outcome = await self._accept_new(emitter, candidates)
        for c in candidates:
            status = outcome[c.event.event_id]
            if status == "accepted":
                results[c.index] = {
                    "index": c.index,
                    "event_id": c.event.event_id,
                    "status": "accepted",
                    "code": 202,
                    "errors": [],
                }
                self._count("events", emitter, "accepted", "")
            elif status == "conflict":
                why = "an event with this event_id and other content was accepted before"
                results[c.index] = self._conflict(c.index, c.event.event_id, why)
                self._count("events", emitter, "conflict", "known")
            else:
                results[c.index] = self._duplicate(c.index, c.event.event_id, "event_id already accepted")
                self._count("events", emitter, "duplicate", "known")
        # a repeat within the batch: a conflict if its content differs from the first, else the
        # first's answer (a repeat of a conflicting event conflicts too)
        for c, earlier in repeats:
            event_id = c.event.event_id
            if earlier.fingerprint != c.fingerprint:
                why = f"index {earlier.index} has the same event_id with other content"
                results[c.index] = self._conflict(c.index, event_id, why)
                self._count("events", emitter, "conflict", "in_batch")
            elif outcome[event_id] == "conflict":
                why = "an event with this event_id and other content was accepted before"
                results[c.index] = self._conflict(c.index, event_id, why)
                self._count("events", emitter, "conflict", "known")
            else:
                results[c.index] = self._duplicate(
                    c.index, event_id, f"same event_id as index {earlier.index}"
                )
                self._count("events", emitter, "duplicate", "in_batch")
        return _summary([r for r in results if r is not None])

    async def portal_sync(self, emitter: Emitter, items: Sequence[Any]) -> Answer:
        """Map each portal snapshot to events, publish the new ones, remember the dossiers' state."""
        results: list[Answer | None] = [None] * len(items)
        updates: list[tuple[int, PortalUpdate]] = []
        for i, item in enumerate(items):
            code = item.get("MaHoSo") if isinstance(item, dict) else None
            if (where := nul_field(item)) is not None:
                error = {"field": where, "reason": NUL_REASON}
                results[i] = self._update_rejected(i, None, 422, [error], emitter, "invalid_update")
                continue
            try:
                update = parse_update(item, self._tz)
            except ValidationError as exc:
                results[i] = self._update_rejected(i, code, 422, model_errors(exc), emitter, "invalid_update")
                continue
            if outside := dates_outside_window(update):
                results[i] = self._update_rejected(i, update.MaHoSo, 422, outside, emitter, "invalid_update")
                continue
            updates.append((i, update))

        source = f"portal-sync:{emitter.name}"[:100]
        mapped: list[tuple[int, PortalUpdate, tuple[DossierEvent, ...]]] = []
        async with self.connection() as conn, conn.transaction():
            codes = [u.MaHoSo for _, u in updates]
            await ingress_store.lock_portal_dossiers(conn, codes)
            recorded = await ingress_store.recorded_agencies(conn, codes)
            states: dict[str, PortalState] = await ingress_store.load_portal_states(conn, codes)
            changed: dict[str, PortalState] = {}
            for i, update in updates:
                refusal = scope_error(
                    emitter,
                    update.agency_code,
                    update.MaHoSo,
                    recorded.get(update.MaHoSo),
                    ("MaCoQuan", "MaHoSo"),
                )
                if refusal is not None:
                    error, reason = refusal
                    results[i] = self._update_rejected(i, update.MaHoSo, 403, [error], emitter, reason)
                    continue
                recorded.setdefault(update.MaHoSo, update.agency_code)
                try:
                    result = map_update(update, states.get(update.MaHoSo), source=source)
                except PortalMappingError as exc:
                    errors = [{"field": f, "reason": r} for f, r in exc.errors]
                    results[i] = self._update_rejected(
                        i, update.MaHoSo, 422, errors, emitter, "incomplete_update"
                    )
                    continue
                except ValidationError as exc:  # a derived event the contract refuses
                    errors = [{**e, "field": f"(derived event).{e['field']}"} for e in event_errors(exc)[0]]
                    results[i] = self._update_rejected(
                        i, update.MaHoSo, 422, errors, emitter, "invalid_update"
                    )
                    continue
                states[update.MaHoSo] = changed[update.MaHoSo] = result.state
                mapped.append((i, update, result.events))
            seen: set[str] = set()
            candidates: list[_Candidate] = []
            for i, _, events in mapped:
                for e in events:
                    if e.event_id not in seen:
                        seen.add(e.event_id)
                        candidates.append(_Candidate(i, e, e.model_dump_json().encode()))
            outcome = await self._accept_new(emitter, candidates, conn)
            await ingress_store.save_portal_states(conn, changed)
        self.relay.poke()  # committed now

        firsts = {(c.index, c.event.event_id) for c in candidates}
        for i, update, events in mapped:
            answered = [
                {
                    "event_id": e.event_id,
                    "event_type": e.event_type.value,
                    "status": "accepted"
                    if outcome.get(e.event_id) == "accepted" and (i, e.event_id) in firsts
                    else "duplicate",
                }
                for e in events
            ]
            new = sum(a["status"] == "accepted" for a in answered)
            for a in answered:
                self._count("portal-sync", emitter, str(a["status"]), "")
            status = "accepted" if new else "duplicate"
            metrics.INGEST_PORTAL_UPDATES.labels(emitter.name, status, "").inc()
            results[i] = {
                "index": i,
                "dossier_code": update.MaHoSo,
                "status": status,
                "code": 202 if new else 200,
                "errors": [],
                "events": answered,
            }
        return _summary([r for r in results if r is not None])

    async def _accept_new(
        self, emitter: Emitter, candidates: Sequence[_Candidate], conn: Conn | None = None
    ) -> dict[str, str]:
        """Record the candidates not seen before, with their bytes in the outbox; answer each id
        ``accepted`` (durable now), ``duplicate`` (seen before with the same content, or content not
        known) or ``conflict`` (seen before with other content; only candidates with a fingerprint).

        With ``conn`` (a transaction of the caller) the caller pokes the relay once it has committed.
        """
        if not candidates:
            return {}
        ids = [c.event.event_id for c in candidates]
        if conn is None:
            async with self.connection() as own:
                known = await ingress_store.known_event_ids(own, ids)
        else:
            known = await ingress_store.known_event_ids(conn, ids)
        outcome: dict[str, str] = {}
        for c in candidates:
            if c.event.event_id in known:
                before = known[c.event.event_id]
                differs = bool(c.fingerprint) and before is not None and before != c.fingerprint
                outcome[c.event.event_id] = "conflict" if differs else "duplicate"
        new = [c for c in candidates if c.event.event_id not in known]
        if not new:
            return outcome
        waiting = self.relay.unpublished
        if waiting >= self.settings.ingest_outbox_max_unpublished:
            raise BrokerUnavailable(
                f"{waiting} accepted events are still waiting for the broker "
                f"(more than TTHC_INGEST_OUTBOX_MAX_UNPUBLISHED={self.settings.ingest_outbox_max_unpublished})"
            )
        if conn is None:
            async with self.connection() as own, own.transaction():
                taken = await self._record(own, emitter, new)
            self.relay.poke()
        else:
            taken = await self._record(conn, emitter, new)
        # an id not taken was recorded by a concurrent request in the meantime
        outcome.update(
            (c.event.event_id, "accepted" if c.event.event_id in taken else "duplicate") for c in new
        )
        return outcome

    @staticmethod
    async def _record(conn: Conn, emitter: Emitter, new: Sequence[_Candidate]) -> set[str]:
        """The ids, fingerprints, dossiers' agencies and outbox rows of ``new``, in the caller's
        transaction; returns the ids recorded now."""
        fingerprints = {
            c.event.event_id: c.fingerprint or ingress_store.content_fingerprint(c.event) for c in new
        }
        taken = await ingress_store.record_ingested(conn, [c.event for c in new], emitter.name, fingerprints)
        await ingress_outbox.add(
            conn,
            [(c.event.event_id, c.event.dossier_code, c.value) for c in new if c.event.event_id in taken],
        )
        return taken

    @staticmethod
    def _conflict(index: int, event_id: str, why: str) -> Answer:
        return {
            "index": index,
            "event_id": event_id,
            "status": "conflict",
            "code": 409,
            "errors": [
                {
                    "field": "event_id",
                    "reason": f"{why}: an event_id names one event; give a new event a new id",
                }
            ],
        }

    @staticmethod
    def _duplicate(index: int, event_id: str, why: str) -> Answer:
        return {
            "index": index,
            "event_id": event_id,
            "status": "duplicate",
            "code": 200,
            "errors": [{"field": "event_id", "reason": why}],
        }

    @staticmethod
    def _count(route: str, emitter: Emitter, result: str, reason: str) -> None:
        metrics.INGEST_EVENTS.labels(route, emitter.name, result, reason).inc()

    @staticmethod
    def _update_rejected(
        index: int, dossier_code: Any, code: int, errors: list[dict[str, str]], emitter: Emitter, reason: str
    ) -> Answer:
        metrics.INGEST_PORTAL_UPDATES.labels(emitter.name, "rejected", reason).inc()
        return {
            "index": index,
            "dossier_code": dossier_code if isinstance(dossier_code, str) else None,
            "status": "rejected",
            "code": code,
            "errors": errors,
            "events": [],
        }


def _summary(results: list[Answer]) -> Answer:
    counts = {"accepted": 0, "duplicate": 0, "conflict": 0, "rejected": 0}
    for r in results:
        counts[r["status"]] += 1
    return {
        "results": results,
        "accepted": counts["accepted"],
        "duplicates": counts["duplicate"],
        "conflicts": counts["conflict"],
        "rejected": counts["rejected"],
    }
