"""Thousands of hostile items through the HTTP ingress and raw onto the topic, mixed with valid
events, against a real processing process, PostgreSQL and broker.

What must hold: no answer is a 5xx; every valid event is accepted and assessed; every hostile
item is refused with the 4xx and the field written down for it in ``generate.py`` (over HTTP), or
dead-lettered with a reason (on the topic).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.processing.adapters import emitter_keys
from shared.ingest_client import IngestClient
from shared.settings import Topics
from tests.conftest import Infra
from tests.hostile.generate import BAD_BODIES, TZ, Event, Hostile, hostile_items, valid_events
from tests.integration.streams import AGENCY, produce, read_topic, wait_until
from tests.integration.test_ingest_http import Ingress, running_ingress

pytestmark = pytest.mark.integration

OTHER = "000.00.21.H13"  # the key writes for AGENCY and OTHER
FOREIGN = "000.00.99.H13"  # and not for this one
BATCH = 500


@pytest.fixture(scope="module")
async def ingress(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Ingress]:
    log = tmp_path_factory.mktemp("hostile") / "processing.log"
    async for running in running_ingress(infra, "hos" + str(id(log))[-6:], log):
        yield running


async def two_agency_key(ingress: Ingress, name: str) -> str:
    conn = await asyncpg.connect(ingress.dsn)
    try:
        return await emitter_keys.create_key(conn, name, [AGENCY, OTHER])
    finally:
        await conn.close()


async def metrics_text(ingress: Ingress) -> str:
    async with httpx.AsyncClient(base_url=ingress.url, timeout=10) as http:
        return (await http.get("/metrics")).text


def counted(metrics: str, **labels: str) -> float:
    """Sum of ``tthc_ingest_events_total`` over the samples carrying ``labels``."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics)
        if family.name == "tthc_ingest_events"
        for sample in family.samples
        if sample.name.endswith("_total") and labels.items() <= sample.labels.items()
    )


def interleave(valid: list[Event], hostile: list[tuple[int, Hostile]]) -> list[tuple[Any, Hostile | None]]:
    """The valid events in order, each hostile item right after the valid event it refers to."""
    after: dict[int, list[Hostile]] = {}
    for pos, h in hostile:
        after.setdefault(pos, []).append(h)
    out: list[tuple[Any, Hostile | None]] = []
    for pos, event in enumerate(valid):
        out.append((event, None))
        out += [(h.item, h) for h in after.get(pos, [])]
    return out


def mismatch(answer: dict[str, Any], expected: Hostile | None) -> str | None:
    if expected is None:
        return None if (answer["status"], answer["code"]) == ("accepted", 202) else "valid event not accepted"
    fields = [e["field"] for e in answer["errors"]]
    if answer["code"] != expected.code or expected.field not in fields:
        return f"{expected.kind}: expected {expected.code} naming {expected.field!r}"
    if not all(e["reason"] for e in answer["errors"]):
        return f"{expected.kind}: an error without a reason"
    return None


async def test_hostile_items_over_http_are_refused_with_a_4xx_naming_the_field(ingress: Ingress) -> None:
    key = await two_agency_key(ingress, "hostile-http")
    valid = valid_events(AGENCY, 250, datetime(2025, 3, 3, 8, tzinfo=TZ), "hv") + valid_events(
        OTHER, 200, datetime(2025, 3, 4, 8, tzinfo=TZ), "hw"
    )
    hostile = list(hostile_items(valid, 5_200, seed=12, foreign=FOREIGN, agencies=(AGENCY, OTHER)))
    sequence = interleave(valid, hostile)
    statuses: Counter[int] = Counter()
    problems: list[str] = []
    answers_by_code: Counter[int] = Counter()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=ingress.url, timeout=60, headers=headers) as http:
        for start in range(0, len(sequence), BATCH):
            chunk = sequence[start : start + BATCH]
            # json.dumps keeps a NUL as the escape \u0000, as an emitter would send it
            response = await http.post("/api/v1/events", content=json.dumps([i for i, _ in chunk]).encode())
            statuses[response.status_code] += 1
            assert response.status_code == 200, response.text[:500]
            for (item, expected), answer in zip(chunk, response.json()["results"], strict=True):
                answers_by_code[answer["code"]] += 1
                if (why := mismatch(answer, expected)) is not None:
                    problems.append(f"{why}; got {answer} for {json.dumps(item)[:300]}")
        # whole bodies that are not a batch of events: refused as a request, never a 5xx
        for kind, body in BAD_BODIES:
            response = await http.post("/api/v1/events", content=body)
            statuses[response.status_code] += 1
            assert response.status_code in (413, 422), (kind, response.status_code, response.text[:300])
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["detail"], kind
    assert problems == [], f"{len(problems)} wrong answers, e.g.:\n" + "\n".join(problems[:15])
    assert not [s for s in statuses if s >= 500]
    kinds = Counter(h.kind for _, h in hostile)
    assert answers_by_code[202] == len(valid) >= 2_000
    assert answers_by_code[409] == kinds["conflict"] > 0
    assert answers_by_code[403] == kinds["cross_agency"] + kinds["agency_change"]
    assert sum(kinds.values()) + len(BAD_BODIES) >= 5_000
    # every valid event stored and assessed; no hostile one
    await wait_until(ingress.dsn, "SELECT count(*) FROM processing.events WHERE event_id ~ '^h'", len(valid))
    codes = sorted({e["dossier_code"] for e in valid})
    assessed = "SELECT count(*) FROM processing.dossiers WHERE dossier_code = ANY($1::text[]) AND status = 10"
    for _ in range(300):
        if await ingress.sql(assessed, codes) == len(codes):
            break
        await asyncio.sleep(0.2)
    assert await ingress.sql(assessed, codes) == len(codes) == 450  # each one returned (status 10)
    assert await ingress.sql("SELECT count(*) FROM processing.dossiers WHERE agency_code = $1", OTHER) == 200
    metrics = await metrics_text(ingress)
    assert counted(metrics, emitter="hostile-http", result="conflict") == kinds["conflict"]
    assert counted(metrics, emitter="hostile-http", result="accepted") == len(valid)
    print(
        f"HTTP: {len(hostile)} hostile items + {len(BAD_BODIES)} bad bodies, {len(valid)} valid; {dict(statuses)}"
    )


async def test_hostile_messages_raw_on_the_topic_are_dead_lettered_with_their_reason(
    ingress: Ingress,
) -> None:
    valid = valid_events(AGENCY, 400, datetime(2025, 4, 7, 8, tzinfo=TZ), "kv")
    hostile = [
        (pos, h)
        for pos, h in hostile_items(valid, 6_300, seed=13, foreign=FOREIGN, agencies=(AGENCY, OTHER))
        if h.on_kafka
    ]
    raw_bad = [body for _, body in BAD_BODIES if len(body) < 900_000]
    messages: list[tuple[bytes | None, bytes]] = []
    expected: dict[bytes, Hostile | None] = {}
    for item, h in interleave(valid, hostile):
        value = json.dumps(item).encode()
        key = item.get("dossier_code") if isinstance(item, dict) else None
        messages.append((key.encode() if isinstance(key, str) else None, value))
        expected[value] = h
    messages += [(None, body) for body in raw_bad]
    await produce(ingress.servers, ingress.topic, messages)

    n_dead = len(hostile) + len(raw_bad)
    dlq = Topics.dlq(ingress.topic)
    letters = [json.loads(r.value) for r in await read_topic(ingress.servers, dlq, n_dead, timeout=120)]
    assert len(letters) == n_dead
    wrong: list[str] = []
    for letter in letters:
        assert letter["reason"] and letter["kind"] in ("invalid_event", "invalid_json", "unknown_event_type")
        original = letter["original"].get("text", "").encode()
        h = expected.get(original)
        if h is None:
            assert original in raw_bad or "base64" in letter["original"], letter
            continue
        if h.field not in ("(event)", "(message)") and h.field.split(".")[-1] not in letter["reason"]:
            if "NUL" not in letter["reason"]:
                wrong.append(f"{h.kind} {h.field}: {letter['reason'][:200]}")
    assert wrong == [], "\n".join(wrong[:15])
    await wait_until(
        ingress.dsn,
        "SELECT count(*) FROM processing.events WHERE event_id LIKE 'kv%'",
        len(valid),
        timeout=120,
    )
    assert await ingress.sql("SELECT count(*) FROM processing.events WHERE event_id ~ '^h[0-9]|moved'") == 0
    print(f"Kafka: {n_dead} hostile messages dead-lettered, {len(valid)} valid events stored")


async def test_every_event_type_and_the_portal_sync_are_scoped_to_the_key(ingress: Ingress) -> None:
    """A key writes only its agencies' dossiers (agency and dossier code), and never moves one."""
    key = await two_agency_key(ingress, "scope-types")
    start = datetime(2025, 5, 5, 8, tzinfo=TZ)
    base = {"source": "scope", "procedure_code": "1.004845", "occurred_at": start.isoformat()}
    payloads = {
        "dossier.submitted": {"channel": 2},
        "dossier.accepted": {"channel": 1},
        "dossier.not_accepted": {"reason": "thiếu giấy tờ"},
        "dossier.step_completed": {"step_code": "B1", "from_unit": "MC"},
        "dossier.supplement_requested": {"reason": "bổ sung"},
        "dossier.supplement_received": {},
        "dossier.fee_requested": {"amount": "10000"},
        "dossier.fee_paid": {"amount": "10000", "online": True},
        "dossier.withdrawn": {},
        "dossier.stopped": {"reason": "dừng"},
        "dossier.resolved": {},
        "dossier.result_returned": {},
        "dossier.apology_issued": {"new_appointment_at": "2025-05-20T08:00:00+07:00"},
    }
    own = f"{AGENCY}-250505-7001"
    first = {**base, "event_id": "scope-first", "event_type": "dossier.accepted", "dossier_code": own,
             "agency_code": AGENCY, "payload": {"channel": 1}}  # fmt: skip
    batch: list[dict[str, Any]] = [first]
    expected: list[tuple[int, str]] = [(202, "")]
    for n, (event_type, payload) in enumerate(payloads.items()):
        one = {**base, "event_type": event_type, "payload": payload}
        cases = [
            ({"agency_code": FOREIGN, "dossier_code": f"{FOREIGN}-250505-{n:04d}"}, 403, "agency_code"),
            ({"agency_code": AGENCY, "dossier_code": f"{FOREIGN}-250505-{n:04d}"}, 403, "dossier_code"),
            ({"agency_code": OTHER, "dossier_code": own}, 403, "agency_code"),  # would move it
        ]
        for i, (where, code, field) in enumerate(cases):
            batch.append({**one, **where, "event_id": f"scope-{n}-{i}"})
            expected.append((code, field))
    async with httpx.AsyncClient(base_url=ingress.url, timeout=30) as http:
        answer = await http.post("/api/v1/events", json=batch, headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200
        got = [(r["code"], r["errors"][0]["field"] if r["errors"] else "") for r in answer.json()["results"]]
        assert got == expected
        moved = answer.json()["results"][3]["errors"][0]["reason"]
        assert f"belongs to agency {AGENCY!r}" in moved and "cannot move it" in moved

        # the same rules on the status-sync endpoint (MaCoQuan, MaHoSo)
        def snapshot(code: str, agency: str | None) -> dict[str, Any]:
            return {"MaHoSo": code, "MaTTHC": "1.004845", "MaCoQuan": agency, "TrangThaiHoSo": 2,
                    "KenhThucHien": 1, "NgayTiepNhan": "20250505083000", "NgayHenTra": "20250507170000"}  # fmt: skip

        portal = [
            snapshot(f"{FOREIGN}-250505-0100", FOREIGN),
            snapshot(f"{FOREIGN}-250505-0101", AGENCY),
            snapshot(own, OTHER),
            snapshot(f"{AGENCY}-250505-0102", None),
            snapshot(f"{AGENCY}-250505-0103", "3025-bad"),
        ]
        synced = await http.post(
            "/api/v1/portal-sync", json=portal, headers={"Authorization": f"Bearer {key}"}
        )
        assert synced.status_code == 200
        got = [(r["code"], r["errors"][0]["field"] if r["errors"] else "") for r in synced.json()["results"]]
        assert got == [(403, "MaCoQuan"), (403, "MaHoSo"), (403, "MaCoQuan"), (202, ""), (422, "MaCoQuan")]
        far = snapshot(f"{AGENCY}-250505-0104", None) | {"NgayTiepNhan": "30250505083000"}
        future = await http.post(
            "/api/v1/portal-sync", json=[far], headers={"Authorization": f"Bearer {key}"}
        )
        [result] = future.json()["results"]
        assert (result["code"], result["errors"][0]["field"]) == (422, "NgayTiepNhan")
    await wait_until(ingress.dsn, f"SELECT count(*) FROM processing.events WHERE dossier_code = '{own}'", 1)
    assert (
        await ingress.sql("SELECT agency_code FROM processing.dossiers WHERE dossier_code = $1", own)
        == AGENCY
    )


async def test_deep_nesting_refuses_the_request_and_the_next_batch_is_taken(ingress: Ingress) -> None:
    """Deep nesting once crashed the encoder and refused the whole batch with a 500, for ever."""
    key = await two_agency_key(ingress, "deep")
    valid = valid_events(AGENCY, 2, datetime(2025, 6, 2, 8, tzinfo=TZ), "deep-ok")
    nested: Any = "x"
    for _ in range(300):
        nested = [nested]
    poisoned = [*valid, {**valid[0], "event_id": "deep-bad", "payload": {"reason": nested}}]
    async with httpx.AsyncClient(
        base_url=ingress.url, timeout=30, headers={"Authorization": f"Bearer {key}"}
    ) as http:
        refused = await http.post("/api/v1/events", content=json.dumps(poisoned).encode())
        assert refused.status_code == 422 and "more than 9 levels" in refused.json()["detail"]
        taken = await http.post("/api/v1/events", json=valid)
        assert taken.status_code == 200 and taken.json()["accepted"] == len(valid)


async def test_conflicting_duplicates_are_answered_409_and_counted(ingress: Ingress) -> None:
    key = await two_agency_key(ingress, "conflicts")
    [event] = valid_events(AGENCY, 1, datetime(2025, 6, 3, 8, tzinfo=TZ), "conf")[:1]
    spaced = json.dumps(event, indent=2)  # the same content written differently is not a conflict
    changed = {**event, "occurred_at": "2025-06-03T09:00:00+07:00"}
    async with httpx.AsyncClient(
        base_url=ingress.url, timeout=30, headers={"Authorization": f"Bearer {key}"}
    ) as http:
        first = (await http.post("/api/v1/events", json=[event, changed, changed])).json()
        assert [(r["status"], r["code"]) for r in first["results"]] == [
            ("accepted", 202),
            ("conflict", 409),
            ("conflict", 409),
        ]
        again = (await http.post("/api/v1/events", content=f"[{spaced}]".encode())).json()
        assert [(r["status"], r["code"]) for r in again["results"]] == [("duplicate", 200)]
        later = (await http.post("/api/v1/events", json=[changed])).json()
        assert [(r["status"], r["code"]) for r in later["results"]] == [("conflict", 409)]
        assert later["conflicts"] == 1 and "accepted before" in later["results"][0]["errors"][0]["reason"]
    async with IngestClient(ingress.url, key) as client:  # the typed client reads the new answer too
        typed = await client.send_events([changed])
    assert typed["conflicts"] == 1 and typed["results"][0]["status"] == "conflict"
    metrics = await metrics_text(ingress)
    assert counted(metrics, emitter="conflicts", result="conflict", reason="in_batch") == 2
    assert counted(metrics, emitter="conflicts", result="conflict", reason="known") == 2  # http + client
    assert counted(metrics, emitter="conflicts", result="duplicate") == 1


def test_concurrent_batches_never_answer_a_5xx(ingress: Ingress) -> None:
    """Many emitters at once: 200 or 429 (with Retry-After), never a 5xx."""
    key = asyncio.run(two_agency_key(ingress, "crowd"))
    batches = [valid_events(AGENCY, 20, datetime(2025, 6, 9, 8, tzinfo=TZ), f"crowd{b}-") for b in range(24)]

    async def send() -> list[int]:
        async with httpx.AsyncClient(base_url=ingress.url, timeout=60) as http:
            answers = await asyncio.gather(
                *(
                    http.post("/api/v1/events", json=b, headers={"Authorization": f"Bearer {key}"})
                    for b in batches
                )
            )
        return [a.status_code for a in answers]

    statuses = asyncio.run(send())
    assert set(statuses) <= {200, 429} and 200 in statuses
