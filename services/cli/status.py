"""``tthc status``: the one command an operator runs first — is everything up, is it keeping up?

Per service: ``/healthz`` and the consumer lag it exports on ``/metrics``
(``tthc_consumer_lag_messages``, "–" when the service does not export it); then the dead letters
on the broker and the dossiers and events stored in the database.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

from shared import runstate
from shared.settings import CommonSettings, ServiceName, Topics

SERVICES: tuple[ServiceName, ...] = ("registry", "processing", "reporting")
LAG_METRIC = "tthc_consumer_lag_messages"
DASH = "–"


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    url: str
    health: str  # "ok", "down", or the failing check
    lag: int | None  # None: not exported


@dataclass(frozen=True)
class Status:
    services: list[ServiceStatus]
    dead_letters: dict[str, int | None]  # topic → count (None: unreadable)
    dossiers: int | None
    events: int | None
    pid: int

    @property
    def healthy(self) -> bool:
        return all(s.health == "ok" for s in self.services)

    def render(self) -> str:
        def row(label: str, health: str, value: int | None, where: str) -> str:
            shown = DASH if value is None else f"{value:,}"
            return f"{label:<13} {health:<14} {shown:>9}  {where}"

        lines = [f"tthc up running (pid {self.pid})" if self.pid else "system from the environment"]
        lines.append(f"{'service':<13} {'health':<14} {'lag':>9}  url")
        lines += [row(s.name, s.health, s.lag, s.url) for s in self.services]
        lines += [row("dead letters", "", n, topic) for topic, n in self.dead_letters.items()]
        lines.append(row("dossiers", "", self.dossiers, "stored"))
        lines.append(row("events", "", self.events, "stored"))
        if not self.healthy:
            lines.append("some services are not healthy: see `tthc up`'s output and their /healthz")
        return "\n".join(lines)


def service_urls(settings: CommonSettings) -> dict[str, str]:
    """Base URLs: the configured ports (a set variable wins), on the host ``tthc up`` recorded."""
    state = runstate.load()
    recorded = state.services if state else {}
    urls: dict[str, str] = {}
    for name in SERVICES:
        port = settings.port_of(name)
        url = recorded.get(name, "")
        urls[name] = url if urlsplit(url).port == port else f"http://127.0.0.1:{port}"
    return urls


def lag_of(metrics_text: str) -> int | None:
    """Sum of ``tthc_consumer_lag_messages`` over its series; None when absent."""
    total: float | None = None
    for family in text_string_to_metric_families(metrics_text):
        if family.name == LAG_METRIC:
            for sample in family.samples:
                total = (total or 0.0) + sample.value
    return None if total is None else int(total)


async def _service(client: httpx.AsyncClient, name: str, url: str) -> ServiceStatus:
    try:
        health = await client.get(f"{url}/healthz")
    except httpx.HTTPError:
        return ServiceStatus(name, url, "down", None)
    state = "ok" if health.status_code == 200 else f"failing ({health.status_code})"
    try:
        metrics = await client.get(f"{url}/metrics")
        lag = lag_of(metrics.text) if metrics.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        lag = None
    return ServiceStatus(name, url, state, lag)


async def _dead_letters(servers: str) -> dict[str, int | None]:
    """Records on each dead-letter topic, read from the beginning by one consumer (no group)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    topics = Topics()
    names = [Topics.dlq(t) for t in (topics.dossier_events, topics.compliance, topics.registry)]
    counts: dict[str, int | None] = dict.fromkeys(names, 0)  # a topic never created holds none
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
    try:
        await consumer.start()
        await consumer._client.force_metadata_update()
        assigned = [
            TopicPartition(t, p) for t in names for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        if assigned:
            consumer.assign(assigned)
            await consumer.seek_to_beginning()
            while batch := await consumer.getmany(timeout_ms=300, max_records=10_000):
                for tp, records in batch.items():
                    counts[tp.topic] = (counts[tp.topic] or 0) + len(records)
    except Exception:  # a status report shows what it cannot read ("–"), it does not fail
        return dict.fromkeys(names, None)
    finally:
        await consumer.stop()
    return counts


async def _stored(dsn: str) -> tuple[int | None, int | None]:
    import asyncpg

    try:
        conn = await asyncpg.connect(dsn, timeout=5)
    except Exception:  # reported as "–"
        return None, None
    try:
        dossiers = await conn.fetchval("SELECT count(*) FROM processing.dossiers")
        events = await conn.fetchval("SELECT count(*) FROM processing.events")
        return int(dossiers), int(events)
    except Exception:  # not migrated yet
        return None, None
    finally:
        await conn.close()


async def collect(settings: CommonSettings) -> Status:
    """The status of the system ``settings`` (and ``run.json``) point at."""
    state = runstate.load()

    async def nothing() -> Any:
        return None

    async with httpx.AsyncClient(timeout=5) as client:
        services, dead, stored = await asyncio.gather(
            asyncio.gather(*(_service(client, n, u) for n, u in service_urls(settings).items())),
            _dead_letters(settings.kafka_bootstrap_servers)
            if settings.kafka_bootstrap_servers
            else nothing(),
            _stored(settings.database_url) if settings.database_url else nothing(),
        )
    dossiers, events = stored or (None, None)
    return Status(list(services), dead or {}, dossiers, events, state.pid if state else 0)
