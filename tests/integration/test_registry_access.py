"""Bearer tokens, roles and the audit trail, through the registry's HTTP API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from shared.auth import hash_token
from tests.conftest import Infra
from tests.integration.test_registry_harness import ADMIN_TOKEN, Registry, running_registry

pytestmark = pytest.mark.integration

CITY = "000.00.00.H98"
DISTRICT_A = "000.00.31.H98"
WARD_A = "000.01.31.H98"
DISTRICT_B = "000.00.32.H98"
WARD_B = "000.01.32.H98"
PROC = "1.004845"


def qms(agency: str, document: str = "1/QĐ-UBND") -> dict[str, Any]:
    return {
        "agency_code": agency,
        "state": "announced",
        "transitions": [{"state": "announced", "on": "2020-05-04", "document": document}],
    }


def process(agency: str) -> dict[str, Any]:
    return {
        "agency_code": agency,
        "procedure_code": PROC,
        "version": 1,
        "effective_from": "2024-01-01",
        "steps": [
            {
                "code": "B1",
                "name": "Tiếp nhận và giải quyết",
                "responsible_unit": "BPMC",
                "budget": {"value": "2", "unit": "working_days"},
            }
        ],
    }


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def registry(infra: Infra) -> AsyncIterator[Registry]:
    async with running_registry(infra) as r:
        for code, level, parent in (
            (CITY, "province", None),
            (DISTRICT_A, "district", CITY),
            (WARD_A, "commune", DISTRICT_A),
            (DISTRICT_B, "district", CITY),
            (WARD_B, "commune", DISTRICT_B),
        ):
            assert (
                await r.put(
                    f"/agencies/{code}",
                    {"code": code, "name": f"UBND {code}", "level": level, "parent_code": parent},
                )
            ).status_code == 201
        proc = {
            "code": PROC,
            "name": "Thủ tục đăng ký chấm dứt giám hộ",
            "statutory_time": {"value": "2", "unit": "working_days"},
        }
        assert (await r.put(f"/procedures/{PROC}", proc)).status_code == 201
        yield r


def assert_401(response: Any) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_no_token_a_bad_token_or_a_bad_header_is_401(registry: Registry) -> None:
    assert_401(await registry.get("/agencies", token=None))
    assert_401(await registry.get("/agencies", token="tthc_not-a-token-anybody-issued-000"))
    assert_401(
        await registry.client.get("/api/v1/agencies", headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    )
    assert_401(await registry.put(f"/qms/{WARD_A}", qms(WARD_A), token=None))
    # ops endpoints stay open for probes and scrapers
    assert (await registry.client.get("/healthz")).status_code == 200
    assert (await registry.client.get("/metrics")).status_code == 200


async def test_a_viewer_reads_everything_and_writes_nothing(registry: Registry) -> None:
    viewer = await registry.token("viewer")
    assert (await registry.get("/agencies", token=viewer)).status_code == 200
    assert (await registry.get(f"/procedures/{PROC}", token=viewer)).status_code == 200
    assert (await registry.get("/audit", token=viewer)).status_code == 200
    for response in (
        await registry.put(f"/qms/{WARD_A}", qms(WARD_A), token=viewer),
        await registry.put(
            f"/procedures/{PROC}",
            {"code": PROC, "name": "x", "statutory_time": {"value": "1", "unit": "working_days"}},
            token=viewer,
        ),
        await registry.delete(f"/agencies/{WARD_B}", token=viewer),
    ):
        assert response.status_code == 403, response.text
        assert "viewer" in response.json()["detail"]


async def test_an_officer_writes_only_qms_and_processes_of_its_subtree(registry: Registry) -> None:
    officer = await registry.token("officer", DISTRICT_A)
    # its own district and the ward under it
    assert (await registry.put(f"/qms/{DISTRICT_A}", qms(DISTRICT_A), token=officer)).status_code in (
        200,
        201,
    )
    assert (await registry.put(f"/qms/{WARD_A}", qms(WARD_A), token=officer)).status_code in (200, 201)
    r = await registry.put(f"/iso-processes/{WARD_A}/{PROC}/1", process(WARD_A), token=officer)
    assert r.status_code in (200, 201), r.text
    # another district's ward, the parent city, and anything that is not QMS or a process
    for response in (
        await registry.put(f"/qms/{WARD_B}", qms(WARD_B), token=officer),
        await registry.put(f"/qms/{CITY}", qms(CITY), token=officer),
        await registry.put(f"/iso-processes/{WARD_B}/{PROC}/1", process(WARD_B), token=officer),
        await registry.put(
            f"/agencies/{WARD_A}",
            {"code": WARD_A, "name": "x", "level": "commune", "parent_code": DISTRICT_A},
            token=officer,
        ),
        await registry.put("/calendar-overrides/2030", {"year": 2030}, token=officer),
        await registry.client.post(
            "/api/v1/tokens", json={"subject": "x", "role": "admin"}, headers=registry.as_(officer)
        ),
    ):
        assert response.status_code == 403, response.text
    # reading is open to the officer
    assert (await registry.get(f"/qms/{WARD_B}", token=officer)).status_code in (200, 404)


async def test_an_officer_can_delete_its_own_process_but_not_another_one(registry: Registry) -> None:
    await registry.put(f"/iso-processes/{WARD_B}/{PROC}/1", process(WARD_B))
    officer_a = await registry.token("officer", DISTRICT_A)
    assert (await registry.delete(f"/iso-processes/{WARD_B}/{PROC}/1", token=officer_a)).status_code == 403
    officer_b = await registry.token("officer", WARD_B)
    assert (await registry.delete(f"/iso-processes/{WARD_B}/{PROC}/1", token=officer_b)).status_code == 200


async def test_token_issue_rules(registry: Registry) -> None:
    post = registry.client.post
    r = await post("/api/v1/tokens", json={"subject": "x", "role": "officer"}, headers=registry.admin)
    assert r.status_code == 422 and "agency" in r.json()["detail"]
    r = await post(
        "/api/v1/tokens",
        json={"subject": "x", "role": "viewer", "agency_code": WARD_A},
        headers=registry.admin,
    )
    assert r.status_code == 422
    r = await post(
        "/api/v1/tokens",
        json={"subject": "x", "role": "officer", "agency_code": "000.00.00.H00"},
        headers=registry.admin,
    )
    assert r.status_code == 422


async def test_revoked_and_expired_tokens_are_refused(registry: Registry) -> None:
    viewer = await registry.token("viewer", subject="leaving@cantho.gov.vn")
    assert (await registry.get("/whoami", token=viewer)).json()["subject"] == "leaving@cantho.gov.vn"
    token_id = hash_token(viewer)[:12]
    listed = (await registry.get("/tokens", role="viewer")).json()["items"]
    assert token_id in {t["id"] for t in listed} and all("token" not in t for t in listed)
    assert (await registry.delete(f"/tokens/{token_id}")).status_code == 200
    assert_401(await registry.get("/whoami", token=viewer))
    assert (await registry.delete(f"/tokens/{token_id}")).status_code == 404

    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    r = await registry.client.post(
        "/api/v1/tokens",
        json={"subject": "temp", "role": "viewer", "expires_at": past},
        headers=registry.admin,
    )
    assert_401(await registry.get("/whoami", token=r.json()["token"]))


async def test_every_write_is_audited_with_who_when_before_and_after(registry: Registry) -> None:
    officer = await registry.token("officer", WARD_A, subject="iso.secretary@caikhe.gov.vn")
    await registry.put(f"/qms/{WARD_A}", qms(WARD_A, "7/QĐ-UBND"), token=officer)
    await registry.put(f"/qms/{WARD_A}", qms(WARD_A, "8/QĐ-UBND"), token=officer)
    trail = (await registry.get("/audit", entity="qms", entity_id=WARD_A, limit=2)).json()
    last = trail["items"][0]
    assert last["actor"] == "iso.secretary@caikhe.gov.vn" and last["actor_role"] == "officer"
    assert last["actor_agency"] == WARD_A and last["via"] == "api" and last["action"] == "update"
    assert last["before"]["transitions"][0]["document"] == "7/QĐ-UBND"
    assert last["after"]["transitions"][0]["document"] == "8/QĐ-UBND"
    assert datetime.fromisoformat(last["at"]) > datetime.now(UTC) - timedelta(minutes=5)
    # the admin token itself was created at start, audited without its hash
    tokens = (await registry.get("/audit", entity="api_token", limit=500)).json()["items"]
    assert tokens and all(len(t["entity_id"]) == 12 for t in tokens)
    assert hash_token(ADMIN_TOKEN) not in str(tokens)
    deleted = (await registry.get("/audit", actor="iso.secretary@caikhe.gov.vn")).json()
    assert deleted["total"] >= 2
