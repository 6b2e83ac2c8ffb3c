"""The Decision 766 scored index on a simulated province: real broker, real PostgreSQL.

The simulator's seeded stream goes to ``tthc.dossier-events.v1`` (reporting's own consumer group
records the 766 facts); the assessments processing would emit go to ``tthc.compliance.v1``, built
from the simulator's ground truth. The expected points of two agencies are worked out HERE from
the raw events sent and the rules of the shipped data file (read with tomllib), not by the code
under test; then the ranking must be by total points within each level.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
import tomllib
from collections.abc import Iterable
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from openpyxl import load_workbook

from services.reporting.bootstrap import create_app
from services.reporting.settings import ReportingSettings
from services.simulator.domain.province import build_province
from services.simulator.domain.scenario import SimulatedDossier
from services.simulator.simulate import Options, encoded, generate
from shared.auth import hash_token
from shared.kafka import TopicSpec, ensure_topics
from shared.settings import CommonSettings, Topics
from tests.conftest import Infra, create_database
from tests.integration.test_reporting_exports import render

pytestmark = pytest.mark.integration

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
REFERENCE = datetime(2025, 6, 16, tzinfo=TZ)
DISTRICT = "000.00.21.SIM"
MAY = (datetime(2025, 5, 1, tzinfo=TZ), datetime(2025, 6, 1, tzinfo=TZ))
DATA = Path(__file__).parents[2] / "services/reporting/data/decision766_2022.toml"


OFFICER = "tthc_officer-token-of-district-21-0123456789"
ADMIN = "tthc_admin-token-of-the-province-0123456789"


def registry_changes() -> list[dict[str, Any]]:
    """The simulated province's agencies, an officer of district 21 and an admin."""
    province = build_province()
    tokens = [
        {
            "entity": "api_token",
            "entity_id": hash_token(token),
            "version": 1,
            "changed_at": "2025-01-01T00:00:00+07:00",
            "data": {
                "token_hash": hash_token(token),
                "subject": subject,
                "role": role,
                "agency_code": agency,
            },
        }
        for token, subject, role, agency in (
            (OFFICER, "o@x.vn", "officer", DISTRICT),
            (ADMIN, "a@x.vn", "admin", None),
        )
    ]
    return tokens + [
        {
            "entity": "agency",
            "entity_id": a.code,
            "version": 1,
            "changed_at": "2025-01-01T00:00:00+07:00",
            "data": a.model_dump(mode="json"),
        }
        for a in province.agencies
    ]


def assessment(d: SimulatedDossier) -> bytes:
    """What processing would say of the dossier, from the simulator's ground truth."""

    def iso(x: datetime | None) -> str | None:
        return x.isoformat() if x else None

    resolved = d.outcome.value in ("early", "on_time", "late")
    return json.dumps(
        {
            "kind": "dossier.assessed",
            "dossier_code": d.code,
            "agency_code": d.agency_code,
            "procedure_code": d.procedure_code,
            "revision": 1,
            "status": 9 if resolved else 2,
            "outcome": d.outcome.value,
            "channel": d.channel,
            "accepted_at": iso(d.accepted_at),
            "due_at": iso(d.due_at),
            "index_due_at": iso(d.due_at),
            "resolved_at": iso(d.resolved_at),
            "closed_at": iso(d.closed_at),
            "in_scope": True,
            "nonconformities": [],
            "assessed_at": REFERENCE.isoformat(),
        }
    ).encode()


async def produce(servers: str, topic: str, messages: Iterable[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=servers, linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def in_may(at: str | datetime) -> bool:
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    return MAY[0] <= moment < MAY[1]


def hand_points(
    rules: dict[str, Any], agency: str, events: list[dict[str, Any]], imported: dict[str, int]
) -> dict[str, Decimal]:
    """Points of one agency in May from the raw events and the figures imported for it, by the data
    file's formulas (linear, rounded to 2 decimals per indicator; a zero denominator earns 0)."""
    mine = [e for e in events if e["agency_code"] == agency]
    last: dict[tuple[str, str], dict[str, Any]] = {}  # (dossier, type) → its last event (duplicates: same)
    fees: dict[str, list[dict[str, Any]]] = {}
    for e in mine:
        if e["event_type"] == "dossier.fee_paid":
            fees.setdefault(e["dossier_code"], []).append(e)
        else:
            key = (e["dossier_code"], e["event_type"])
            if key not in last or e["occurred_at"] >= last[key]["occurred_at"]:
                last[key] = e
    accepted = [e for (_, t), e in last.items() if t == "dossier.accepted" and in_may(e["occurred_at"])]
    resolved = [e for (_, t), e in last.items() if t == "dossier.resolved" and in_may(e["occurred_at"])]
    rated = [
        e
        for (_, t), e in last.items()
        if t == "dossier.result_returned" and "satisfaction" in e["payload"] and in_may(e["occurred_at"])
    ]
    paid = [p for p in fees.values() if in_may(min(x["occurred_at"] for x in p))]
    # on time on the national-index clock: the truth's outcome (resolved after the due moment = late)
    m = {
        "received": len(accepted),
        "received_online": sum(e["payload"]["channel"] == 2 for e in accepted),
        "resolved": len(resolved),
        "resolved_index_on_time": sum(OUTCOME[e["dossier_code"]] != "late" for e in resolved),
        "accepted": len(accepted),
        "accepted_digitized": sum(e["payload"].get("digitized") is True for e in accepted),
        "resolved_events": len(resolved),
        "results_digitized": sum(e["payload"].get("result_digitized") is True for e in resolved),
        "fees_paid": len(paid),
        "fees_paid_online": sum(any(x["payload"].get("online") for x in p) for p in paid),
        "rated": len(rated),
        "rated_satisfied": sum(e["payload"]["satisfaction"] >= rules["satisfied_at_least"] for e in rated),
        "procedures_published_on_time": imported.get("procedures_published_on_time", 0),
        "procedures_to_publish": imported.get("procedures_to_publish", 0),
    }
    out: dict[str, Decimal] = {}
    total = Decimal(0)
    for g in rules["groups"]:
        got = Decimal(0)
        for i in g["indicators"]:
            if not m[i["denominator"]]:
                continue
            got += (Decimal(i["points"]) * m[i["numerator"]] / m[i["denominator"]]).quantize(
                Decimal("0.01"), ROUND_HALF_UP
            )
        out[g["code"]] = got
        total += got
    out["total"] = total
    return out


OUTCOME: dict[str, str] = {}


async def test_index766_points_of_a_simulated_province_and_ranking(
    infra: Infra, unique: str, tmp_path: Path
) -> None:
    options = Options(dossiers=400, seed=766, violation_rate=0.3, reference=REFERENCE)
    _, dossiers = generate(CommonSettings(), options)
    OUTCOME.update({d.code: d.outcome.value for d in dossiers})
    stream = encoded(dossiers, options)  # raw events with the simulator's duplicates
    events = [event for _, _, _, event in stream]
    agencies = sorted({e["agency_code"] for e in events})
    busiest = sorted(agencies, key=lambda a: (-sum(e["agency_code"] == a for e in events), a))[:2]
    assert any("satisfaction" in e["payload"] for e in events)
    assert any(e["event_type"] == "dossier.fee_paid" and e["payload"].get("online") for e in events)

    topics = Topics(
        dossier_events=f"test.events.{unique}",
        compliance=f"test.compliance.{unique}",
        registry=f"test.registry.{unique}",
    )
    settings = ReportingSettings(
        database_url=await create_database(infra),
        kafka_bootstrap_servers=infra.bootstrap_servers,
        topics=topics,
        kafka_session_timeout_ms=3000,
        kafka_heartbeat_interval_ms=1000,
        reporting_gauges_interval_s=3600,
        reporting_group_id=f"a-{unique}",
        reporting_registry_group_id=f"r-{unique}",
        reporting_events_group_id=f"e-{unique}",
    )  # type: ignore[call-arg]
    await ensure_topics(
        settings,
        [TopicSpec(topics.dossier_events, 3), TopicSpec(topics.compliance, 3), TopicSpec(topics.registry, 1)],
    )
    servers = infra.bootstrap_servers
    await produce(
        servers,
        topics.registry,
        [(f"{c['entity']}:{c['entity_id']}".encode(), orjson.dumps(c)) for c in registry_changes()],
    )
    garbage = [
        (b"x", b"not an event"),
        (b"y", b'{"event_type": "dossier.accepted", "payload": {"digitized": 1}}'),
    ]
    sent = [(key, body) for _, key, body, _ in stream]
    # invalid events (processing dead-letters them) are skipped without stopping the partition
    await produce(servers, topics.dossier_events, sent[:50] + garbage + sent[50:])
    assessed = [d for d in dossiers if d.accepted_at is not None]
    await produce(servers, topics.compliance, [(d.code.encode(), assessment(d)) for d in assessed])
    with_facts = {
        e["dossier_code"]
        for e in events
        if e["event_type"] in ("dossier.accepted", "dossier.resolved", "dossier.fee_paid")
        or (e["event_type"] == "dossier.result_returned" and "satisfaction" in e["payload"])
    }

    app = create_app(settings, clock=lambda: REFERENCE)
    async with app.router.lifespan_context(app):
        pool = app.state.resources.pool
        deadline = time.monotonic() + 60
        state: tuple[int, ...] = ()
        while time.monotonic() < deadline:
            async with pool.acquire() as conn:
                state = tuple(
                    await conn.fetchrow(
                        "SELECT (SELECT count(*) FROM reporting.index766_facts),"
                        " (SELECT count(*) FROM reporting.dossier_facts),"
                        " (SELECT count(*) FROM reporting.agencies) + (SELECT count(*) FROM reporting.api_tokens)"
                    )
                )
            if state == (len(with_facts), len(assessed), 15):
                break
            await asyncio.sleep(0.3)
        assert state == (len(with_facts), len(assessed), 15)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://reporting"
        ) as c:
            # the figures the events cannot carry: imported by an admin for one of the two agencies
            figures = {
                "month": "2025-05",
                "rows": [
                    {"agency_code": busiest[0], "measure": "procedures_published_on_time", "value": 9},
                    {"agency_code": busiest[0], "measure": "procedures_to_publish", "value": 12},
                ],
            }
            url = "/api/v1/reports/index766/external"
            assert (await c.put(url, json=figures)).status_code == 401
            assert (
                await c.put(url, json=figures, headers={"Authorization": f"Bearer {OFFICER}"})
            ).status_code == 403
            admin = {"Authorization": f"Bearer {ADMIN}"}
            unknown = await c.put(
                url,
                json={**figures, "rows": [{**figures["rows"][0], "agency_code": "9.9.SIM"}]},
                headers=admin,
            )
            assert unknown.status_code == 422 and "9.9.SIM" in unknown.json()["detail"]
            typo = await c.put(
                url, json={**figures, "rows": [{**figures["rows"][0], "measure": "published"}]}, headers=admin
            )
            assert typo.status_code == 422 and "measure" in typo.text
            assert (await c.put(url, json=figures, headers=admin)).json() == {
                "month": "2025-05",
                "imported": 2,
            }
            r = await c.get("/api/v1/reports/index766?period=2025-05", headers=admin)
            assert r.status_code == 200, r.text
            doc = r.json()
            district = await c.get(f"/api/v1/reports/index766?period=2025-05&agency={DISTRICT}", headers=admin)
            officer = {"Authorization": f"Bearer {OFFICER}"}
            own = await c.get("/api/v1/reports/index766?period=2025-05", headers=officer)
            other = await c.get(
                "/api/v1/reports/index766?period=2025-05&agency=000.00.22.SIM", headers=officer
            )
            bad = await c.get("/api/v1/reports/index766?period=2025-05&version=1999", headers=admin)
            files = {
                f: await c.get(f"/api/v1/reports/index766?period=2025-05&format={f}", headers=admin)
                for f in ("csv", "xlsx", "pdf")
            }

    rules = tomllib.loads(DATA.read_text(encoding="utf-8"))
    rows = {row["agency_code"]: row for row in doc["rows"]}
    imported = {busiest[0]: {"procedures_published_on_time": 9, "procedures_to_publish": 12}}
    for agency in busiest:
        want = hand_points(rules, agency, events, imported.get(agency, {}))
        got = rows[agency]
        assert Decimal(str(got["total_points"])) == want["total"], agency
        assert {g["code"]: Decimal(str(g["points"])) for g in got["groups"]} == {
            g["code"]: want[g["code"]] for g in rules["groups"]
        }, agency
        assert want["total"] > 0
    assert rows[busiest[0]]["groups"][0]["points"] == 13.5  # 18 × 9 / 12

    # ranking: within each level, by total points (ties share a rank)
    by_level: dict[str, list[dict[str, Any]]] = {}
    for row in doc["rows"]:
        by_level.setdefault(row["level"], []).append(row)
    assert any(len(members) > 1 for members in by_level.values())
    for members in by_level.values():
        for row in members:
            better = sum(o["total_points"] > row["total_points"] for o in members)
            assert row["rank"] == better + 1
            assert row["ranked_among"] == len(members)

    # scoped to a district: the district and its communes only
    assert district.status_code == 200
    assert len(district.json()["rows"]) >= 3
    assert {row["agency_code"] for row in district.json()["rows"]} <= {
        "000.00.21.SIM", "101.00.21.SIM", "102.00.21.SIM", "103.00.21.SIM",
    }  # fmt: skip
    assert own.status_code == 200 and own.json()["rows"] == district.json()["rows"]  # an officer: its subtree
    assert other.status_code == 403 and "subtree" in other.json()["detail"]
    assert bad.status_code == 422 and "2022" in bad.json()["detail"]
    assert orjson.loads(orjson.dumps(doc["rules"]))["source"].startswith("Quyết định số 766/QĐ-TTg")

    # exported through the printed-form description: names not codes, Vietnamese formats
    top = max(doc["rows"], key=lambda r: r["total_points"])
    csv_text = files["csv"].content.decode("utf-8-sig")
    assert top["name"] in csv_text and f"{top['total_points']:.2f}".replace(".", ",") in csv_text
    wb = load_workbook(io.BytesIO(files["xlsx"].content))
    assert wb.sheetnames == ["Điểm QĐ 766", "Điểm chỉ số thành phần"]
    cells = [c for row in wb["Điểm QĐ 766"].iter_rows(values_only=True) for c in row if c is not None]
    assert top["name"] in cells and top["total_points"] in cells and "TỔNG CỘNG" in cells
    assert f"1/{top['ranked_among']}" in cells
    pages, text = render(files["pdf"].content, tmp_path)
    assert pages == 2 and "BỘ CHỈ SỐ PHỤC VỤ NGƯỜI DÂN" in text and top["name"] in text
