"""The at-risk report (dự báo trễ hạn) from compliance messages: API and dashboard page, scoped.

At risk = the latest assessment of an open dossier, still within its time limit, carries
``at_risk_since`` (processing's warning). Worked out by hand below: 2 dossiers of commune A and 1
of the department are at risk at 10/04/2025 12:00; the others are not, each for its own reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from services.reporting.handlers import ReportingContext, handle_assessments, handle_registry_changes
from shared.auth import hash_token
from shared.db import create_pool
from tests.integration.test_reporting_service import (
    APRIL,
    COMMUNE_A,
    COMMUNE_B,
    DEPARTMENT,
    REGISTRY_FIRST,
    TZ,
    assessment,
    change,
    client,
    http_app,
    t,
)

pytestmark = pytest.mark.integration

OFFICER = "tthc_officer-of-commune-a-at-risk-0123456789"


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database)
    yield p
    await p.close()


def open_dossier(
    code: str, agency: str, due: str, revision: int = 1, outcome: str = "pending_within", **warning: Any
) -> bytes:
    return assessment(code, agency, "1.004845", revision, outcome, accepted=t(1, month=4), due=due, **warning)


WARNED = {"at_risk_since": t(8, month=4), "forecast_resolved_at": t(25, 16, month=4)}
MESSAGES = [
    open_dossier(f"{COMMUNE_A}-1", COMMUNE_A, t(20, month=4), **WARNED),
    open_dossier(f"{COMMUNE_A}-2", COMMUNE_A, t(15, 17, month=4), **WARNED),
    open_dossier(f"{DEPARTMENT}-1", DEPARTMENT, t(30, month=4), **WARNED),
    # not at risk: never warned; past its due moment (overdue, no longer a forecast); resolved;
    # censored at a log's end; warned, then a newer revision without the warning
    open_dossier(f"{DEPARTMENT}-2", DEPARTMENT, t(18, month=4)),
    open_dossier(f"{DEPARTMENT}-3", DEPARTMENT, t(9, month=4), outcome="pending_overdue", **WARNED),
    assessment(
        f"{DEPARTMENT}-4",
        DEPARTMENT,
        "1.004845",
        1,
        "late",
        accepted=t(1, month=3),
        due=t(3, month=3),
        resolved=t(5, month=3),
        status=10,
        **WARNED,
    ),
    open_dossier(f"{DEPARTMENT}-5", DEPARTMENT, t(19, month=4), outcome="open_at_end_of_log", **WARNED),
    open_dossier(f"{COMMUNE_A}-3", COMMUNE_A, t(16, month=4), **WARNED),
    open_dossier(f"{COMMUNE_A}-3", COMMUNE_A, t(16, month=4), revision=2),
]


async def load(pool: asyncpg.Pool, extra: list[bytes] | None = None) -> ReportingContext:
    ctx = ReportingContext(pool, TZ)
    officer = {
        "token_hash": hash_token(OFFICER),
        "subject": "a@x.vn",
        "role": "officer",
        "agency_code": COMMUNE_A,
    }
    await handle_registry_changes(
        ctx, [*REGISTRY_FIRST, change("api_token", hash_token(OFFICER), 1, officer)]
    )
    await handle_assessments(ctx, MESSAGES + (extra or []))
    return ctx


async def test_the_at_risk_report_lists_open_warned_dossiers_by_agency_and_due_date(
    pool: asyncpg.Pool, database: str
) -> None:
    await load(pool)
    async with client(http_app(pool, database, APRIL)) as c:
        doc = (await c.get("/api/v1/reports/at-risk")).json()
        second = (await c.get("/api/v1/reports/at-risk", params={"limit": 1, "offset": 1})).json()
        department = (await c.get("/api/v1/reports/at-risk", params={"agency": DEPARTMENT})).json()
        bad = await c.get("/api/v1/reports/at-risk", params={"limit": 0})
    assert doc["total"] == 3
    assert doc["by_agency"] == [
        {"agency_code": COMMUNE_A, "agency_name": "UBND phường An Hòa", "at_risk": 2},
        {"agency_code": DEPARTMENT, "agency_name": "Sở Tư pháp", "at_risk": 1},
    ]
    assert [i["dossier_code"] for i in doc["items"]] == [
        f"{COMMUNE_A}-2",
        f"{COMMUNE_A}-1",
        f"{DEPARTMENT}-1",
    ]
    first = doc["items"][0]
    assert (first["procedure_name"], first["agency_name"]) == ("Thủ tục 1.004845", "UBND phường An Hòa")
    assert (first["due_at"], first["at_risk_since"], first["forecast_resolved_at"]) == (
        t(15, 17, month=4),
        t(8, month=4),
        t(25, 16, month=4),
    )
    assert [i["dossier_code"] for i in second["items"]] == [f"{COMMUNE_A}-1"] and second["total"] == 3
    assert [i["dossier_code"] for i in department["items"]] == [f"{DEPARTMENT}-1"]
    assert bad.status_code == 422 and "limit" in bad.text


async def test_an_officer_sees_the_at_risk_dossiers_of_its_subtree_only(
    pool: asyncpg.Pool, database: str
) -> None:
    await load(pool)
    app = http_app(pool, database, APRIL, reporting_require_token=True)
    async with client(app, OFFICER) as c:
        mine = (await c.get("/api/v1/reports/at-risk")).json()
        other = await c.get("/api/v1/reports/at-risk", params={"agency": DEPARTMENT})
        page = await c.get("/dashboard/at-risk")
    async with client(app) as c:
        anonymous = await c.get("/api/v1/reports/at-risk")
    assert {i["agency_code"] for i in mine["items"]} == {COMMUNE_A} and mine["total"] == 2
    assert [a["agency_code"] for a in mine["by_agency"]] == [COMMUNE_A]
    assert other.status_code == 403
    assert anonymous.status_code == 401
    assert page.status_code == 200
    assert (
        f"{COMMUNE_A}-1" in page.text and f"{DEPARTMENT}-1" not in page.text and "Sở Tư pháp" not in page.text
    )


async def test_the_at_risk_page_is_vietnamese_with_names_dates_and_pages(
    pool: asyncpg.Pool, database: str
) -> None:
    # 52 more at risk in commune B, due 21/04/2025 09:00 + i minutes: 55 in all, 50 a page
    more = [
        open_dossier(f"{COMMUNE_B}-{i:02d}", COMMUNE_B, t(21, 9, i, month=4), **WARNED) for i in range(52)
    ]
    await load(pool, more)
    async with client(http_app(pool, database, APRIL)) as c:
        first = await c.get("/dashboard/at-risk", params={"lang": "vi"})
        last = await c.get("/dashboard/at-risk", params={"lang": "vi", "page": 2})
        english = await c.get("/dashboard/at-risk", params={"lang": "en"})
        overview = await c.get("/dashboard", params={"lang": "vi"})
        bad = await c.get("/dashboard/at-risk", params={"page": 0})
    assert first.status_code == 200
    html = first.text
    assert "Dự báo trễ hạn" in html and 'id="at-risk-total">55<' in html
    # names, not codes; dd/mm/yyyy; counts per agency with Vietnamese digit grouping
    assert "Thủ tục 1.004845" in html and "UBND xã Mỹ Khánh" in html
    assert "15/04/2025" in html and "25/04/2025" in html and "08/04/2025 09:00" in html
    assert '<td class="l">UBND xã Mỹ Khánh</td><td data-v="52">52</td>' in html
    assert html.count('href="/dashboard/dossier/') == 50 and 'rel="next"' in html
    assert f"{COMMUNE_A}-2" in html  # the soonest due on page 1
    assert last.text.count('href="/dashboard/dossier/') == 5 and 'rel="prev"' in last.text
    assert "Trang 2 / 2" in last.text
    assert "At risk of delay" in english.text and "Due date" in english.text
    assert 'href="/dashboard/at-risk?lang=vi"' in overview.text  # the navigation links the page
    assert bad.status_code == 422
