"""Publishes replayed events on the dossier-events topic (key = dossier code), in batches.

``AIOKafkaProducer.send`` costs a future and an accumulator look-up per message; a replay
fills record batches itself (``create_batch``, one open batch per partition) and hands each
full batch over with ``send_batch``: on this 2-core machine a third of the CPU a message
(docs/decisions.md, "Replay producer"). Partitions are chosen by aiokafka's default partitioner
(murmur2 of the key), as every other producer of the topic does, so a dossier's events keep one
partition and their order. Same settings as the rest of the system: no idempotent producer
(the local broker refuses it), ``acks=all``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

BATCH_BYTES = 1_048_576  # the broker's default message.max.bytes: one request per full batch
IN_FLIGHT = 16  # batches handed over before their acknowledgements are awaited (bounded memory)


class EventProducer:
    """``async with EventProducer(servers, topic) as p: await p.send(key, value)``; ``flush`` returns
    once the broker acknowledged everything sent so far."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        *,
        batch_bytes: int = BATCH_BYTES,
        compression: str | None = None,
        in_flight: int = IN_FLIGHT,
    ) -> None:
        self.topic = topic
        self.in_flight = in_flight
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers.split(","),
            client_id="tthc-replay",
            enable_idempotence=False,
            acks="all",
            linger_ms=20,
            max_batch_size=batch_bytes,
            compression_type=compression,
            request_timeout_ms=30_000,
        )
        self._partitioner = DefaultPartitioner()
        self._partitions: list[int] = []
        # aiokafka's murmur2 is pure Python (~20 µs); a case's events come one after another
        self._last: tuple[bytes, int] = (b"", -1)
        self._open: dict[int, Any] = {}  # partition → the batch being filled
        self._pending: list[asyncio.Future[Any]] = []
        self.sent = 0
        self._unacknowledged = 0

    async def __aenter__(self) -> EventProducer:
        await self._producer.start()
        self._partitions = sorted(await self._producer.partitions_for(self.topic))
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        try:
            if kind is None:
                await self.flush()
        finally:
            await self._producer.stop()

    async def send(self, key: bytes, value: bytes) -> None:
        """Add one message to its partition's batch; a full batch goes to the broker."""
        if not self.append(key, value):
            partition = self._last[1]
            await self._hand_over(partition, self._open.pop(partition))
            if not self.append(key, value):
                raise ValueError(f"a message of {len(value):,} bytes does not fit a batch of the producer")

    def append(self, key: bytes, value: bytes) -> bool:
        """Add one message to its partition's open batch without awaiting anything; False (and
        nothing added) when that batch is full: then ``send`` it, which hands the batch over."""
        last_key, partition = self._last
        if key != last_key or partition < 0:
            partition = self._partitioner(key, self._partitions, self._partitions)
            self._last = (key, partition)
        batch = self._open.get(partition)
        if batch is None:
            batch = self._open[partition] = self._producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None) is None:
            return False
        self._unacknowledged += 1
        return True

    async def _hand_over(self, partition: int, batch: Any) -> None:
        self._pending.append(await self._producer.send_batch(batch, self.topic, partition=partition))
        if len(self._pending) >= self.in_flight:
            await self._settle()

    async def _settle(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)

    async def flush(self) -> None:
        """Send the open batches and return once the broker acknowledged everything sent so far."""
        open_batches, self._open = self._open, {}
        for partition, batch in open_batches.items():
            if batch.record_count():
                await self._hand_over(partition, batch)
        await self._settle()
        self.sent += self._unacknowledged
        self._unacknowledged = 0
