"""Schemathesis over the three live OpenAPI documents (registry, processing, reporting), with a
bearer token of each role: whatever is generated, valid or not, no answer is a 5xx."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from shared.kafka import ensure_topics
from shared.settings import CommonSettings
from tests.conftest import Infra, create_database
from tests.integration.service_process import ServiceProcess, isolated_topics, topic_specs_for
from tests.integration.streams import AGENCY

pytestmark = pytest.mark.integration

ADMIN_TOKEN = "tthc_hostile-suite-admin-token-0123456789"
PROVINCE = "000.00.00.H13"
#: generated requests per operation (valid, invalid), each sent with the token of every role
EXAMPLES = (2, 1)


@dataclass
class System:
    urls: dict[str, str]
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def system(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    suffix = "oar" + str(time.monotonic_ns())[-6:]
    env = isolated_topics(suffix) | {
        "TTHC_CONSUMER_GROUP_PREFIX": suffix,
        "TTHC_ADMIN_TOKEN": ADMIN_TOKEN,
        "TTHC_REPORTING_REQUIRE_TOKEN": "true",
    }
    asyncio.run(
        ensure_topics(CommonSettings(kafka_bootstrap_servers=infra.bootstrap_servers), topic_specs_for(env))
    )
    dsn = asyncio.run(create_database(infra))
    logs = tmp_path_factory.mktemp("openapi")
    procs = [
        ServiceProcess(name, dsn, infra.bootstrap_servers, env, logs / f"{name}.log")
        for name in ("registry", "processing", "reporting")
    ]
    try:
        with ThreadPoolExecutor(3) as pool:  # start them side by side
            list(pool.map(ServiceProcess.start, procs))
        urls = {p.service: p.url for p in procs}
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        for code, parent, level in ((PROVINCE, None, "province"), (AGENCY, PROVINCE, "commune")):
            body = {"code": code, "name": f"UBND {code}", "level": level, "parent_code": parent}
            put = httpx.put(
                f"{urls['registry']}/api/v1/agencies/{code}", json=body, headers=admin, timeout=10
            )
            assert put.status_code in (200, 201), put.text
        tokens = {"admin": ADMIN_TOKEN}
        for role, agency in (("officer", AGENCY), ("viewer", None)):
            made = httpx.post(
                f"{urls['registry']}/api/v1/tokens",
                json={"subject": f"{role}@hostile", "role": role, "agency_code": agency},
                headers=admin,
                timeout=10,
            )
            assert made.status_code == 201, made.text
            tokens[role] = made.json()["token"]
        # the tokens travel on the registry feed: wait until both readers know every one
        reads = {
            "processing": "/api/v1/nonconformities",
            "reporting": "/api/v1/reports/qms-status?period=2025",
        }
        deadline = time.monotonic() + 60
        for service, path in reads.items():
            for token in tokens.values():
                while (
                    httpx.get(urls[service] + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)
                ).status_code == 401:
                    assert time.monotonic() < deadline, f"{service} never learnt the tokens"
                    time.sleep(0.3)
        yield System(urls, tokens)
    finally:
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(ServiceProcess.stop, procs))


#: fuzzed elsewhere with an emitter key (tests/integration/test_ingest_http.py), or trivial
SKIPPED = {"POST /api/v1/events", "POST /api/v1/portal-sync", "GET /healthz", "GET /metrics"}


def fuzz(base_url: str, tokens: list[str], examples: tuple[int, int]) -> tuple[int, int, list[str]]:
    """Run schemathesis on the operations of the live schema, each generated request sent once
    with every token; (operations tried, requests sent, 5xx answers)."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.generation import GenerationMode

    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: list[str] = []
    tried = sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label in SKIPPED:
            continue
        for mode, n in zip((GenerationMode.POSITIVE, GenerationMode.NEGATIVE), examples, strict=True):

            @settings(
                max_examples=n,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                nonlocal sent
                for token in tokens:
                    response = case.call(
                        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
                    )
                    sent += 1
                    if response.status_code >= 500:
                        failures.append(
                            f"{case.method} {case.formatted_path} {case.query or ''} "
                            f"{json.dumps(case.body, default=str)[:200] if case.body is not None else ''} "
                            f"→ {response.status_code}: {response.text[:300]}"
                        )

            try:
                run()
            except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                assert mode is GenerationMode.NEGATIVE, operation.label
        tried += 1
    return tried, sent, failures


@pytest.mark.parametrize("service", ["registry", "processing", "reporting"])
def test_no_generated_request_gets_a_server_error_whatever_the_role(system: System, service: str) -> None:
    roles = ["viewer", "officer", "admin"]  # the admin last: its writes change what the others see
    tried, sent, failures = fuzz(system.urls[service], [system.tokens[r] for r in roles], EXAMPLES)
    assert tried >= 3
    assert failures == [], "\n".join(failures[:10])
    print(f"{service}: {tried} operations, {sent} requests, 0 × 5xx")


def test_every_read_api_refuses_anonymous_callers(system: System) -> None:
    for service, path in (
        ("processing", "/api/v1/nonconformities"),
        ("processing", f"/api/v1/dossiers/{AGENCY}-250101-0001"),
        ("reporting", "/api/v1/reports/form06?period=2025"),
        ("reporting", "/api/v1/reports/nonconformities?period=2025"),
        ("registry", "/api/v1/tokens"),
    ):
        for headers in ({}, {"Authorization": "Bearer tthc_not-a-token-at-all-000000000"}):
            answer = httpx.get(system.urls[service] + path, headers=headers, timeout=10)
            assert answer.status_code == 401, (service, path, answer.status_code)
            assert answer.headers["www-authenticate"].startswith("Bearer")
