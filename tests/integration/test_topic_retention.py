"""Topics are created with their class's retention setting, as the real broker reports it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.kafka import TopicSpec, ensure_topics, topic_configs, topic_specs
from shared.settings import CommonSettings, Topics
from tests.conftest import Infra

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000


async def test_created_topics_carry_the_retention_of_their_class(infra: Infra, unique: str) -> None:
    settings = CommonSettings(
        kafka_bootstrap_servers=infra.bootstrap_servers,
        kafka_partitions=1,
        kafka_retention_events_hours=168,
        kafka_retention_dead_letters_hours=720,
        topics=Topics(
            dossier_events=f"r{unique}.events",
            compliance=f"r{unique}.compliance",
            registry=f"r{unique}.registry",
        ),
    )
    other = TopicSpec(f"r{unique}.replay", 1)  # a topic another command creates (replay, simulator)
    assert await ensure_topics(settings, [*topic_specs(settings), other])
    names = [s.name for s in topic_specs(settings)] + [other.name]
    configs = await topic_configs(settings, names)
    assert {n: configs[n].get("retention.ms") for n in names} == {
        f"r{unique}.events": str(168 * HOUR_MS),
        f"r{unique}.compliance": str(168 * HOUR_MS),
        f"r{unique}.registry": "-1",  # compacted: each entity's last state stays
        f"r{unique}.events.dlq": str(720 * HOUR_MS),
        f"r{unique}.compliance.dlq": str(720 * HOUR_MS),
        f"r{unique}.registry.dlq": str(720 * HOUR_MS),
        f"r{unique}.replay": str(168 * HOUR_MS),
    }
    assert configs[f"r{unique}.registry"]["cleanup.policy"] == "compact"


def test_by_default_every_topic_is_kept_forever_and_zero_hours_is_refused() -> None:
    specs = topic_specs(CommonSettings())
    assert {s.name: s.config["retention.ms"] for s in specs} == {s.name: "-1" for s in specs}
    with pytest.raises(ValidationError, match="0 hours would delete every message at once"):
        CommonSettings(kafka_retention_events_hours=0)
