"""HTTP ingest through a real processing process on the real broker and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from click.testing import CliRunner

from services.cli import main
from services.processing.adapters import emitter_keys
from shared.auth import hash_token
from shared.ingest_client import IngestClient, IngestRefused
from shared.kafka import ensure_topics
from shared.settings import CommonSettings
from tests.conftest import Infra, create_database
from tests.integration.service_process import ServiceProcess, isolated_topics, topic_specs_for
from tests.integration.streams import (
    AGENCY,
    dossier_events,
    procedure_change,
    produce,
    read_topic,
    wait_until,
)

pytestmark = pytest.mark.integration

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
OTHER_AGENCY = "000.00.21.H13"
MAX_BATCH = 50
VIEWER_TOKEN = "tthc_viewer_token_of_the_ingress_tests_0000"


def token_change(token: str, role: str, agency: str | None = None) -> tuple[bytes, bytes]:
    """The registry feed's record of a bearer token (only its hash travels)."""
    digest = hash_token(token)
    body = {
        "entity": "api_token",
        "entity_id": digest,
        "version": 1,
        "changed_at": datetime.now(UTC).isoformat(),
        "data": {"token_hash": digest, "subject": f"{role}@test", "role": role, "agency_code": agency},
    }
    return f"api_token:{digest}".encode(), json.dumps(body).encode()


@dataclass
class Ingress:
    """A processing process with two emitter keys, on topics and a database of its own."""

    proc: ServiceProcess
    dsn: str
    servers: str
    env: dict[str, str]
    key: str  # bound to AGENCY
    other_key: str  # bound to OTHER_AGENCY only

    @property
    def read_headers(self) -> dict[str, str]:
        """A viewer's bearer token for processing's read API."""
        return {"Authorization": f"Bearer {VIEWER_TOKEN}"}

    @property
    def url(self) -> str:
        return self.proc.url

    @property
    def topic(self) -> str:
        return self.env["TTHC_TOPIC_DOSSIER_EVENTS"]

    async def sql(self, query: str, *args: Any) -> Any:
        conn = await asyncpg.connect(self.dsn)
        try:
            return await conn.fetchval(query, *args)
        finally:
            await conn.close()


async def running_ingress(
    infra: Infra, suffix: str, log: Path, extra_env: dict[str, str] | None = None
) -> AsyncIterator[Ingress]:
    """Start processing on fresh topics and a fresh database, with two emitter keys."""
    env = isolated_topics(suffix) | {"TTHC_CONSUMER_GROUP_PREFIX": f"g{suffix}"} | (extra_env or {})
    await ensure_topics(CommonSettings(kafka_bootstrap_servers=infra.bootstrap_servers), topic_specs_for(env))
    await produce(
        infra.bootstrap_servers,
        env["TTHC_TOPIC_REGISTRY"],
        [
            (b"procedure:1.004845", json.dumps(procedure_change()).encode()),
            token_change(VIEWER_TOKEN, "viewer"),
        ],
    )
    dsn = await create_database(infra)
    conn = await asyncpg.connect(dsn)
    try:
        key = await emitter_keys.create_key(conn, "one-stop-h13", [AGENCY])
        other = await emitter_keys.create_key(conn, "one-stop-h21", [OTHER_AGENCY])
    finally:
        await conn.close()
    proc = ServiceProcess("processing", dsn, infra.bootstrap_servers, env, log).start()
    try:
        yield Ingress(proc, dsn, infra.bootstrap_servers, env, key, other)
    finally:
        assert proc.stop() == 0


@pytest.fixture(scope="module")
async def ingress(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Ingress]:
    log = tmp_path_factory.mktemp("ingest") / "processing.log"
    limits = {"TTHC_INGEST_MAX_BATCH": str(MAX_BATCH), "TTHC_INGEST_MAX_CONCURRENT": "1"}
    async for running in running_ingress(infra, "ing" + str(id(log))[-6:], log, limits):
        yield running


def events(prefix: str, n_dossiers: int, day: int = 3) -> list[dict[str, Any]]:
    return dossier_events(n_dossiers, start=datetime(2025, 3, day, 8, tzinfo=TZ), prefix=prefix)


def post(
    ingress: Ingress, body: Any, key: str | None = None, path: str = "/api/v1/events", **headers: str
) -> httpx.Response:
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{ingress.url}{path}", content=content, headers=headers, timeout=30)


async def test_mixed_batches_get_exact_answers_and_only_the_valid_events_reach_the_topic(
    ingress: Ingress,
) -> None:
    first, second, third = events("mix", 3)[0], events("mix", 3)[4], events("mix", 3)[8]
    no_channel = {**events("bad", 1)[0], "payload": {}}
    foreign = {**events("far", 1)[0], "agency_code": OTHER_AGENCY}
    unknown_type = {**events("unk", 1)[0], "event_type": "dossier.teleported"}
    batch = [first, no_channel, second, first, foreign, unknown_type, 42]

    answer = post(ingress, batch, ingress.key)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert results[:4] == [
        {"index": 0, "event_id": "mix0-a", "status": "accepted", "code": 202, "errors": []},
        {
            "index": 1,
            "event_id": "bad0-a",
            "status": "rejected",
            "code": 422,
            "errors": [{"field": "payload.channel", "reason": "Field required"}],
        },
        {"index": 2, "event_id": "mix1-a", "status": "accepted", "code": 202, "errors": []},
        {
            "index": 3,
            "event_id": "mix0-a",
            "status": "duplicate",
            "code": 200,
            "errors": [{"field": "event_id", "reason": "same event_id as index 0"}],
        },
    ]
    assert {k: results[4][k] for k in ("index", "event_id", "status", "code")} == {
        "index": 4,
        "event_id": "far0-a",
        "status": "rejected",
        "code": 403,
    }
    [agency_error] = results[4]["errors"]
    assert agency_error["field"] == "agency_code" and OTHER_AGENCY in agency_error["reason"]
    assert [(r["status"], r["code"], [e["field"] for e in r["errors"]]) for r in results[5:]] == [
        ("rejected", 422, ["event_type"]),
        ("rejected", 422, ["(event)"]),
    ]
    assert answer.json() | {"results": None} == {
        "results": None,
        "accepted": 2,
        "duplicates": 1,
        "conflicts": 0,
        "rejected": 4,
    }

    # across requests, with the other header: the known id is a duplicate, the new one accepted
    again = post(ingress, [second, third], None, **{"X-API-Key": ingress.key})
    assert [(r["event_id"], r["status"], r["code"]) for r in again.json()["results"]] == [
        ("mix1-a", "duplicate", 200),
        ("mix2-a", "accepted", 202),
    ]
    # the other emitter may report for its own agency only
    wrong = post(ingress, [third | {"event_id": "h21-x"}], ingress.other_key)
    assert wrong.json()["results"][0]["code"] == 403

    records = await read_topic(ingress.servers, ingress.topic, 3)
    assert sorted((r.key.decode(), json.loads(r.value)["event_id"]) for r in records) == [
        (first["dossier_code"], "mix0-a"),
        (second["dossier_code"], "mix1-a"),
        (third["dossier_code"], "mix2-a"),
    ]
    assert [json.loads(r.value) for r in records if r.key.decode() == first["dossier_code"]] == [first]
    await wait_until(ingress.dsn, "SELECT count(*) FROM processing.events", 3)


def test_whole_requests_refused_with_problems(ingress: Ingress) -> None:
    batch = events("ref", 1)[:1]
    for key, headers in ((None, {}), ("tthc_emit_nobody", {}), (None, {"Authorization": "Basic eDp5"})):
        refused = post(ingress, batch, key, **headers)
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["www-authenticate"].startswith("Bearer")
    too_many = post(ingress, events("big", 13), ingress.key)  # 52 events
    assert too_many.status_code == 413 and f"at most {MAX_BATCH}" in too_many.json()["detail"]
    not_array = post(ingress, batch[0], ingress.key)
    assert not_array.status_code == 422 and "JSON array" in not_array.json()["detail"]
    assert "got a JSON object" in not_array.json()["detail"]
    not_json = post(ingress, b"[{oops", ingress.key)
    assert not_json.status_code == 422 and "not valid JSON" in not_json.json()["detail"]
    metrics = httpx.get(f"{ingress.url}/metrics").text
    assert 'tthc_ingest_refused_requests_total{reason="unauthorized",route="events"} 3.0' in metrics
    for emitter in ("one-stop-h13", "one-stop-h21"):  # one foreign event each, in the first test
        assert (
            f'tthc_ingest_events_total{{emitter="{emitter}",reason="agency_forbidden",result="rejected",route="events"}} 1.0'
            in metrics
        )


async def test_over_capacity_answers_429_at_once_and_the_client_retries_until_accepted(
    ingress: Ingress,
) -> None:
    batches = [events(f"cap{b}-", 12, day=4) for b in range(12)]  # 48 events each
    async with httpx.AsyncClient(base_url=ingress.url, timeout=30) as client:
        answers = await asyncio.gather(
            *(
                client.post("/api/v1/events", json=batch, headers={"Authorization": f"Bearer {ingress.key}"})
                for batch in batches
            )
        )
    statuses = [a.status_code for a in answers]
    assert set(statuses) == {200, 429}, statuses  # one request at a time: the others are refused at once
    for a in answers:
        if a.status_code == 429:
            assert a.headers["retry-after"] == "1" and a.json()["status"] == 429
        else:
            assert a.json()["accepted"] == 48
    taken = 48 * statuses.count(200)
    assert (
        await ingress.sql("SELECT count(*) FROM processing.ingested_events WHERE event_id LIKE 'cap%'")
        == taken
    )

    refused = [batch for batch, a in zip(batches, answers, strict=True) if a.status_code == 429]
    async with IngestClient(ingress.url, ingress.key, backoff_initial=0.05, max_attempts=30) as emitter:
        sent = await asyncio.gather(*(emitter.send_events(b) for b in refused))
        assert emitter.retries > 0  # they competed for the one slot again
    assert all(s["accepted"] == 48 for s in sent)
    assert (
        await ingress.sql("SELECT count(*) FROM processing.ingested_events WHERE event_id LIKE 'cap%'") == 576
    )
    async with IngestClient(ingress.url, "tthc_emit_wrong") as stranger:
        with pytest.raises(IngestRefused) as caught:
            await stranger.send_events(batches[0])
    assert caught.value.status == 401 and "unknown or revoked" in str(caught.value)


async def known_agencies(dsn: str, *codes: str) -> None:
    """Put ``codes`` in processing's copy of the registry, as the registry feed would."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.executemany(
            "INSERT INTO processing.registry_entities (entity, entity_id, version, data) "
            "VALUES ('agency', $1, 1, '{}'::jsonb) ON CONFLICT DO NOTHING",
            [(c,) for c in codes],
        )
    finally:
        await conn.close()


def test_keys_cli_shows_a_key_once_and_revocation_locks_the_emitter_out(
    ingress: Ingress, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", ingress.dsn)
    asyncio.run(known_agencies(ingress.dsn, AGENCY, OTHER_AGENCY))  # keys are refused for unknown ones
    runner = CliRunner()
    refused = runner.invoke(main, ["keys", "create", "cli-emitter", "--agency", "NOPE.123"])
    assert refused.exit_code == 1 and "no agency NOPE.123" in refused.output
    created = runner.invoke(
        main, ["keys", "create", "cli-emitter", "--agency", AGENCY, "--agency", OTHER_AGENCY]
    )
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert key.startswith("tthc_emit_") and len(key) > 40 and "shown once" in created.stderr

    listed = runner.invoke(main, ["keys", "list"])
    assert listed.exit_code == 0
    line = next(x for x in listed.stdout.splitlines() if x.startswith("cli-emitter"))
    assert "active" in line and f"{AGENCY}, {OTHER_AGENCY}" in line
    assert key not in listed.output and emitter_keys.hash_key(key) not in listed.output

    assert runner.invoke(main, ["keys", "create", "cli-emitter", "--agency", AGENCY]).exit_code != 0
    assert runner.invoke(main, ["keys", "create", "no-agency"]).exit_code != 0

    batch = events("cli", 1)[:1]
    assert post(ingress, batch, key).json()["accepted"] == 1
    revoked = runner.invoke(main, ["keys", "revoke", "cli-emitter"])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert post(ingress, batch, key).status_code == 401
    relisted = runner.invoke(main, ["keys", "list"]).stdout
    assert "revoked" in next(x for x in relisted.splitlines() if x.startswith("cli-emitter"))
    assert runner.invoke(main, ["keys", "revoke", "cli-emitter"]).exit_code != 0


INGRESS_OPERATIONS = {"POST /api/v1/events", "POST /api/v1/portal-sync"}


async def fuzz(ingress: Ingress, wanted: Callable[[str], bool]) -> tuple[list[str], list[str]]:
    """Run schemathesis on the wanted operations of the live OpenAPI schema; (tried, 5xx answers)."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.generation import GenerationMode

    conn = await asyncpg.connect(ingress.dsn)
    try:  # a key for every agency, so that generated events get as far as the broker
        key = await emitter_keys.create_key(conn, f"fuzzer-{uuid.uuid4().hex[:6]}", ["*"])
    finally:
        await conn.close()
    schema = schemathesis.openapi.from_url(f"{ingress.url}/openapi.json")
    failures: list[str] = []
    tried: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in [op for op in operations if wanted(op.label)]:
        for mode, examples in ((GenerationMode.POSITIVE, 30), (GenerationMode.NEGATIVE, 15)):

            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                response = case.call(
                    base_url=ingress.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
                )
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} {case.query or ''} → {response.status_code}: "
                        f"{response.text[:300]}"
                    )

            try:
                await asyncio.to_thread(run)
            except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                assert mode is GenerationMode.NEGATIVE, operation.label
            tried.append(f"{operation.label} ({mode.value})")
    return tried, failures


async def test_fuzzing_the_ingress_from_its_openapi_schema_finds_no_server_error(ingress: Ingress) -> None:
    tried, failures = await fuzz(ingress, lambda label: label in INGRESS_OPERATIONS)
    assert failures == []
    assert len(tried) == 2 * len(INGRESS_OPERATIONS)


# The rest of processing's API takes bearer tokens, not emitter keys: it is fuzzed with a token of
# every role in tests/hostile/test_openapi_roles.py.
