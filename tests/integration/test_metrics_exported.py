"""Every metric an alert rule or a Grafana panel uses is really exported by a running service.

tests/unit/test_observability.py checks that those names are *declared* in shared/metrics.py; a
declared metric that no code sets (as tthc_consumer_lag_messages was in processing and reporting)
still leaves an alert that can never fire. Here the three services run on the real broker and
PostgreSQL, get a little of everything (a registry change, events over HTTP and Kafka, a duplicate,
an invalid message, a refused request), and the names in their /metrics must cover every name used
in deploy/prometheus/alerts.yml and deploy/grafana/dashboards/*.json.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.processing.adapters import emitter_keys
from shared.kafka import ensure_topics
from shared.settings import CommonSettings
from tests.conftest import Infra, create_database
from tests.integration.service_process import ServiceProcess, isolated_topics, topic_specs_for
from tests.integration.streams import AGENCY, PROCEDURE, dossier_events, produce
from tests.unit.test_observability import QUERIES, SYNTHETIC, parse_promql

pytestmark = pytest.mark.integration

ADMIN = "tthc_metrics-admin-token-0123456789abcdef"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def used_names() -> set[str]:
    return {s.name for q in QUERIES for s in parse_promql(q.expr).selectors} - set(SYNTHETIC)


def exported(url: str) -> dict[str, dict[frozenset[tuple[str, str]], float]]:
    """Sample name → {labels: value} of a service's /metrics."""
    out: dict[str, dict[frozenset[tuple[str, str]], float]] = {}
    text = httpx.get(f"{url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return out


def test_every_metric_used_by_alerts_and_dashboards_is_exported(
    infra: Infra, unique: str, tmp_path: Path
) -> None:
    env = isolated_topics(unique) | {
        "TTHC_CONSUMER_GROUP_PREFIX": f"g{unique}",
        "TTHC_REPORTING_GROUP_ID": f"g{unique}-reporting",
        "TTHC_REPORTING_REGISTRY_GROUP_ID": f"g{unique}-reporting-registry",
        "TTHC_ADMIN_TOKEN": ADMIN,
        "TTHC_REPORTING_GAUGES_INTERVAL_S": "1",
        "TTHC_CONSUMER_WATCH_INTERVAL_S": "0.5",
    }
    settings = CommonSettings(kafka_bootstrap_servers=infra.bootstrap_servers)
    asyncio.run(ensure_topics(settings, topic_specs_for(env)))
    dsn = asyncio.run(create_database(infra))

    async def new_key() -> str:
        conn = await asyncpg.connect(dsn)
        try:
            return await emitter_keys.create_key(conn, "one-stop", [AGENCY])
        finally:
            await conn.close()

    key = asyncio.run(new_key())
    services = {
        name: ServiceProcess(name, dsn, infra.bootstrap_servers, env, tmp_path / f"{name}.log")
        for name in ("registry", "processing", "reporting")
    }
    try:
        with ThreadPoolExecutor(3) as starting:  # their waits (imports, group joins) overlap
            list(starting.map(ServiceProcess.start, services.values()))
        registry, processing = services["registry"].url, services["processing"].url
        put = httpx.put(
            f"{registry}/api/v1/procedures/{PROCEDURE}",
            json={
                "code": PROCEDURE,
                "name": "Thủ tục đăng ký chấm dứt giám hộ",
                "field": "Hộ tịch",
                "level": "Cấp xã",
                "statutory_time": {"value": "2", "unit": "working_days"},
            },
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=30,
        )
        assert put.status_code in (200, 201), put.text
        # this year's dossiers: reporting's gauges are about the current year
        start = datetime.now(TZ).replace(hour=8, minute=0, second=0, microsecond=0) - timedelta(days=40)
        events = dossier_events(5, start=start)
        auth = {"Authorization": f"Bearer {key}"}
        for body in (events, events[:2]):  # the second time: duplicates
            sent = httpx.post(f"{processing}/api/v1/events", json=body, headers=auth, timeout=30)
            assert sent.status_code == 200, sent.text
        assert httpx.post(f"{processing}/api/v1/events", json=events, timeout=30).status_code == 401
        assert (
            httpx.post(f"{processing}/api/v1/portal-sync", json=[{}], headers=auth, timeout=30).status_code
            == 200
        )
        asyncio.run(produce(infra.bootstrap_servers, env["TTHC_TOPIC_DOSSIER_EVENTS"], [(b"k", b"{oops")]))

        wanted = used_names()
        deadline = time.monotonic() + 60
        while True:
            seen: dict[str, dict[str, dict[frozenset[tuple[str, str]], float]]] = {
                name: exported(s.url) for name, s in services.items()
            }
            names = set().union(*(set(m) for m in seen.values()))
            rollups = seen["reporting"].get("tthc_rollup_updates_total", {})
            if (wanted <= names and sum(rollups.values()) >= 5) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert sorted(wanted - names) == []

        # while they run: each service's /docs page works offline under the strict policy (issue #12)
        for service in services.values():
            docs = httpx.get(f"{service.url}/docs", timeout=10)
            assert (
                docs.status_code == 200
                and "script-src 'self' 'sha256-" in docs.headers["content-security-policy"]
            )
            assert (
                docs.headers["x-frame-options"] == "DENY" and docs.headers["referrer-policy"] == "same-origin"
            )
            bundle = httpx.get(f"{service.url}/docs/static/swagger-ui-bundle.js", timeout=10)
            assert bundle.status_code == 200 and bundle.headers["x-content-type-options"] == "nosniff"
    finally:
        with ThreadPoolExecutor(3) as stopping:
            list(stopping.map(ServiceProcess.stop, services.values()))

    # every consumer of every service has its lag (registry consumes nothing)
    def lag_topics(service: str) -> set[str]:
        return {dict(labels)["topic"] for labels in seen[service].get("tthc_consumer_lag_messages", {})}

    assert lag_topics("processing") == {env["TTHC_TOPIC_DOSSIER_EVENTS"], env["TTHC_TOPIC_REGISTRY"]}
    # reporting reads the dossier events too, for the Decision 766 facts
    assert lag_topics("reporting") == {
        env["TTHC_TOPIC_COMPLIANCE"],
        env["TTHC_TOPIC_REGISTRY"],
        env["TTHC_TOPIC_DOSSIER_EVENTS"],
    }
    assert "tthc_consumer_lag_messages" not in seen["registry"]
    failures = seen["processing"]["tthc_assessment_failures_total"]
    assert {dict(labels)["path"] for labels in failures} == {"events", "timer", "registry"}
    assert set(failures.values()) == {0.0}
    dlq = seen["processing"]["tthc_dlq_messages_total"]
    assert any(dict(labels)["reason"] == "invalid_json" for labels in dlq)
