"""Reporting on the real PostgreSQL (and, for the replay, the real broker).

A small province: a provincial committee, a department and two communes; three procedures,
one of which reaches the registry feed only after its dossiers; eight dossiers with several
revisions each. Expected Biểu 06 numbers are worked out by hand in the comments.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from openpyxl import load_workbook

from services.reporting.bootstrap import create_app
from services.reporting.entrypoints.access import token_lookup
from services.reporting.handlers import ReportingContext, handle_assessments, handle_registry_changes
from services.reporting.settings import ReportingSettings
from shared.auth import BearerAuth, hash_token
from shared.db import create_pool
from shared.kafka import TopicSpec, ensure_topics
from shared.runtime import Resources
from shared.settings import Topics
from tests.conftest import Infra, create_database

pytestmark = pytest.mark.integration

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PROVINCE, DEPARTMENT, COMMUNE_A, COMMUNE_B = (
    "000.00.00.H13",
    "000.00.13.H13",
    "000.20.13.H13",
    "000.21.13.H13",
)


def t(day: int, hour: int = 9, minute: int = 0, month: int = 3) -> str:
    return datetime(2025, month, day, hour, minute, tzinfo=TZ).isoformat()


def change(
    entity: str, entity_id: str, version: int, data: dict[str, Any] | None, deleted: bool = False
) -> bytes:
    return json.dumps(
        {
            "entity": entity,
            "entity_id": entity_id,
            "version": version,
            "deleted": deleted,
            "changed_at": "2025-01-01T00:00:00+07:00",
            "data": data,
        }
    ).encode()


def agency(code: str, name: str, level: str, parent: str | None, obligation: str = "mandatory") -> bytes:
    return change(
        "agency",
        code,
        1,
        {"code": code, "name": name, "parent_code": parent, "level": level, "iso_obligation": obligation},
    )


def procedure(code: str, field: str, version: int = 1) -> bytes:
    return change(
        "procedure",
        code,
        version,
        {
            "code": code,
            "name": f"Thủ tục {code}",
            "field": field,
            "statutory_time": {"value": "2", "unit": "working_days"},
        },
    )


REGISTRY_FIRST = [
    agency(PROVINCE, "UBND thành phố Cần Thơ", "province", None),
    agency(DEPARTMENT, "Sở Tư pháp", "department", PROVINCE),
    agency(COMMUNE_A, "UBND phường An Hòa", "commune", PROVINCE, "encouraged"),
    agency(COMMUNE_B, "UBND xã Mỹ Khánh", "commune", PROVINCE, "encouraged"),
    procedure("1.004845", "Hộ tịch"),
    procedure("1.001612", "Đất đai"),
]
LATE_PROCEDURE = procedure("2.000815", "Chứng thực")  # published after its dossiers were assessed


def assessment(
    code: str,
    agency_code: str,
    procedure_code: str,
    revision: int,
    outcome: str | None,
    *,
    channel: int | None = 2,
    accepted: str | None,
    due: str | None,
    resolved: str | None = None,
    closed: str | None = None,
    status: int = 2,
    ncs: tuple[dict[str, Any], ...] = (),
    **extra: Any,
) -> bytes:
    doc = {
        "kind": "dossier.assessed",
        "dossier_code": code,
        "agency_code": agency_code,
        "procedure_code": procedure_code,
        "revision": revision,
        "status": status,
        "outcome": outcome,
        "channel": channel,
        "accepted_at": accepted,
        "due_at": due,
        "index_due_at": due,
        "resolved_at": resolved,
        "closed_at": closed or resolved,
        "in_scope": True,
        "nonconformities": list(ncs),
        "assessed_at": "2025-04-01T00:00:00+07:00",
        **extra,
    }
    return json.dumps(doc, ensure_ascii=False).encode()


def nc(code: str, when: str, status: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "code": code,
        "clause": "8.7",
        "detected_at": when,
        "evidence": ["e1"],
        "detail": code,
    }
    if status:
        out["status"] = status
    return out


STEPS = [
    {
        "event_id": "s1",
        "step_code": "TN",
        "unit": "Bộ phận một cửa",
        "to_unit": "Phòng Hộ tịch",
        "received_at": t(3, 9),
        "handed_over_at": t(3, 10),
        "budget": {"value": "4", "unit": "working_hours"},
        "due_at": t(3, 13, 30),
        "status": "early",
    },
    {
        "event_id": "s2",
        "step_code": "XL",
        "unit": "Phòng Hộ tịch",
        "to_unit": "Bộ phận một cửa",
        "received_at": t(3, 10),
        "handed_over_at": t(5, 8, 30),
        "budget": {"value": "1", "unit": "working_days"},
        "due_at": t(4, 10),
        "status": "late",
    },
]

# Eight dossiers; the hand-worked March 2025 Biểu 06 is in EXPECTED_MARCH.
COMPLIANCE = [
    # department: D1 online, early; D2 in person, on time (with its control slip); D8 online, early
    assessment(f"{DEPARTMENT}-1", DEPARTMENT, "1.004845", 1, "pending_within", accepted=t(3), due=t(5)),
    assessment(
        f"{DEPARTMENT}-1",
        DEPARTMENT,
        "1.004845",
        2,
        "early",
        accepted=t(3),
        due=t(5),
        resolved=t(4),
        status=9,
        processing_working_days=1.0,
    ),
    assessment(
        f"{DEPARTMENT}-2",
        DEPARTMENT,
        "1.004845",
        2,
        "on_time",
        channel=1,
        accepted=t(3),
        due=t(5),
        resolved=t(5, 8, 30),
        status=9,
        steps=STEPS,
        processing_working_days=2.0,
    ),
    assessment(
        f"{DEPARTMENT}-2", DEPARTMENT, "1.004845", 1, "pending_within", channel=1, accepted=t(3), due=t(5)
    ),
    assessment(
        f"{DEPARTMENT}-8",
        DEPARTMENT,
        "1.004845",
        1,
        "early",
        accepted=t(14, 10),
        due=t(18),
        resolved=t(17),
        status=9,
    ),
    # commune A: D3 postal, late, its LATE nonconformity later under corrective action; D4 online, overdue
    assessment(
        f"{COMMUNE_A}-3", COMMUNE_A, "1.001612", 1, "pending_within", channel=3, accepted=t(10), due=t(12)
    ),
    assessment(
        f"{COMMUNE_A}-3",
        COMMUNE_A,
        "1.001612",
        2,
        "late",
        channel=3,
        accepted=t(10),
        due=t(12),
        resolved=t(13),
        status=9,
        ncs=(nc("LATE", t(13)),),
    ),
    assessment(
        f"{COMMUNE_A}-3",
        COMMUNE_A,
        "1.001612",
        3,
        "late",
        channel=3,
        accepted=t(10),
        due=t(12),
        resolved=t(13),
        status=9,
        ncs=(nc("LATE", t(13), "corrective_action"),),
    ),
    assessment(
        f"{COMMUNE_A}-4",
        COMMUNE_A,
        "1.001612",
        1,
        "pending_overdue",
        accepted=t(20),
        due=t(24),
        ncs=(nc("OVERDUE", t(24)),),
        index_outcome="pending_overdue",
    ),
    # commune B: D5 accepted in February, resolved late in March (carried over); D6 withdrawn; D7 refused
    assessment(
        f"{COMMUNE_B}-5",
        COMMUNE_B,
        "2.000815",
        1,
        "pending_within",
        accepted=t(25, month=2),
        due=t(27, month=2),
    ),
    assessment(
        f"{COMMUNE_B}-5",
        COMMUNE_B,
        "2.000815",
        2,
        "late",
        accepted=t(25, month=2),
        due=t(27, month=2),
        resolved=t(5),
        status=9,
    ),
    assessment(
        f"{COMMUNE_B}-6",
        COMMUNE_B,
        "2.000815",
        1,
        "withdrawn",
        channel=1,
        accepted=t(5),
        due=t(7),
        closed=t(6),
        status=7,
    ),
    assessment(
        f"{COMMUNE_B}-7",
        COMMUNE_B,
        "2.000815",
        1,
        "not_accepted",
        accepted=None,
        due=None,
        closed=t(5),
        status=3,
    ),
    b"{not json",  # skipped, counted, never blocks the batch
]


def row(agency_code: str, **counts: int) -> dict[str, Any]:
    keys = (
        "received_total",
        "received_online",
        "received_offline",
        "carried_over",
        "resolved_total",
        "resolved_early",
        "resolved_on_time",
        "resolved_late",
        "pending_total",
        "pending_within",
        "pending_overdue",
    )
    return {"agency_code": agency_code, **{k: counts.get(k, 0) for k in keys}}


EXPECTED_MARCH = [
    row(
        DEPARTMENT,
        received_total=3,
        received_online=2,
        received_offline=1,
        resolved_total=3,
        resolved_early=2,
        resolved_on_time=1,
    ),
    row(
        COMMUNE_A,
        received_total=2,
        received_online=1,
        received_offline=1,
        resolved_total=1,
        resolved_late=1,
        pending_total=1,
        pending_overdue=1,
    ),
    row(COMMUNE_B, received_total=2, carried_over=1, received_offline=1, resolved_total=1, resolved_late=1),
]


async def load(pool: asyncpg.Pool, *, late_procedure: bool = True) -> ReportingContext:
    ctx = ReportingContext(pool, TZ)
    await handle_registry_changes(ctx, REGISTRY_FIRST)
    await handle_assessments(ctx, COMPLIANCE[:7])
    await handle_assessments(ctx, COMPLIANCE[7:])
    await handle_assessments(ctx, COMPLIANCE)  # a redelivery changes nothing
    if late_procedure:
        await handle_registry_changes(ctx, [LATE_PROCEDURE])
    return ctx


def http_app(pool: asyncpg.Pool, dsn: str, now: datetime, **settings: Any) -> FastAPI:
    """The reporting app without its consumers: the HTTP side over an already filled database."""
    settings.setdefault("reporting_require_token", False)  # these tests read the reports themselves
    s = ReportingSettings(database_url=dsn, kafka_bootstrap_servers="127.0.0.1:9", **settings)
    app = create_app(s, clock=lambda: now)
    app.state.resources = Resources(pool, None)  # type: ignore[arg-type]
    app.state.auth = BearerAuth(token_lookup(pool))
    return app


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database)
    yield p
    await p.close()


def client(app: FastAPI, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://reporting", headers=headers
    )


APRIL = datetime(2025, 4, 10, 12, tzinfo=TZ)


async def test_form06_by_agency_level_and_field(pool: asyncpg.Pool, database: str) -> None:
    await load(pool)
    async with client(http_app(pool, database, APRIL)) as c:
        march = (await c.get("/api/v1/reports/form06", params={"period": "2025-03"})).json()
        assert march["rows"] == EXPECTED_MARCH
        assert march["totals"] == {
            "received_total": 7,
            "received_online": 3,
            "received_offline": 3,
            "carried_over": 1,
            "resolved_total": 5,
            "resolved_early": 2,
            "resolved_on_time": 1,
            "resolved_late": 2,
            "pending_total": 1,
            "pending_within": 0,
            "pending_overdue": 1,
        }
        assert [(g["level"], g["agencies"]) for g in march["groups"]] == [
            ("department", [DEPARTMENT]),
            ("commune", [COMMUNE_A, COMMUNE_B]),
        ]
        # the late procedure's counts were re-booked from "unknown field" to its field
        assert [f["field"] for f in march["fields"]] == ["Chứng thực", "Hộ tịch", "Đất đai"]

        # one commune, by its code; the province by its root code covers the whole subtree
        one = (
            await c.get("/api/v1/reports/form06", params={"period": "2025-03", "agency": COMMUNE_A})
        ).json()
        assert one["rows"] == [EXPECTED_MARCH[1]]
        whole = (
            await c.get("/api/v1/reports/form06", params={"period": "2025-03", "agency": PROVINCE})
        ).json()
        assert whole["totals"] == march["totals"]

        # statutory March = 15/2 → 14/3: D8 (accepted 14/3) is in, D5 (accepted 25/2) is new, not carried
        stat = (
            await c.get("/api/v1/reports/form06", params={"period": "2025-03", "calendar": "statutory"})
        ).json()
        assert stat["period"] == {
            "label": "2025-03",
            "calendar": "statutory",
            "first": "2025-02-15",
            "last": "2025-03-14",
        }
        assert stat["totals"]["carried_over"] == 0
        assert stat["totals"]["received_total"] == 6  # D4 (20/3) falls in the next period
        assert stat["totals"]["pending_total"] == 1  # D8, resolved on 17/3
        # April: D4 carried over and still pending overdue
        april = (await c.get("/api/v1/reports/form06", params={"period": "2025-04"})).json()
        assert april["totals"] | {} == dict(march["totals"]) | {
            "received_total": 1,
            "received_online": 0,
            "received_offline": 0,
            "carried_over": 1,
            "resolved_total": 0,
            "resolved_early": 0,
            "resolved_on_time": 0,
            "resolved_late": 0,
            "pending_total": 1,
            "pending_within": 0,
            "pending_overdue": 1,
        }


@pytest.mark.parametrize(
    ("now", "overdue"), [(datetime(2025, 3, 24, 8, tzinfo=TZ), 0), (datetime(2025, 3, 24, 10, tzinfo=TZ), 1)]
)
async def test_running_period_judges_pending_at_this_moment(
    pool: asyncpg.Pool, database: str, now: datetime, overdue: int
) -> None:
    await load(pool)
    async with client(http_app(pool, database, now)) as c:
        doc = (
            await c.get("/api/v1/reports/form06", params={"period": "2025-03", "agency": COMMUNE_A})
        ).json()
    assert doc["as_of"] == now.isoformat()
    assert (doc["totals"]["pending_total"], doc["totals"]["pending_overdue"]) == (1, overdue)


async def test_exports_open_cleanly_with_vietnamese_headings(pool: asyncpg.Pool, database: str) -> None:
    await load(pool)
    async with client(http_app(pool, database, APRIL)) as c:
        xlsx = await c.get("/api/v1/reports/form06", params={"period": "2025-03", "format": "xlsx"})
        csv_ = await c.get("/api/v1/reports/form06", params={"period": "2025-03", "format": "csv"})
        for name in ("qms-status", "indicators", "nonconformities"):
            for fmt in ("csv", "xlsx"):
                r = await c.get(f"/api/v1/reports/{name}", params={"period": "2025-03", "format": fmt})
                assert r.status_code == 200, (name, fmt, r.text)
                if fmt == "xlsx":
                    load_workbook(io.BytesIO(r.content))
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(xlsx.content))
    assert wb.sheetnames == ["Biểu 06", "Theo cơ quan"]
    form = wb["Biểu 06"]
    assert form["A1"].value == "Biểu số 06/VPCP/KSTT"
    assert form["C6"].value == "Số hồ sơ nhận giải quyết" and form["G6"].value == "Kết quả giải quyết"
    labels = [form.cell(row=r, column=2).value for r in range(10, form.max_row + 1)]
    assert labels[:3] == ["TỔNG CỘNG", "Sở, ban, ngành cấp tỉnh", "Lĩnh vực Hộ tịch"]
    assert [form.cell(row=10, column=c).value for c in range(3, 14)] == [7, 1, 3, 3, 5, 2, 1, 2, 1, 0, 1]
    by_agency = wb["Theo cơ quan"]
    assert any(
        "Sở Tư pháp" in str(by_agency.cell(row=r, column=2).value) for r in range(10, by_agency.max_row + 1)
    )
    text = csv_.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("Cấp,Mã cơ quan,Tên cơ quan,Tổng số hồ sơ nhận giải quyết")
    assert text.splitlines()[-1].startswith(",,Tổng cộng,7,1,3,3,5,2,1,2,1,0,1")


async def test_indicators_and_nonconformity_register(pool: asyncpg.Pool, database: str) -> None:
    await load(pool)
    async with client(http_app(pool, database, APRIL)) as c:
        ind = (await c.get("/api/v1/reports/indicators", params={"period": "2025-03"})).json()
        reg = (await c.get("/api/v1/reports/nonconformities", params={"period": "2025-03"})).json()
        late = (
            await c.get(
                "/api/v1/reports/nonconformities",
                params={"period": "2025-03", "code": "LATE", "status": "corrective_action"},
            )
        ).json()
        closed = (
            await c.get("/api/v1/reports/nonconformities", params={"period": "2025-03", "status": "closed"})
        ).json()
    assert ind["totals"]["on_time_rate"] == 0.6  # 3 of 5 resolved early or on time
    assert ind["totals"]["online_rate"] == 0.5  # 3 of 6 newly received
    assert ind["totals"]["average_processing_working_days"] == 1.5
    dept = next(r for r in ind["rows"] if r["agency_code"] == DEPARTMENT)
    assert dept["on_time_rate"] == 1.0 and dept["on_time_rate_index"] == 1.0 and dept["level"] == "department"
    assert reg["total"] == 2
    assert reg["by_code_and_status"] == [
        {"code": "LATE", "status": "corrective_action", "n": 1},
        {"code": "OVERDUE", "status": "open", "n": 1},
    ]
    assert [i["dossier_code"] for i in late["items"]] == [f"{COMMUNE_A}-3"]
    assert closed["items"] == []


async def test_qms_status_counts_the_registry_copy(pool: asyncpg.Pool, database: str) -> None:
    ctx = await load(pool)
    qms = [
        change(
            "qms",
            PROVINCE,
            1,
            {
                "agency_code": PROVINCE,
                "state": "updating",
                "transitions": [
                    {"state": "announced", "on": "2019-06-01"},
                    {"state": "updating", "on": "2021-02-01"},
                ],
                "objectives": [{"year": 2025, "metric": "on_time_rate", "target": "0.98"}],
            },
        ),
        change(
            "qms",
            DEPARTMENT,
            2,
            {
                "agency_code": DEPARTMENT,
                "state": "reannounced",
                "transitions": [
                    {"state": "announced", "on": "2019-06-01"},
                    {"state": "updating", "on": "2021-01-05"},
                    {"state": "reannounced", "on": "2021-05-01"},
                ],
                "reviews": [
                    {"kind": "internal_audit", "held_on": "2021-03-01"},
                    {"kind": "management_review", "held_on": "2021-06-01"},
                ],
                "objectives": [{"year": 2021, "metric": "on_time_rate", "target": "0.98"}],
            },
        ),
        change("qms", DEPARTMENT, 1, {"agency_code": DEPARTMENT, "state": "building"}),  # older: ignored
        change(
            "qms",
            COMMUNE_A,
            1,
            {
                "agency_code": COMMUNE_A,
                "state": "announced",
                "transitions": [{"state": "announced", "on": "2020-06-01"}],
            },
        ),
    ]
    await handle_registry_changes(ctx, qms)
    async with client(http_app(pool, database, APRIL)) as c:
        doc = (await c.get("/api/v1/reports/qms-status", params={"period": "2021-H1"})).json()
        objectives_2025 = (await c.get("/api/v1/reports/qms-status", params={"period": "2025"})).json()
    assert {
        k: doc[k]
        for k in (
            "agencies_total",
            "announced",
            "mandatory",
            "encouraged",
            "updating_or_expanding",
            "reannounced",
            "reviewing",
        )
    } == {
        "agencies_total": 4,
        "announced": 3,
        "mandatory": 2,
        "encouraged": 2,
        "updating_or_expanding": 2,
        "reannounced": 1,
        "reviewing": 1,
    }
    assert (doc["internal_audits"], doc["management_reviews"]) == (1, 1)
    assert (doc["mandatory_announced"], doc["encouraged_announced"]) == (2, 1)
    # the province has no dossiers of its own: its objective is set but not measured
    assert objectives_2025["quality_objectives"] | {"agencies": []} == {
        "set": 1,
        "measured": 0,
        "attained": 0,
        "agencies": [],
    }


async def test_officer_sees_its_agency_subtree_only(pool: asyncpg.Pool, database: str) -> None:
    ctx = await load(pool)
    officer, viewer = "tthc_officer-token-of-commune-a-0123456789", "tthc_viewer-token-0123456789abcdef"
    await handle_registry_changes(
        ctx,
        [
            change(
                "api_token",
                hash_token(officer),
                1,
                {
                    "token_hash": hash_token(officer),
                    "subject": "a@x.vn",
                    "role": "officer",
                    "agency_code": COMMUNE_A,
                },
            ),
            change(
                "api_token",
                hash_token(viewer),
                1,
                {"token_hash": hash_token(viewer), "subject": "v@x.vn", "role": "viewer"},
            ),
        ],
    )
    app = http_app(pool, database, APRIL, reporting_require_token=True)
    async with client(app, officer) as c:
        mine = (await c.get("/api/v1/reports/form06", params={"period": "2025-03"})).json()
        assert mine["rows"] == [EXPECTED_MARCH[1]]
        other = await c.get("/api/v1/reports/form06", params={"period": "2025-03", "agency": DEPARTMENT})
        assert other.status_code == 403 and "subtree" in other.json()["detail"]
        ncs = (await c.get("/api/v1/reports/nonconformities", params={"period": "2025-03"})).json()
        assert {i["agency_code"] for i in ncs["items"]} == {COMMUNE_A}
        # the dashboard answers 404 outside the subtree, as for a code that does not exist (no oracle)
        assert (
            await c.get(f"/dashboard/agency/{DEPARTMENT}", params={"period": "2025-03"})
        ).status_code == 404
        assert (await c.get(f"/dashboard/dossier/{DEPARTMENT}-2")).status_code == 404
        assert (await c.get(f"/dashboard/dossier/{COMMUNE_A}-3")).status_code == 200
    async with client(app, viewer) as c:
        everything = (await c.get("/api/v1/reports/form06", params={"period": "2025-03"})).json()
        assert len(everything["rows"]) == 3
    async with client(app) as c:
        anonymous = await c.get("/api/v1/reports/form06", params={"period": "2025-03"})
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer")
    async with client(app, "tthc_unknown-token-0123456789abcdef") as c:
        assert (await c.get("/api/v1/reports/form06", params={"period": "2025-03"})).status_code == 401
    # revoked on the feed → refused
    await handle_registry_changes(ctx, [change("api_token", hash_token(officer), 2, None, deleted=True)])
    async with client(app, officer) as c:
        assert (await c.get("/api/v1/reports/form06", params={"period": "2025-03"})).status_code == 401


async def test_a_field_change_rebooks_counts_and_matches_a_fresh_load(
    pool: asyncpg.Pool, database: str, infra: Infra
) -> None:
    ctx = await load(pool)
    await handle_registry_changes(
        ctx, [procedure("2.000815", "Hộ tịch", version=2), procedure("2.000815", "x", 1)]
    )
    other_dsn = await create_database(infra)
    other = await create_pool(other_dsn)
    try:
        ctx2 = ReportingContext(other, TZ)
        await handle_registry_changes(ctx2, [*REGISTRY_FIRST, procedure("2.000815", "Hộ tịch", version=2)])
        await handle_assessments(ctx2, COMPLIANCE)
        assert await rollup_state(pool) == await rollup_state(other)
    finally:
        await other.close()
    async with client(http_app(pool, database, APRIL)) as c:
        march = (await c.get("/api/v1/reports/form06", params={"period": "2025-03"})).json()
    assert [f["field"] for f in march["fields"]] == ["Hộ tịch", "Đất đai"]


async def rollup_state(pool: asyncpg.Pool) -> dict[str, list[tuple[Any, ...]]]:
    """Every non-zero rollup row and every fact, in a fixed order."""
    from services.reporting.domain.rollup import COUNTERS

    nonzero = " OR ".join(f"{c} <> 0" for c in COUNTERS)
    async with pool.acquire() as conn:
        return {
            "field": [
                tuple(r)
                for r in await conn.fetch(
                    f"SELECT * FROM reporting.field_rollup WHERE {nonzero} ORDER BY 1, 2, 3, 4"
                )
            ],
            "daily": [
                tuple(r)
                for r in await conn.fetch(
                    f"SELECT * FROM reporting.daily_rollup WHERE {nonzero} ORDER BY 1, 2, 3"
                )
            ],
            "nc": [
                tuple(r)
                for r in await conn.fetch(
                    "SELECT * FROM reporting.nonconformity_rollup WHERE n <> 0 ORDER BY 1, 2, 3, 4, 5"
                )
            ],
            "facts": [
                tuple(r)
                for r in await conn.fetch(
                    "SELECT dossier_code, revision, outcome FROM reporting.dossier_facts ORDER BY 1"
                )
            ],
        }


# --- replay through the real broker --------------------------------------------------------------


async def produce(servers: str, topic: str, messages: list[bytes], key: Callable[[bytes], bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=servers)
    await producer.start()
    try:
        for m in messages:
            await producer.send_and_wait(topic, m, key=key(m))
    finally:
        await producer.stop()


def compliance_key(m: bytes) -> bytes:
    try:
        return str(json.loads(m)["dossier_code"]).encode()
    except ValueError:
        return b"garbage"


def registry_key(m: bytes) -> bytes:
    d = json.loads(m)
    return f"{d['entity']}:{d['entity_id']}".encode()


REPORT_QUERIES = [
    "/api/v1/reports/form06?period=2025-03",
    "/api/v1/reports/form06?period=2025-Q1&calendar=statutory",
    "/api/v1/reports/form06?period=2025&format=csv",
    "/api/v1/reports/indicators?period=2025-03",
    "/api/v1/reports/nonconformities?period=2025",
    "/api/v1/reports/qms-status?period=2025",
]


async def run_until_converged(
    settings: ReportingSettings, then: Callable[[], Any] | None = None
) -> dict[str, bytes]:
    app = create_app(settings, clock=lambda: APRIL)
    async with app.router.lifespan_context(app):
        pool: asyncpg.Pool = app.state.resources.pool
        if then is not None:
            await wait_for(pool, procedures=2)
            await then()
        await wait_for(pool, procedures=3)
        async with client(app) as c:
            return {q: (await c.get(q)).content for q in REPORT_QUERIES}


async def wait_for(pool: asyncpg.Pool, procedures: int, timeout: float = 30) -> None:
    """Until every dossier is at its last revision (8 dossiers, 13 revisions) and the procedures are in."""
    deadline = time.monotonic() + timeout
    state: tuple[Any, ...] = ()
    while time.monotonic() < deadline:
        async with pool.acquire() as conn:
            state = tuple(
                await conn.fetchrow(
                    "SELECT (SELECT count(*) FROM reporting.dossier_facts) AS facts, "
                    "(SELECT coalesce(sum(revision), 0) FROM reporting.dossier_facts) AS revisions, "
                    "(SELECT count(*) FROM reporting.procedures) AS procedures"
                )
            )
        if state == (8, 13, procedures):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"reporting did not converge: (facts, revisions, procedures) = {state}")


async def test_replaying_both_topics_from_offset_zero_gives_identical_reports(
    infra: Infra, unique: str
) -> None:
    topics = Topics(
        compliance=f"test.compliance.{unique}",
        registry=f"test.registry.{unique}",
        dossier_events=f"test.events.{unique}",  # reporting's Decision 766 consumer: never the shared default
    )
    base = dict(
        kafka_bootstrap_servers=infra.bootstrap_servers,
        topics=topics,
        kafka_session_timeout_ms=3000,
        kafka_heartbeat_interval_ms=1000,
        reporting_gauges_interval_s=3600,
        reporting_require_token=False,
    )
    common = ReportingSettings(**base)  # type: ignore[arg-type]
    await ensure_topics(
        common,
        [TopicSpec(topics.compliance, 3), TopicSpec(topics.registry, 1), TopicSpec(topics.dossier_events, 1)],
    )
    await produce(infra.bootstrap_servers, topics.registry, REGISTRY_FIRST, registry_key)
    await produce(infra.bootstrap_servers, topics.compliance, COMPLIANCE, compliance_key)

    async def publish_late_procedure() -> None:  # live: the procedure reaches reporting after its dossiers
        await produce(infra.bootstrap_servers, topics.registry, [LATE_PROCEDURE], registry_key)

    live_dsn = await create_database(infra)
    live = await run_until_converged(
        ReportingSettings(
            database_url=live_dsn,
            reporting_group_id=f"live-{unique}",
            reporting_registry_group_id=f"live-r-{unique}",
            reporting_events_group_id=f"live-e-{unique}",
            **base,
        ),  # type: ignore[arg-type]
        then=publish_late_procedure,
    )
    replay_dsn = await create_database(infra)
    replay = await run_until_converged(
        ReportingSettings(
            database_url=replay_dsn,
            reporting_group_id=f"replay-{unique}",
            reporting_registry_group_id=f"replay-r-{unique}",
            reporting_events_group_id=f"replay-e-{unique}",
            **base,
        ),  # type: ignore[arg-type]
    )
    assert json.loads(live["/api/v1/reports/form06?period=2025-03"])["rows"] == EXPECTED_MARCH
    assert live == replay  # byte for byte
    a, b = await create_pool(live_dsn), await create_pool(replay_dsn)
    try:
        assert await rollup_state(a) == await rollup_state(b)
    finally:
        await a.close()
        await b.close()
    assert datetime.now(UTC) > APRIL


async def test_page_numbers_and_offsets_past_postgresql_bigint_are_422_not_500(
    pool: asyncpg.Pool, database: str
) -> None:
    await load(pool)
    huge = "30605339606197055488"
    async with client(http_app(pool, database, APRIL)) as c:
        register = await c.get(
            "/api/v1/reports/nonconformities", params={"period": "2025-03", "offset": huge}
        )
        dossiers = await c.get(
            f"/dashboard/agency/{DEPARTMENT}/procedure/2.000815", params={"period": "2025-03", "page": huge}
        )
        last_page = await c.get(
            f"/dashboard/agency/{DEPARTMENT}/procedure/2.000815",
            params={"period": "2025-03", "page": str((2**63 - 1) // 50)},
        )
    assert register.status_code == 422 and "offset" in register.text
    assert dossiers.status_code == 422 and "page" in dossiers.text
    assert last_page.status_code == 200  # the largest page is simply empty


async def test_nonconformity_register_holds_each_dossiers_latest_assessment_field_by_field(
    pool: asyncpg.Pool,
) -> None:
    """The register rows are what the latest message states (read by PostgreSQL from the stored
    assessment): every field, in the message's order, defaults filled; a newer revision replaces
    them, one without nonconformities empties them, an older one changes nothing."""
    ctx = ReportingContext(pool, TZ)
    await handle_registry_changes(ctx, REGISTRY_FIRST)
    code = f"{COMMUNE_A}-250301-9901"

    def msg(revision: int, ncs: tuple[dict[str, Any], ...]) -> bytes:
        return assessment(
            code, COMMUNE_A, "1.004845", revision, "pending_overdue", accepted=t(3), due=t(5), ncs=ncs
        )

    async def register() -> list[tuple[Any, ...]]:
        rows = await pool.fetch(
            "SELECT seq, agency_code, procedure_code, code, clause, status, detected_at, detail, "
            "corrective_action FROM reporting.nonconformities WHERE dossier_code = $1 ORDER BY seq",
            code,
        )
        return [tuple(r) for r in rows]

    acted = {**nc("STEP_OVERDUE", t(6, 10, 30)), "status": "corrective_action", "corrective_action": "CA-7"}
    await handle_assessments(ctx, [msg(1, (nc("OVERDUE", t(5, 17)), acted))])
    assert await register() == [
        (
            0,
            COMMUNE_A,
            "1.004845",
            "OVERDUE",
            "8.7",
            "open",
            datetime(2025, 3, 5, 17, tzinfo=TZ),
            "OVERDUE",
            None,
        ),
        (
            1,
            COMMUNE_A,
            "1.004845",
            "STEP_OVERDUE",
            "8.7",
            "corrective_action",
            datetime(2025, 3, 6, 10, 30, tzinfo=TZ),
            "STEP_OVERDUE",
            "CA-7",
        ),
    ]
    no_detail = {k: v for k, v in nc("APOLOGY_MISSING", t(7)).items() if k != "detail"}
    await handle_assessments(ctx, [msg(3, (no_detail,))])
    assert await register() == [
        (
            0,
            COMMUNE_A,
            "1.004845",
            "APOLOGY_MISSING",
            "8.7",
            "open",
            datetime(2025, 3, 7, 9, tzinfo=TZ),
            "",
            None,
        )
    ]
    await handle_assessments(ctx, [msg(2, (nc("OVERDUE", t(5, 17)),))])  # older: changes nothing
    assert [r[3] for r in await register()] == ["APOLOGY_MISSING"]
    await handle_assessments(ctx, [msg(4, ())])
    assert await register() == []


async def test_a_revision_that_keeps_the_register_keeps_its_rows_and_counts_and_one_that_changes_it_rewrites_it(
    pool: asyncpg.Pool,
) -> None:
    """Reporting writes a dossier's register only when it changed (issue #16, session 6): a revision
    with the same nonconformities leaves the rows and the counts as they were; a change of a field the
    rollup does not count (detail, corrective action) or of the dossier's agency still reaches the rows,
    and the agency change moves the counts."""
    ctx = ReportingContext(pool, TZ)
    await handle_registry_changes(ctx, REGISTRY_FIRST)
    code = f"{COMMUNE_A}-250301-9902"

    def msg(
        revision: int, ncs: tuple[dict[str, Any], ...], agency_code: str = COMMUNE_A, status: int = 2
    ) -> bytes:
        return assessment(
            code,
            agency_code,
            "1.004845",
            revision,
            "pending_overdue",
            accepted=t(3),
            due=t(5),
            ncs=ncs,
            status=status,
        )

    async def register() -> list[tuple[Any, ...]]:
        rows = await pool.fetch(
            "SELECT seq, agency_code, code, status, detail, corrective_action "
            "FROM reporting.nonconformities WHERE dossier_code = $1 ORDER BY seq",
            code,
        )
        return [tuple(r) for r in rows]

    async def counts() -> list[tuple[Any, ...]]:
        rows = await pool.fetch(
            "SELECT agency_code, code, status, sum(n) FROM reporting.nonconformity_rollup "
            "WHERE code IN ('OVERDUE', 'STEP_OVERDUE') GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        )
        return [tuple(r) for r in rows]

    overdue, step = nc("OVERDUE", t(5, 17)), nc("STEP_OVERDUE", t(6, 10, 30))
    before = await counts()
    await handle_assessments(ctx, [msg(1, (overdue, step))])
    first = [
        (0, COMMUNE_A, "OVERDUE", "open", "OVERDUE", None),
        (1, COMMUNE_A, "STEP_OVERDUE", "open", "STEP_OVERDUE", None),
    ]
    assert await register() == first
    counted = await counts()
    for nc_code in ("OVERDUE", "STEP_OVERDUE"):
        assert _n(counted, COMMUNE_A, nc_code) == _n(before, COMMUNE_A, nc_code) + 1

    await handle_assessments(ctx, [msg(2, (overdue, step), status=5)])  # the same register
    assert await register() == first
    assert await counts() == counted

    explained = {**step, "detail": "bước thẩm định trễ 2 giờ", "corrective_action": "CA-9"}
    await handle_assessments(ctx, [msg(3, (overdue, explained))])
    assert await register() == [
        first[0],
        (1, COMMUNE_A, "STEP_OVERDUE", "open", "bước thẩm định trễ 2 giờ", "CA-9"),
    ]
    assert await counts() == counted  # detail and corrective action are not counted

    await handle_assessments(ctx, [msg(4, (overdue, explained), agency_code=COMMUNE_B)])  # the same register
    assert [r[1] for r in await register()] == [COMMUNE_B, COMMUNE_B]
    moved = await counts()
    for agency_code, n in ((COMMUNE_A, -1), (COMMUNE_B, 1)):
        for nc_code in ("OVERDUE", "STEP_OVERDUE"):
            assert _n(moved, agency_code, nc_code) == _n(counted, agency_code, nc_code) + n


def _n(rows: Any, agency_code: str, code: str) -> int:
    """The open count of ``code`` for ``agency_code`` in rows of (agency, code, status, n)."""
    return sum(r[3] for r in rows if r[0] == agency_code and r[1] == code and r[2] == "open")
