"""A small typed client for emitters: send events (or national-portal snapshots) over HTTP.

    async with IngestClient("http://127.0.0.1:8002", api_key) as client:
        answer = await client.send_events(events)          # one batch, ≤ TTHC_INGEST_MAX_BATCH
        answer = await client.send_portal_updates(updates)

Retries with exponential backoff (jittered) on connection errors and on 429 / 5xx gateway
answers, never sooner than the server's ``Retry-After`` (honoured up to ``retry_after_max``), at most
``max_attempts`` times. Retrying is safe: event ids (and the ids the status-sync adapter
derives) make a re-sent event a duplicate, never a second event. Other answers (401, 413, 422)
are not retried and raise :class:`IngestRefused` with the server's problem description.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import (
    Any,
    Literal,
    NotRequired,  # pydantic needs this one before Python 3.12
)

import httpx
import orjson
from pydantic import BaseModel, TypeAdapter
from typing_extensions import TypedDict

__all__ = [
    "DerivedEvent",
    "EventResult",
    "FieldError",
    "IngestAnswer",
    "IngestClient",
    "IngestRefused",
    "IngestUnavailable",
    "PortalAnswer",
    "UpdateResult",
]


class FieldError(TypedDict):
    field: str
    reason: str


class EventResult(TypedDict):
    index: int
    event_id: str | None
    status: Literal["accepted", "duplicate", "conflict", "rejected"]
    code: int
    errors: list[FieldError]


class IngestAnswer(TypedDict):
    results: list[EventResult]
    accepted: int
    duplicates: int
    conflicts: NotRequired[int]  # an event_id accepted before with other content (409 per item); absent from older servers
    rejected: int


class DerivedEvent(TypedDict):
    event_id: str
    event_type: str
    status: Literal["accepted", "duplicate"]


class UpdateResult(TypedDict):
    index: int
    dossier_code: str | None
    status: Literal["accepted", "duplicate", "rejected"]
    code: int
    errors: list[FieldError]
    events: list[DerivedEvent]


class PortalAnswer(TypedDict):
    results: list[UpdateResult]
    accepted: int
    duplicates: int
    rejected: int


_INGEST_ANSWER = TypeAdapter(IngestAnswer)
_PORTAL_ANSWER = TypeAdapter(PortalAnswer)
_RETRIED_STATUSES = frozenset({429, 502, 503, 504})


class IngestRefused(Exception):
    """The server refused the request (not retried): ``status`` and its problem description."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        super().__init__(f"HTTP {status}: {problem.get('detail') or problem.get('title') or problem}")
        self.status = status
        self.problem = dict(problem)


class IngestUnavailable(Exception):
    """Every attempt failed with a connection error or a 429/5xx answer."""


Item = Mapping[str, Any] | BaseModel


def _plain(item: Item) -> Any:
    return item.model_dump(mode="json") if isinstance(item, BaseModel) else item


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


class IngestClient:
    """Client of processing's ingress (``/api/v1/events`` and ``/api/v1/portal-sync``)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        max_attempts: int = 6,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
        retry_after_max: float = 60.0,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
            timeout=timeout,
            transport=transport,
        )
        self.max_attempts = max_attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.retry_after_max = retry_after_max  # a server's Retry-After is honoured up to this
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.retries = 0  # attempts beyond the first, over the client's life (for tests and logs)

    async def __aenter__(self) -> IngestClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send_events(self, events: Sequence[Item]) -> IngestAnswer:
        """Send one batch of DESIGN §3 events; the answer has one result per event, in order."""
        body = await self._post("/api/v1/events", orjson.dumps([_plain(e) for e in events]))
        return _INGEST_ANSWER.validate_json(body)

    async def send_portal_updates(self, updates: Sequence[Item]) -> PortalAnswer:
        """Send one batch of national-portal dossier snapshots (TrangThaiHoSo 1–10)."""
        body = await self._post("/api/v1/portal-sync", orjson.dumps([_plain(u) for u in updates]))
        return _PORTAL_ANSWER.validate_json(body)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_max, self.backoff_initial * 2**attempt)
        return self._rng.uniform(ceiling / 2, ceiling)

    async def _post(self, path: str, body: bytes) -> bytes:
        last = ""
        for attempt in range(self.max_attempts):
            if attempt:
                self.retries += 1
            try:
                response = await self._http.post(path, content=body)
            except httpx.TransportError as exc:  # refused, reset, timed out: the ids make a retry safe
                last = f"{type(exc).__name__}: {exc}"
                wait = self._backoff(attempt)
            else:
                if 200 <= response.status_code < 300:
                    return response.content
                if response.status_code not in _RETRIED_STATUSES:
                    try:
                        problem = orjson.loads(response.content)
                    except orjson.JSONDecodeError:
                        problem = {"detail": response.text[:500]}
                    raise IngestRefused(response.status_code, problem if isinstance(problem, dict) else {})
                last = f"HTTP {response.status_code}"
                hinted = retry_after_seconds(response.headers.get("retry-after"))
                # never earlier than the server asked; the jitter on top keeps refused emitters
                # from all coming back in the same instant
                wait = self._backoff(attempt) + min(hinted or 0.0, self.retry_after_max)
            if attempt + 1 < self.max_attempts:
                await self._sleep(wait)
        raise IngestUnavailable(f"{path}: no success after {self.max_attempts} attempts; last: {last}")
