"""Kafka broker factory and topic administration.

The settings here work on Apache Kafka and on the local Kafka-protocol broker alike:
no idempotent or transactional producer (the local broker rejects them), consumers start
at ``earliest``, and topics are created explicitly instead of relying on auto-creation.
Delivery is at-least-once; every consumer is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError
from aiokafka.partitioner import murmur2
from faststream import AckPolicy
from faststream.kafka import KafkaBroker

from shared import metrics
from shared.settings import CommonSettings, Topics

#: publishes (key, value) pairs on a topic and returns once the broker has them
PublishMany = Callable[[str, Sequence[tuple[bytes, bytes]]], Awaitable[None]]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    """A topic we own and create. Without ``retention.ms`` in ``config`` it gets its class's retention
    setting when created (:func:`retention_ms`)."""

    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


def topic_specs(settings: CommonSettings) -> list[TopicSpec]:
    """Every topic of the system, with its DLQ."""
    t: Topics = settings.topics
    n = settings.kafka_partitions
    compacted = {"cleanup.policy": "compact"}
    specs = [
        TopicSpec(t.dossier_events, n),
        TopicSpec(t.compliance, n),
        TopicSpec(t.registry, 1, compacted),
    ]
    specs += [TopicSpec(Topics.dlq(s.name), 1) for s in list(specs)]
    return [with_retention(settings, s) for s in specs]


def retention_ms(settings: CommonSettings, spec: TopicSpec) -> int:
    """The retention of a topic by its class: a dead-letter topic (``*.dlq``), a compacted feed (the
    registry), else an event topic (dossier events, compliance). -1 = forever."""
    if spec.name.endswith(".dlq"):
        hours = settings.kafka_retention_dead_letters_hours
    elif spec.config.get("cleanup.policy") == "compact":
        hours = settings.kafka_retention_registry_hours
    else:
        hours = settings.kafka_retention_events_hours
    return -1 if hours < 0 else hours * 3_600_000


def with_retention(settings: CommonSettings, spec: TopicSpec) -> TopicSpec:
    """``spec`` with its class's ``retention.ms`` unless it names one itself."""
    if "retention.ms" in spec.config:
        return spec
    return TopicSpec(
        spec.name, spec.partitions, {**spec.config, "retention.ms": str(retention_ms(settings, spec))}
    )


async def topic_configs(settings: CommonSettings, names: Sequence[str]) -> dict[str, dict[str, str]]:
    """The configuration the broker reports for each topic (only what was set on it, on the local broker)."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers.split(","))
    await admin.start()
    try:
        answers = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
    finally:
        await admin.close()
    configs: dict[str, dict[str, str]] = {}
    for answer in answers:
        for resource in answer.resources:
            _code, _message, _type, name, entries = resource[:5]
            configs[name] = {entry[0]: entry[1] for entry in entries}
    return configs


def make_broker(settings: CommonSettings, *, client_id: str) -> KafkaBroker:
    """A FastStream broker configured for both Apache Kafka and the local broker."""
    if not settings.kafka_bootstrap_servers:
        raise ValueError(
            "KAFKA_BOOTSTRAP_SERVERS is empty: set it (e.g. 127.0.0.1:9092) or start the system with `tthc up`"
        )
    return KafkaBroker(
        settings.kafka_bootstrap_servers.split(","),
        client_id=client_id,
        # Handlers get the consumer records untouched and decode each message once themselves (a
        # bad one goes to the dead-letter policy, not to a framework error); their annotations
        # name the payload each record carries, for the AsyncAPI document only.
        apply_types=False,
        enable_idempotence=False,
        acks="all",
        linger_ms=5,
        max_batch_size=1_048_576,
        request_timeout_ms=30_000,
        logger=logging.getLogger(f"tthc.{client_id}.kafka"),
        log_level=logging.DEBUG,
    )


def batch_consumer_options(settings: CommonSettings) -> dict[str, Any]:
    """Subscriber options every service's consumers share: batches of raw records, offsets
    committed only after the handler returned (i.e. after the batch is durable; on an error the
    batch is sought back and consumed again), ``earliest`` for new groups."""
    return {
        "batch": True,
        "max_records": settings.kafka_max_batch,
        "batch_timeout_ms": settings.kafka_batch_timeout_ms,
        "fetch_max_wait_ms": settings.kafka_fetch_max_wait_ms,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": settings.kafka_session_timeout_ms,
        "heartbeat_interval_ms": settings.kafka_heartbeat_interval_ms,
        "ack_policy": AckPolicy.NACK_ON_ERROR,
        "decoder": raw_batch_decoder,
    }


async def ensure_topics(settings: CommonSettings, specs: Iterable[TopicSpec] | None = None) -> list[str]:
    """Create missing topics; return the names created. Safe to run repeatedly."""
    wanted = [with_retention(settings, s) for s in (specs if specs is not None else topic_specs(settings))]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers.split(","))
    for attempt in range(50):
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            if attempt == 49:
                raise
            await asyncio.sleep(0.2)
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in wanted if s.name not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [
                        NewTopic(
                            s.name,
                            s.partitions,
                            settings.kafka_replication_factor,
                            topic_configs=s.config,
                        )
                        for s in missing
                    ]
                )
            except TopicAlreadyExistsError:  # another process raced us: fine
                pass
        return [s.name for s in missing]
    finally:
        await admin.close()


def raw_batch_decoder(msg: Any) -> Any:
    """FastStream decoder that hands the handler the consumer records untouched."""
    return msg.raw_message


async def publish_raw_many(broker: KafkaBroker, topic: str, messages: Sequence[tuple[bytes, bytes]]) -> None:
    """Publish key/value byte pairs and return once the broker acknowledged every one."""
    if not messages:
        return
    futures = [
        await broker.publish(
            value, topic, key=key, headers={"content-type": "application/json"}, no_confirm=True
        )
        for key, value in messages
    ]
    await asyncio.gather(*futures)


def new_producer(servers: list[str], client_id: str) -> Any:
    """A plain aiokafka producer with the system's settings (no idempotence, acks=all); call in a running loop."""
    from aiokafka import AIOKafkaProducer

    return AIOKafkaProducer(
        bootstrap_servers=servers,
        client_id=client_id,
        enable_idempotence=False,
        acks="all",
        linger_ms=5,
        max_batch_size=1_048_576,
        request_timeout_ms=30_000,
    )


class WindowedProducer:
    """Produces keyed messages on one topic, acknowledgements awaited in windows (bounded memory).

    ``async with WindowedProducer(servers, topic, client_id=...) as p: await p.send(key, value)``;
    same settings as the rest of the system: no idempotent producer, ``acks=all``.
    """

    def __init__(self, bootstrap_servers: str, topic: str, *, client_id: str, window: int = 5_000) -> None:
        self.topic = topic
        self.window = window
        self._producer = new_producer(bootstrap_servers.split(","), client_id)
        self._pending: list[asyncio.Future[Any]] = []
        self.sent = 0

    async def __aenter__(self) -> WindowedProducer:
        await self._producer.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        try:
            if kind is None:
                await self.flush()
        finally:
            await self._producer.stop()

    async def send(self, key: bytes, value: bytes) -> None:
        """Queue one message; waits for acknowledgements once a window is full."""
        self._pending.append(await self._producer.send(self.topic, value, key=key))
        if len(self._pending) >= self.window:
            await self.flush()

    async def flush(self) -> None:
        """Return once the broker acknowledged everything sent so far."""
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)
            self.sent += len(pending)


class RawPublisher:
    """A plain aiokafka producer for hot paths that publish pre-encoded bytes.

    FastStream's ``publish`` costs tens of microseconds a message in middlewares and encoding;
    processing publishes one assessment per changed dossier, so it sends bytes directly (the
    publishers stay declared on the broker for the AsyncAPI document).
    """

    def __init__(self, settings: CommonSettings, client_id: str) -> None:
        self._servers = settings.kafka_bootstrap_servers.split(",")
        self._client_id = client_id
        self._producer: Any = None

    async def start(self) -> None:
        # created here: aiokafka binds a producer to the running event loop
        self._producer = new_producer(self._servers, self._client_id)
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def publish_many(self, topic: str, messages: Sequence[tuple[bytes, bytes]]) -> None:
        """Send key/value pairs and return once the broker acknowledged every one.

        Messages are put into one record batch per partition (aiokafka's ``create_batch`` and
        ``send_batch``), partitioned by key exactly as the producer's default partitioner does
        (murmur2, :func:`key_partition`): ``send`` per message cost about 20 µs of CPU each, in
        futures and a partitioner written in Python. A call holding a message too large to share a
        batch goes message by message through ``send``, which refuses an oversized one with the
        client's own error, as before.
        """
        if not messages:
            return
        producer = self._producer
        if producer is None:
            raise RuntimeError("RawPublisher.publish_many before start()")
        if any(len(key) + len(value) > BATCHED_MESSAGE_BYTES for key, value in messages):
            futures = [await producer.send(topic, value, key=key, headers=HEADERS) for key, value in messages]
            await asyncio.gather(*futures)
            return
        partitions = sorted(await producer.partitions_for(topic))
        by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
        for key, value in messages:
            by_partition.setdefault(partitions[key_partition(key, len(partitions))], []).append((key, value))
        sent = []
        for partition, items in by_partition.items():
            batch = producer.create_batch()
            for key, value in items:
                if batch.append(key=key, value=value, timestamp=None, headers=HEADERS) is None:
                    sent.append(await producer.send_batch(batch, topic, partition=partition))  # full
                    batch = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None, headers=HEADERS)
            sent.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*sent)


HEADERS = [("content-type", b"application/json")]
#: a message larger than this is sent on its own (``send`` checks it against the request limit)
BATCHED_MESSAGE_BYTES = 256 * 1024
_PARTITION_OF: dict[tuple[bytes, int], int] = {}


def key_partition(key: bytes, partitions: int) -> int:
    """The index, among a topic's ``partitions`` sorted, that Kafka's default partitioner gives
    ``key`` (murmur2, as the Java client and aiokafka compute it), so every producer of a topic
    puts a dossier's messages on the same partition. Memoised: a dossier's code recurs."""
    found = _PARTITION_OF.get((key, partitions))
    if found is None:
        if len(_PARTITION_OF) >= 100_000:
            _PARTITION_OF.clear()
        found = _PARTITION_OF[(key, partitions)] = (murmur2(key) & 0x7FFFFFFF) % partitions
    return found


@dataclass
class ConsumerState:
    """What :class:`ConsumerWatch` knows of one subscriber."""

    lag: int | None = None  # None until the consumer has partitions and has fetched once
    position: int = -1  # committed offsets, summed over the assigned partitions
    progress_at: float = 0.0  # monotonic time of the last advance (or of having no lag)


class ConsumerWatch:
    """Lag and progress of every consumer of a service.

    Exports ``tthc_consumer_lag_messages`` per subscribed topic and tells :meth:`stalled` consumers
    (lag, and committed offsets that have not moved for ``stall_s``) to ``/readyz``. Lag is the
    consumer's own highwater marks minus the committed offsets: the local broker reports wrong end
    offsets, and a batch retried for ever has moved the fetch position but never commits.
    """

    def __init__(
        self,
        service: str,
        subscribers: Callable[[], Iterable[Any]],
        stall_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self._subscribers = subscribers
        self.stall_s = stall_s
        self._clock = clock
        self.states: dict[str, ConsumerState] = {}

    @staticmethod
    def topic_of(subscriber: Any) -> str:
        return ",".join(str(t) for t in getattr(subscriber, "topic_names", ()) or ()) or "?"

    async def measure(self) -> None:
        """Measure every consumer once (call every few seconds)."""
        now = self._clock()
        for subscriber in self._subscribers():
            topic = self.topic_of(subscriber)
            state = self.states.setdefault(topic, ConsumerState(progress_at=now))
            consumer = getattr(subscriber, "consumer", None)
            if consumer is None or not consumer.assignment():
                continue
            lag, position = 0, 0
            known = False
            for tp in consumer.assignment():
                # committed, not the fetch position: a batch fetched but failing again and again
                # has moved the position, not the committed offset
                done = await consumer.committed(tp) or 0
                position += done
                high = consumer.highwater(tp)
                if high is not None:
                    known = True
                    lag += max(0, high - done)
            if not known:
                continue
            if position != state.position or lag == 0:
                state.progress_at = now
            state.lag, state.position = lag, position
            metrics.CONSUMER_LAG.labels(self.service, topic).set(lag)

    def stalled(self) -> dict[str, dict[str, float]]:
        """Consumers with lag whose position has not moved for ``stall_s`` seconds."""
        now = self._clock()
        return {
            topic: {"lag": s.lag, "stalled_for_s": round(now - s.progress_at, 1)}
            for topic, s in self.states.items()
            if s.lag and now - s.progress_at >= self.stall_s
        }

    def report(self) -> dict[str, dict[str, Any]]:
        now = self._clock()
        return {
            topic: {"lag": s.lag, "since_progress_s": round(now - s.progress_at, 1)}
            for topic, s in self.states.items()
        }

    async def run(self, interval_s: float, timeout_s: float = 10.0) -> None:
        """Measure for ever; a measurement that fails or hangs (broker away) is logged and skipped."""
        while True:
            try:
                await asyncio.wait_for(self.measure(), timeout_s)
            except Exception as exc:
                log.warning("measuring consumer lag failed: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(interval_s)
