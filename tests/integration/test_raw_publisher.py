"""RawPublisher.publish_many through the real broker: record batches per partition must put each
message where Kafka's default partitioner would (so a dossier's messages share one partition with
those of every other producer of the topic), keep each key's order, and lose nothing."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.partitioner import DefaultPartitioner

from shared.kafka import RawPublisher, TopicSpec, ensure_topics
from shared.settings import CommonSettings
from tests.conftest import Infra
from tests.integration.streams import read_topic

pytestmark = pytest.mark.integration

PARTITIONS = 6


async def test_messages_land_on_the_default_partitioners_partition_in_order(infra: Infra) -> None:
    topic = f"test.raw.{uuid.uuid4().hex[:8]}"
    settings = CommonSettings(kafka_bootstrap_servers=infra.bootstrap_servers)
    await ensure_topics(settings, [TopicSpec(topic, PARTITIONS)])
    keys = [f"000.00.{k:02d}.H-{k * 7919}".encode() for k in range(40)] + [b""]
    first = [(keys[i % len(keys)], f"a-{i}".encode()) for i in range(300)]
    # big enough that one partition's messages overflow a 1 MiB record batch
    second = [(keys[0], b"b-%d:" % i + b"x" * 100_000) for i in range(25)]
    publisher = RawPublisher(settings, "test-raw")
    await publisher.start()
    try:
        await publisher.publish_many(topic, first)
        await publisher.publish_many(topic, second)
    finally:
        await publisher.stop()

    records = await read_topic(infra.bootstrap_servers, topic, len(first) + len(second))
    assert sorted(r.value for r in records) == sorted(v for _, v in first + second)  # each once
    everyone = list(range(PARTITIONS))
    for r in records:
        assert r.partition == DefaultPartitioner()(r.key, everyone, everyone), r.key
        assert dict(r.headers) == {"content-type": b"application/json"}
    for key in keys:
        got = [r.value for r in sorted(records, key=lambda r: r.offset) if r.key == key]
        assert got == [v for k, v in first + second if k == key]
