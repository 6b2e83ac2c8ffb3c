"""A message the broker refuses for its size is not "transient": retrying it would stall a consumer
or a relay for ever (docs/decisions.md, "Oversized messages are dead letters").

Against the session's real broker: the same producer settings as the services (``new_producer``).
"""

from __future__ import annotations

import uuid

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError

from shared.dead_letters import is_transient
from shared.kafka import TopicSpec, ensure_topics, new_producer
from shared.settings import CommonSettings
from tests.conftest import Infra

pytestmark = pytest.mark.integration


async def test_a_message_over_the_size_limit_is_not_retried_but_a_broker_away_is(infra: Infra) -> None:
    topic = f"test.oversized.{uuid.uuid4().hex[:8]}"
    settings = CommonSettings(
        database_url="postgresql://unused/x", kafka_bootstrap_servers=infra.bootstrap_servers
    )
    await ensure_topics(settings, [TopicSpec(topic, 1, {})])
    producer = new_producer(infra.bootstrap_servers.split(","), "test-oversized")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"x" * 1_000, key=b"k")  # a normal message goes through
        with pytest.raises(Exception) as refused:
            await producer.send_and_wait(topic, b"x" * 2_000_000, key=b"k")  # over the 1 MiB limit
    finally:
        await producer.stop()
    assert not is_transient(refused.value), repr(refused.value)
    assert "too large" in str(refused.value).lower() or "larger than" in str(refused.value).lower(), repr(
        refused.value
    )
    # a broker that is away or slow is still worth waiting for
    assert is_transient(KafkaConnectionError("no route")) and is_transient(KafkaTimeoutError())
