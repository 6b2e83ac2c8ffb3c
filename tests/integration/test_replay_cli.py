"""``tthc replay`` as an operator runs it: a small log onto the real broker, full speed and scaled."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from services.cli import main
from tests.conftest import Infra
from tests.integration.streams import read_topic
from tests.unit.test_replay_mapping import EXPECTED_C1, EXPECTED_C2, MAPPING, XES

pytestmark = pytest.mark.integration


def run_cli(infra: Infra, topic: str, tmp_path: Path, *args: str) -> str:
    log, mapping = tmp_path / "log.xes", tmp_path / "mapping.toml"
    log.write_text(XES, encoding="utf-8")
    mapping.write_text(MAPPING, encoding="utf-8")
    result = CliRunner().invoke(
        main,
        ["replay", str(log), "--mapping", str(mapping), "--no-registry", "--no-progress", *args],
        env={
            "KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap_servers,
            "TTHC_TOPIC_DOSSIER_EVENTS": topic,
            "TTHC_KAFKA_PARTITIONS": "1",
        },
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_full_speed_publishes_every_event_keyed_by_dossier_and_prints_a_summary(
    infra: Infra, unique: str, tmp_path: Path
) -> None:
    topic = f"t{unique}.replay-cli.v1"
    output = run_cli(infra, topic, tmp_path)
    assert "2 cases → 2 dossiers, 7 events produced" in output
    assert "skipped activities: 3" in output and "Phone call (not in the mapping)" in output
    assert "invalid (not produced): 0" in output
    records = asyncio.run(read_topic(infra.bootstrap_servers, topic, 7))
    assert [json.loads(r.value) for r in records] == EXPECTED_C1 + EXPECTED_C2  # case by case
    assert {r.key.decode() for r in records} == {e["dossier_code"] for e in EXPECTED_C1 + EXPECTED_C2}


def test_scaled_time_publishes_across_cases_in_timestamp_order(
    infra: Infra, unique: str, tmp_path: Path
) -> None:
    topic = f"t{unique}.replay-cli.v1"
    run_cli(infra, topic, tmp_path, "--speed", "5000000")  # the log's 20 days in ~0.35 s
    records = asyncio.run(read_topic(infra.bootstrap_servers, topic, 7))
    moments = [json.loads(r.value)["occurred_at"] for r in records]
    ids = [json.loads(r.value)["event_id"] for r in records]
    assert ids[:3] == ["test-log:c1#0", "test-log:c2#0", "test-log:c1#2"]  # c2 starts before c1's step
    assert [datetime.fromisoformat(m) for m in moments] == sorted(datetime.fromisoformat(m) for m in moments)


def test_a_bad_speed_or_mapping_is_a_usage_error(tmp_path: Path) -> None:
    log, mapping = tmp_path / "log.xes", tmp_path / "mapping.toml"
    log.write_text(XES, encoding="utf-8")
    mapping.write_text("[log]\n", encoding="utf-8")
    env = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"}
    bad_speed = CliRunner().invoke(
        main, ["replay", str(log), "--mapping", str(mapping), "--speed", "fast"], env=env
    )
    assert bad_speed.exit_code == 2 and "use 'full' or a number" in bad_speed.output
    bad_mapping = CliRunner().invoke(main, ["replay", str(log), "--mapping", str(mapping)], env=env)
    assert bad_mapping.exit_code == 1 and "log.source: Field required" in bad_mapping.output
