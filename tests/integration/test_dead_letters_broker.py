"""One dead-letter policy, through the real broker: reporting's consumers put what they cannot use
on ``<topic>.dlq`` with the reason and the original bytes, go on with the rest, and `tthc dlq list`
shows the letters."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from click.testing import CliRunner

from services.cli import main
from services.reporting.bootstrap import create_app
from services.reporting.settings import ReportingSettings
from shared.kafka import TopicSpec, ensure_topics
from shared.settings import Topics
from tests.conftest import Infra, create_database
from tests.integration.streams import read_topic
from tests.integration.test_reporting_service import (
    APRIL,
    COMPLIANCE,
    REGISTRY_FIRST,
    compliance_key,
    produce,
    registry_key,
    wait_for,
)

pytestmark = pytest.mark.integration

NOT_JSON = b"{this is not an assessment"
NO_VERSION = b'{"entity": "procedure", "entity_id": "1.000001", "deleted": false}'


async def test_reporting_dead_letters_invalid_messages_and_goes_on(infra: Infra, unique: str) -> None:
    topics = Topics(
        compliance=f"test.compliance.{unique}",
        registry=f"test.registry.{unique}",
        dossier_events=f"test.events.{unique}",
    )
    settings = ReportingSettings(
        database_url=await create_database(infra),
        kafka_bootstrap_servers=infra.bootstrap_servers,
        topics=topics,
        kafka_session_timeout_ms=3000,
        kafka_heartbeat_interval_ms=1000,
        reporting_gauges_interval_s=3600,
        reporting_require_token=False,
        reporting_group_id=f"dl-{unique}",
        reporting_registry_group_id=f"dl-r-{unique}",
        reporting_events_group_id=f"dl-e-{unique}",
    )  # type: ignore[call-arg]
    await ensure_topics(
        settings,
        [
            TopicSpec(topics.compliance, 3),
            TopicSpec(topics.registry, 1),
            TopicSpec(topics.dossier_events, 1),
            TopicSpec(Topics.dlq(topics.compliance), 1),
            TopicSpec(Topics.dlq(topics.registry), 1),
        ],
    )
    # the bad messages come first: everything after them must still be applied
    await produce(infra.bootstrap_servers, topics.registry, [NO_VERSION], lambda m: b"procedure:1.000001")
    await produce(infra.bootstrap_servers, topics.registry, REGISTRY_FIRST, registry_key)
    await produce(infra.bootstrap_servers, topics.compliance, [NOT_JSON, *COMPLIANCE], compliance_key)

    app = create_app(settings, clock=lambda: APRIL)
    async with app.router.lifespan_context(app):
        await wait_for(app.state.resources.pool, procedures=2)  # every valid assessment and change applied
        # the fixture's COMPLIANCE carries one unreadable message of its own
        compliance_dead = await read_topic(infra.bootstrap_servers, Topics.dlq(topics.compliance), 2)
        registry_dead = await read_topic(infra.bootstrap_servers, Topics.dlq(topics.registry), 1)

    letters = [json.loads(r.value) for r in compliance_dead]
    assert {letter["kind"] for letter in letters} == {"invalid_assessment"}
    by_text = {letter["original"]["text"]: letter for letter in letters}
    assert NOT_JSON.decode() in by_text  # the original bytes, untouched
    first = by_text[NOT_JSON.decode()]
    assert first["source"] == {
        "topic": topics.compliance,
        "partition": first["source"]["partition"],
        "offset": 0,
    }
    assert first["reason"].startswith("not valid JSON")
    [change] = [json.loads(r.value) for r in registry_dead]
    assert change["kind"] == "invalid_registry_change" and "version" in change["reason"]
    assert change["original"]["text"] == NO_VERSION.decode() and change["key"] == "procedure:1.000001"

    listed = await asyncio.to_thread(_dlq_list, infra.bootstrap_servers, Topics.dlq(topics.registry))
    assert listed.exit_code == 0, listed.output
    assert "invalid_registry_change" in listed.output and "version" in listed.output
    assert "1 dead letter(s)" in listed.output


def _dlq_list(servers: str, topic: str) -> Any:
    return CliRunner().invoke(
        main, ["dlq", "list", "--topic", topic], env={"KAFKA_BOOTSTRAP_SERVERS": servers}
    )
