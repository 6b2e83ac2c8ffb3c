"""The broker factory and topic administration against the real Kafka-protocol broker."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from shared.kafka import TopicSpec, ensure_topics, make_broker, publish_raw_many, topic_specs
from shared.settings import CommonSettings
from tests.conftest import Infra

pytestmark = pytest.mark.integration


def settings_for(infra: Infra) -> CommonSettings:
    return CommonSettings(kafka_bootstrap_servers=infra.bootstrap_servers, kafka_partitions=3)


async def test_every_system_topic_is_created_once(infra: Infra) -> None:
    s = settings_for(infra)
    first = await ensure_topics(s)
    second = await ensure_topics(s)
    names = {t.name for t in topic_specs(s)}
    assert {
        "tthc.dossier-events.v1",
        "tthc.dossier-events.v1.dlq",
        "tthc.compliance.v1",
        "tthc.registry.v1",
    } <= names
    assert set(first) | (names - set(first)) == names
    assert second == []
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.bootstrap_servers)
    await admin.start()
    try:
        assert names <= set(await admin.list_topics())
    finally:
        await admin.close()


async def test_broker_publishes_keyed_messages_that_a_group_consumes_from_earliest(
    infra: Infra, unique: str
) -> None:
    s = settings_for(infra)
    topic = f"test.roundtrip.{unique}"
    await ensure_topics(s, [TopicSpec(topic, 3)])
    broker = make_broker(s, client_id="test")
    await broker.connect()
    try:
        await publish_raw_many(broker, topic, [(f"k{i % 5}".encode(), f"v{i}".encode()) for i in range(50)])
    finally:
        await broker.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=infra.bootstrap_servers,
        group_id=f"g-{unique}",
        auto_offset_reset="earliest",
        session_timeout_ms=3000,
        heartbeat_interval_ms=1000,
    )
    await consumer.start()
    got: list[tuple[bytes, bytes]] = []
    try:
        async with asyncio.timeout(20):
            while len(got) < 50:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    got += [(r.key, r.value) for r in records]
    finally:
        await consumer.stop()
    assert sorted(v for _, v in got) == sorted(f"v{i}".encode() for i in range(50))
    # one key, one partition: per-key order is kept
    by_key: dict[bytes, list[int]] = {}
    for k, v in got:
        by_key.setdefault(k, []).append(int(v[1:]))
    assert all(vals == sorted(vals) for vals in by_key.values())


def test_factory_refuses_an_empty_bootstrap_setting() -> None:
    with pytest.raises(ValueError, match="KAFKA_BOOTSTRAP_SERVERS"):
        make_broker(CommonSettings(kafka_bootstrap_servers=""), client_id="x")
