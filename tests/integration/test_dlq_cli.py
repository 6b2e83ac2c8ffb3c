"""`tthc dlq list` and `tthc dlq redrive` against the real broker and a running processing service."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from services.cli import main
from shared.dead_letters import RawMessage, dead_letter, refused_dead_letter
from shared.kafka import TopicSpec, ensure_topics
from shared.settings import BROKER_MESSAGE_BYTES, CommonSettings
from tests.conftest import Infra, create_database
from tests.integration.service_process import ServiceProcess, isolated_topics, topic_specs_for
from tests.integration.streams import (
    as_messages,
    dossier_events,
    procedure_change,
    produce,
    read_topic,
    wait_until,
)

pytestmark = pytest.mark.integration

run = asyncio.run  # the CLI runs its own event loop, so this test is synchronous


def test_list_shows_reasons_and_redrive_republishes_the_original_bytes(
    infra: Infra, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = isolated_topics(unique) | {"TTHC_CONSUMER_GROUP_PREFIX": f"g{unique}"}
    settings = CommonSettings(kafka_bootstrap_servers=infra.bootstrap_servers)
    scratch = f"t{unique}.scratch"
    run(ensure_topics(settings, [*topic_specs_for(env), TopicSpec(scratch, 1)]))
    valid = as_messages(dossier_events(1, start=datetime(2025, 3, 3, 8, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))))
    no_offset = json.loads(valid[0][1]) | {"event_id": "bad-1", "occurred_at": "2025-03-03T08:00:00"}
    events_topic = env["TTHC_TOPIC_DOSSIER_EVENTS"]
    run(
        produce(
            infra.bootstrap_servers,
            events_topic,
            [*valid, (b"k1", b"{oops"), (b"k2", json.dumps(no_offset).encode())],
        )
    )
    # the registry feed: a change without its version, then a valid one that must still be applied
    registry_topic = env["TTHC_TOPIC_REGISTRY"]
    no_version = b'{"entity": "procedure", "entity_id": "1.000001", "deleted": false}'
    good_change = json.dumps(procedure_change(code="1.000001")).encode()
    run(
        produce(
            infra.bootstrap_servers,
            registry_topic,
            [(b"procedure:1.000001", v) for v in [no_version, good_change]],
        )
    )
    dsn = run(create_database(infra))
    proc = ServiceProcess("processing", dsn, infra.bootstrap_servers, env, tmp_path / "p.log").start()
    try:
        run(wait_until(dsn, "SELECT count(*) FROM processing.events", 4))
        run(read_topic(infra.bootstrap_servers, events_topic + ".dlq", 2))
        run(wait_until(dsn, "SELECT count(*) FROM processing.procedures WHERE code = '1.000001'", 1))
        [registry_letter] = run(read_topic(infra.bootstrap_servers, registry_topic + ".dlq", 1))
        letter = json.loads(registry_letter.value)
        assert letter["kind"] == "invalid_registry_change" and "version" in letter["reason"]
        assert letter["original"]["text"] == no_version.decode()

        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", infra.bootstrap_servers)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        runner = CliRunner()
        listed = runner.invoke(main, ["dlq", "list"])
        assert listed.exit_code == 0, listed.output
        assert "invalid_json" in listed.output and "{oops" in listed.output
        assert "occurred_at" in listed.output and "timezone" in listed.output
        assert "2 dead letter(s)" in listed.output

        as_json = runner.invoke(main, ["dlq", "list", "--kind", "invalid_event", "--json"])
        rows = [json.loads(line) for line in as_json.output.splitlines() if line.startswith("{")]
        assert [r["kind"] for r in rows] == ["invalid_event"]
        offset = f"{rows[0]['partition']}:{rows[0]['offset']}"

        moved = runner.invoke(main, ["dlq", "redrive", "--offsets", offset, "--to", scratch])
        assert moved.exit_code == 0 and "re-drove 1" in moved.output
        [copy] = run(read_topic(infra.bootstrap_servers, scratch, 1))
        assert json.loads(copy.value) == no_offset  # the original bytes, untouched
        assert dict(copy.headers)["x-redriven-from"] == offset.encode()

        again = runner.invoke(main, ["dlq", "redrive", "--kind", "invalid_json"])  # back to its source topic
        assert again.exit_code == 0
        assert (
            len(run(read_topic(infra.bootstrap_servers, events_topic + ".dlq", 3))) == 3
        )  # still broken: dead again

        nothing = runner.invoke(main, ["dlq", "redrive"])
        assert nothing.exit_code != 0 and "choose what to re-drive" in nothing.output
        missing = runner.invoke(main, ["dlq", "redrive", "--offsets", "0:999"])
        assert missing.exit_code != 0 and "no dead letter at 0:999" in missing.output
    finally:
        proc.stop()


def test_redrive_refuses_a_truncated_letter_and_re_drives_the_others(
    infra: Infra, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = CommonSettings(kafka_bootstrap_servers=infra.bootstrap_servers)
    source, scratch = f"t{unique}.events", f"t{unique}.scratch"
    dlq_topic = source + ".dlq"
    run(ensure_topics(settings, [TopicSpec(dlq_topic, 1), TopicSpec(scratch, 1)]))
    # a relay's letter of an event the broker refused for its size: only its size, digest and head
    too_big = b'{"event_id": "big-1", "padding": "' + b"x" * BROKER_MESSAGE_BYTES + b'"}'
    truncated = refused_dead_letter(source, b"k-big", too_big, "MessageSizeTooLargeError")
    assert "truncated" in json.loads(truncated)["original"]
    whole = b'{"event_id": "ok-1"}'
    fine = dead_letter(RawMessage(b"k-ok", whole, source, 0, 7), "unknown procedure", "invalid_event")
    run(produce(infra.bootstrap_servers, dlq_topic, [(None, truncated), (None, fine)]))  # offsets 0:0, 0:1

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", infra.bootstrap_servers)
    runner = CliRunner()
    alone = runner.invoke(main, ["dlq", "redrive", "--topic", dlq_topic, "--offsets", "0:0", "--to", scratch])
    assert alone.exit_code == 1 and isinstance(alone.exception, SystemExit)  # a message, no traceback
    assert "dead letter 0:0 not re-driven" in alone.output and "truncated" in alone.output
    assert "Traceback" not in alone.output

    both = runner.invoke(main, ["dlq", "redrive", "--topic", dlq_topic, "--all", "--to", scratch])
    assert both.exit_code == 1 and isinstance(both.exception, SystemExit)
    assert "re-drove 1 dead letter(s), refused 1" in both.output and "0:0" in both.output
    assert "0:1" not in both.output
    # only the whole letter was published, its original bytes untouched; nothing of the truncated one
    [copy] = run(read_topic(infra.bootstrap_servers, scratch, 1))
    assert copy.value == whole and copy.key == b"k-ok"
    assert dict(copy.headers)["x-redriven-from"] == b"0:1"
