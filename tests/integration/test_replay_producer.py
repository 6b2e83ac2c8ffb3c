"""The replay's batched producer on the real broker: every message arrives once, each key on the
partition every other producer of the topic would choose, in the order sent."""

from __future__ import annotations

from collections import defaultdict

import pytest
from aiokafka.partitioner import DefaultPartitioner

from services.replay.adapters.producer import EventProducer
from shared.kafka import TopicSpec, ensure_topics
from shared.settings import CommonSettings
from tests.conftest import Infra
from tests.integration.streams import read_topic

pytestmark = pytest.mark.integration

PARTITIONS = 3


async def test_batches_keep_each_dossier_on_its_partition_in_order(infra: Infra, unique: str) -> None:
    topic = f"t{unique}.replay-producer.v1"
    await ensure_topics(
        CommonSettings(kafka_bootstrap_servers=infra.bootstrap_servers), [TopicSpec(topic, PARTITIONS)]
    )
    # 40 dossiers, their events interleaved (as a paced replay sends them), batches of 4 KiB so
    # many fill up and leave before the final flush
    sent = [(f"D-{i % 40:02d}".encode(), f'{{"n": {i}}}'.encode()) for i in range(2_000)]
    async with EventProducer(infra.bootstrap_servers, topic, batch_bytes=4_096, in_flight=3) as producer:
        for key, value in sent:
            await producer.send(key, value)
    assert producer.sent == len(sent)

    records = await read_topic(infra.bootstrap_servers, topic, len(sent))
    assert sorted((r.key, r.value) for r in records) == sorted(sent)  # each one, once
    choose = DefaultPartitioner()
    got: dict[bytes, list[bytes]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        assert r.partition == choose(r.key, list(range(PARTITIONS)), list(range(PARTITIONS)))
        got[r.key].append(r.value)
    expected: dict[bytes, list[bytes]] = defaultdict(list)
    for key, value in sent:
        expected[key].append(value)
    assert got == expected  # per dossier, the order sent
