"""Where simulated events go: the dossier-events topic, or processing's HTTP ingest."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any, Protocol

from shared.ingest_client import IngestClient
from shared.kafka import WindowedProducer


class Sink(Protocol):
    async def send(self, key: bytes, value: bytes, event: dict[str, Any]) -> None: ...

    async def flush(self) -> None: ...

    async def __aenter__(self) -> Sink: ...

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class KafkaSink:
    """Produces on the dossier-events topic (key = dossier code); acks awaited in windows."""

    def __init__(self, bootstrap_servers: str, topic: str, window: int = 5_000) -> None:
        self._producer = WindowedProducer(bootstrap_servers, topic, client_id="tthc-simulator", window=window)

    async def __aenter__(self) -> KafkaSink:
        await self._producer.__aenter__()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._producer.__aexit__(kind, exc, tb)

    async def send(self, key: bytes, value: bytes, event: dict[str, Any]) -> None:
        await self._producer.send(key, value)

    async def flush(self) -> None:
        await self._producer.flush()


class IngestError(RuntimeError):
    """Processing's ingest rejected simulated events (it should accept every one)."""


class HttpSink:
    """POSTs batches to processing's ``/api/v1/events`` with the typed ingest client (retries, backoff)."""

    def __init__(self, base_url: str, api_key: str, batch: int = 500) -> None:
        self.client = IngestClient(base_url, api_key)
        self.batch = batch
        self._events: list[dict[str, Any]] = []
        self.accepted = 0
        self.duplicates = 0

    async def __aenter__(self) -> HttpSink:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if kind is None:
                await self.flush()
        finally:
            await self.client.aclose()

    async def send(self, key: bytes, value: bytes, event: dict[str, Any]) -> None:
        self._events.append(event)
        if len(self._events) >= self.batch:
            await self.flush()

    async def flush(self) -> None:
        events, self._events = self._events, []
        if events:
            await self._post(events)

    async def _post(self, events: Sequence[dict[str, Any]]) -> None:
        answer = await self.client.send_events(events)
        self.accepted += answer["accepted"]
        self.duplicates += answer["duplicates"]
        if answer["rejected"]:
            bad = [r for r in answer["results"] if r["status"] == "rejected"][:3]
            raise IngestError(f"{answer['rejected']} simulated event(s) rejected by the ingest: {bad}")
