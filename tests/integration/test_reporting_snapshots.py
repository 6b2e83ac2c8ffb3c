"""Reports frozen at period close (issue #15) on the real PostgreSQL.

Close statutory March 2025 (15/02 → 14/03), then a late event for it arrives: the submitted
report is unchanged (same content, same hash), the live one differs by exactly that event, and
statutory April lists it as an adjustment. An officer can freeze a report on demand; a viewer
and an anonymous caller cannot; a snapshot cannot be changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from services.reporting import reports
from services.reporting.domain.periods import parse_period
from services.reporting.domain.snapshots import PROVINCE
from services.reporting.handlers import ReportingContext, handle_assessments, handle_registry_changes
from shared.auth import hash_token
from shared.db import create_pool
from tests.integration.test_reporting_service import (
    APRIL,
    COMMUNE_A,
    COMMUNE_B,
    DEPARTMENT,
    TZ,
    assessment,
    change,
    client,
    http_app,
    load,
    t,
)

pytestmark = pytest.mark.integration

STATUTORY_MARCH = {"period": "2025-03", "calendar": "statutory"}
LATE_CODE = f"{COMMUNE_B}-250310-0777"
#: accepted online on 10/03 (inside statutory March), resolved early on 11/03; assessed after the close
LATE_EVENT = assessment(
    LATE_CODE,
    COMMUNE_B,
    "1.004845",
    1,
    "early",
    channel=2,
    accepted=t(10),
    due=t(12),
    resolved=t(11),
    status=9,
    processing_working_days=1.0,
)
#: what that one dossier adds to Biểu 06 (worked out by hand): one new online dossier, resolved early
LATE_EFFECT = {"received_total": 1, "received_online": 1, "resolved_total": 1, "resolved_early": 1}


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database)
    yield p
    await p.close()


def sha256_of(doc: dict[str, Any]) -> str:
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


async def tokens(ctx: ReportingContext) -> dict[str, str]:
    made = {
        "admin": ("tthc_admin-token-0123456789abcdef", {"role": "admin"}),
        "officer": ("tthc_officer-token-commune-a-012345", {"role": "officer", "agency_code": COMMUNE_A}),
        "viewer": ("tthc_viewer-token-0123456789abcdef", {"role": "viewer"}),
    }
    await handle_registry_changes(
        ctx,
        [
            change(
                "api_token",
                hash_token(token),
                1,
                {"token_hash": hash_token(token), "subject": f"{name}@cantho.gov.vn", **extra},
            )
            for name, (token, extra) in made.items()
        ],
    )
    return {name: token for name, (token, _) in made.items()}


async def test_a_late_event_leaves_the_submitted_report_and_becomes_an_adjustment(
    pool: asyncpg.Pool, database: str
) -> None:
    ctx = await load(pool)
    app = http_app(pool, database, APRIL)
    async with client(app) as c:
        before = (await c.get("/api/v1/reports/form06", params=STATUTORY_MARCH)).json()
        missing = await c.get("/api/v1/reports/form06", params=STATUTORY_MARCH | {"as": "submitted"})
    assert missing.status_code == 404 and "POST /api/v1/reports/snapshots" in missing.json()["detail"]

    # 10/04: statutory March (and Q1, 15/12 → 14/03) has ended; April (15/03 → 14/04) has not
    made = await reports.close_periods(pool, TZ, APRIL, "statutory", 15)
    assert set(made) == {
        f"{r} statutory {p}"
        for r in ("form06", "qms-status", "indicators", "index766")
        for p in ("2025-03", "2025-Q1")
    }
    assert await reports.close_periods(pool, TZ, APRIL, "statutory", 15) == []  # once

    await handle_assessments(ctx, [LATE_EVENT])  # arrives after the close

    async with client(app) as c:
        submitted = (
            await c.get("/api/v1/reports/form06", params=STATUTORY_MARCH | {"as": "submitted"})
        ).json()
        live = (await c.get("/api/v1/reports/form06", params=STATUTORY_MARCH)).json()
        april = (
            await c.get("/api/v1/reports/form06", params={"period": "2025-04", "calendar": "statutory"})
        ).json()
        commune = (
            await c.get(
                "/api/v1/reports/form06", params=STATUTORY_MARCH | {"as": "submitted", "agency": COMMUNE_B}
            )
        ).json()
        ind = (await c.get("/api/v1/reports/indicators", params=STATUTORY_MARCH | {"as": "submitted"})).json()
        xlsx = await c.get(
            "/api/v1/reports/form06", params=STATUTORY_MARCH | {"as": "submitted", "format": "xlsx"}
        )

    meta = submitted.pop("submission")
    assert submitted == before  # the submitted report is the report as it was at the close
    assert meta["content_sha256"] == sha256_of(before)
    assert meta["reason"] == "period_close" and meta["made_by"] == "system"
    assert meta["made_at"] == APRIL.isoformat()
    # the live report differs by exactly the late dossier
    diff = {k: live["totals"][k] - before["totals"][k] for k in before["totals"]}
    assert {k: v for k, v in diff.items() if v} == LATE_EFFECT
    assert meta["difference"] == LATE_EFFECT
    assert [d["dossier_code"] for d in meta["late"]] == [LATE_CODE]
    # … and statutory April carries it as an adjustment of March
    adj = april["adjustments"]
    assert adj["period"] == "2025-03" and adj["content_sha256"] == meta["content_sha256"]
    assert [d["dossier_code"] for d in adj["dossiers"]] == [LATE_CODE]
    assert adj["difference"] == LATE_EFFECT
    # each agency has its own snapshot; the commune's shows the same late dossier
    assert commune["submission"]["agency"] == COMMUNE_B
    assert [d["dossier_code"] for d in commune["submission"]["late"]] == [LATE_CODE]
    assert [d["dossier_code"] for d in ind["submission"]["late"]] == [LATE_CODE]
    assert xlsx.status_code == 200  # the printed form of the submitted report

    # immutable
    with pytest.raises(asyncpg.RaiseError, match="immutable"):
        await pool.execute("UPDATE reporting.report_snapshots SET content = '{}'::jsonb")
    with pytest.raises(asyncpg.RaiseError, match="immutable"):
        await pool.execute("DELETE FROM reporting.report_snapshots")


#: what the late dossier adds to the Decision 766 measures (by hand: one dossier received online
#: in the period, resolved early, so on time by the legal clock and by the index's own clock)
LATE_EFFECT_766 = {
    "received": 1,
    "received_online": 1,
    "resolved": 1,
    "resolved_on_time": 1,
    "resolved_index_on_time": 1,
}


async def test_a_late_event_leaves_the_submitted_decision_766_index_and_changes_the_live_one(
    pool: asyncpg.Pool,
) -> None:
    ctx = await load(pool)
    march = reports.bounds(parse_period("2025-03", "statutory", 15), TZ, APRIL)
    async with pool.acquire() as conn:
        before = await reports.index766_report(conn, march, None, None)
        assert await reports.submitted(conn, "index766", march, PROVINCE, None) is None

    made = await reports.close_periods(pool, TZ, APRIL, "statutory", 15)
    assert "index766 statutory 2025-03" in made
    await handle_assessments(ctx, [LATE_EVENT])  # arrives after the close

    async with pool.acquire() as conn:
        submitted = await reports.submitted(conn, "index766", march, PROVINCE, None)
        live = await reports.index766_report(conn, march, None, None)
        commune = await reports.submitted(conn, "index766", march, COMMUNE_B, [COMMUNE_B])
    assert submitted is not None and commune is not None
    meta = submitted.pop("submission")
    assert submitted == before  # the index as it was at the close, points and ranks included
    assert meta["content_sha256"] == sha256_of(before) and meta["reason"] == "period_close"
    assert meta["report"] == "index766"
    # the live index moved by exactly the late dossier, and says so
    was, now = before["totals"]["measures"], live["totals"]["measures"]
    assert {k: now[k] - was[k] for k in was if now[k] != was[k]} == LATE_EFFECT_766
    assert meta["difference"] == LATE_EFFECT_766
    assert [d["dossier_code"] for d in meta["late"]] == [LATE_CODE]
    assert commune["submission"]["agency"] == COMMUNE_B
    assert [d["dossier_code"] for d in commune["submission"]["late"]] == [LATE_CODE]


async def test_the_submitted_decision_766_index_is_read_over_http(pool: asyncpg.Pool, database: str) -> None:
    ctx = await load(pool)
    app = http_app(pool, database, APRIL)
    url = "/api/v1/reports/index766"
    async with client(app) as c:
        before = (await c.get(url, params=STATUTORY_MARCH)).json()
        missing = await c.get(url, params=STATUTORY_MARCH | {"as": "submitted"})
    assert missing.status_code == 404 and "POST /api/v1/reports/snapshots" in missing.json()["detail"]

    await reports.close_periods(pool, TZ, APRIL, "statutory", 15)
    await handle_assessments(ctx, [LATE_EVENT])  # arrives after the close

    async with client(app) as c:
        answer = await c.get(url, params=STATUTORY_MARCH | {"as": "submitted"})
        live = (await c.get(url, params=STATUTORY_MARCH | {"as": "live"})).json()
        april = (await c.get(url, params={"period": "2025-04", "calendar": "statutory"})).json()
        commune = (await c.get(url, params=STATUTORY_MARCH | {"as": "submitted", "agency": COMMUNE_B})).json()
        xlsx = await c.get(url, params=STATUTORY_MARCH | {"as": "submitted", "format": "xlsx"})
    assert answer.status_code == 200, answer.text
    submitted = answer.json()
    meta = submitted.pop("submission")
    assert submitted == before  # the index an officer read before the close, points and ranks included
    assert meta["report"] == "index766" and meta["reason"] == "period_close"
    assert meta["content_sha256"] == sha256_of(before)
    assert meta["difference"] == LATE_EFFECT_766
    assert [d["dossier_code"] for d in meta["late"]] == [LATE_CODE]
    # the live index moved by exactly the late dossier
    was, now = before["totals"]["measures"], live["totals"]["measures"]
    assert {k: now[k] - was[k] for k in was if now[k] != was[k]} == LATE_EFFECT_766
    # statutory April carries it as an adjustment of March, like the other event reports
    adj = april["adjustments"]
    assert adj["period"] == "2025-03" and adj["content_sha256"] == meta["content_sha256"]
    assert adj["difference"] == LATE_EFFECT_766
    assert commune["submission"]["agency"] == COMMUNE_B
    assert [d["dossier_code"] for d in commune["submission"]["late"]] == [LATE_CODE]
    assert xlsx.status_code == 200  # the printed form of the submitted index


async def test_an_officer_freezes_a_report_on_demand_audited(pool: asyncpg.Pool, database: str) -> None:
    ctx = await load(pool)
    tok = await tokens(ctx)
    app = http_app(pool, database, APRIL)
    body = {"report": "form06", "period": "2025-03", "calendar": "statutory"}
    async with client(app) as c:
        assert (await c.post("/api/v1/reports/snapshots", json=body)).status_code == 401
    async with client(app, tok["viewer"]) as c:
        assert (await c.post("/api/v1/reports/snapshots", json=body)).status_code == 403
    async with client(app, tok["officer"]) as c:
        foreign = await c.post("/api/v1/reports/snapshots", json=body | {"agency": DEPARTMENT})
        assert foreign.status_code == 403
        made = await c.post("/api/v1/reports/snapshots", json=body)
        assert made.status_code == 201, made.text
        live = (await c.get("/api/v1/reports/form06", params=STATUTORY_MARCH)).json()
        submitted = (
            await c.get("/api/v1/reports/form06", params=STATUTORY_MARCH | {"as": "submitted"})
        ).json()
        listed = (await c.get("/api/v1/reports/snapshots", params=STATUTORY_MARCH)).json()
    snap = made.json()
    assert snap["made_by"] == "officer@cantho.gov.vn" and snap["reason"] == "on_demand"
    assert snap["agency"] == COMMUNE_A  # an officer freezes its own subtree
    meta = submitted.pop("submission")
    assert submitted == live and meta["content_sha256"] == sha256_of(live) == snap["content_sha256"]
    assert meta["late"] == [] and meta["difference"] == {}
    assert [(s["report"], s["agency"], s["made_by"]) for s in listed["snapshots"]] == [
        ("form06", COMMUNE_A, "officer@cantho.gov.vn")
    ]
    # a second "chốt số liệu" after a late event becomes the submitted report
    await handle_assessments(
        ctx,
        [
            assessment(
                f"{COMMUNE_A}-250311-0001",
                COMMUNE_A,
                "1.004845",
                1,
                "pending_within",
                accepted=t(11),
                due=t(20),
            )
        ],
    )
    async with client(app, tok["admin"]) as c:
        again = await c.post("/api/v1/reports/snapshots", json=body | {"agency": COMMUNE_A})
        second = (
            await c.get(
                "/api/v1/reports/form06", params=STATUTORY_MARCH | {"as": "submitted", "agency": COMMUNE_A}
            )
        ).json()
    assert again.status_code == 201 and again.json()["id"] > snap["id"]
    assert (
        second["submission"]["id"] == again.json()["id"]
        and second["submission"]["made_by"] == "admin@cantho.gov.vn"
    )
    assert second["totals"]["received_total"] == submitted["totals"]["received_total"] + 1
