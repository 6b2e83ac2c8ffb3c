"""The registry's HTTP API on real PostgreSQL and the real broker: CRUD, filters, paging, rules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.conftest import Infra
from tests.integration.test_registry_harness import Registry, running_registry

pytestmark = pytest.mark.integration

CITY = "000.00.00.H99"
DEPT = "000.00.02.H99"
DISTRICT = "000.00.31.H99"
WARD = "000.01.31.H99"

GUARDIANSHIP: dict[str, Any] = {
    "code": "1.004837",
    "name": "Thủ tục đăng ký giám hộ",
    "field": "Hộ tịch",
    "level": "Cấp xã",
    "statutory_time": {"value": "3", "unit": "working_days"},
    "channel_times": [{"channel": 2, "statutory_time": {"value": "2", "unit": "working_days"}}],
    "legal_basis": "163/QĐ-BTP",
    "legal_basis_changed_on": "2024-03-01",
}


def steps(*hours: float, optional_last: bool = False) -> list[dict[str, Any]]:
    return [
        {
            "code": f"B{i}",
            "name": f"Bước {i}",
            "responsible_unit": "BPMC" if i in (1, len(hours)) else "TP-HT",
            "budget": {"value": str(h), "unit": "working_hours"},
            "optional": optional_last and i == len(hours),
        }
        for i, h in enumerate(hours, 1)
    ]


def process(version: int, effective_from: str, hours: tuple[float, ...] = (2, 16, 4, 2)) -> dict[str, Any]:
    return {
        "agency_code": WARD,
        "procedure_code": GUARDIANSHIP["code"],
        "version": version,
        "effective_from": effective_from,
        "steps": steps(*hours),
    }


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def registry(infra: Infra) -> AsyncIterator[Registry]:
    async with running_registry(infra) as r:
        for code, name, level, parent in (
            (CITY, "Ủy ban nhân dân thành phố", "province", None),
            (DEPT, "Sở Tư pháp", "department", CITY),
            (DISTRICT, "Ủy ban nhân dân Quận Ninh Kiều", "district", CITY),
            (WARD, "Ủy ban nhân dân Phường Cái Khế", "commune", DISTRICT),
        ):
            body = {"code": code, "name": name, "level": level, "parent_code": parent}
            assert (await r.put(f"/agencies/{code}", body)).status_code == 201
        assert (await r.put(f"/procedures/{GUARDIANSHIP['code']}", GUARDIANSHIP)).status_code == 201
        yield r


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"]
    return body


# --- agencies ---------------------------------------------------------------------------------


async def test_iso_obligation_defaults_from_the_level_and_can_be_overridden(registry: Registry) -> None:
    dept = (await registry.get(f"/agencies/{DEPT}")).json()
    ward = (await registry.get(f"/agencies/{WARD}")).json()
    assert (dept["iso_obligation"], ward["iso_obligation"]) == ("mandatory", "encouraged")
    body = {
        "code": "000.09.31.H99",
        "name": "UBND phường thí điểm",
        "level": "commune",
        "parent_code": DISTRICT,
        "iso_obligation": "mandatory",
    }
    assert (await registry.put("/agencies/000.09.31.H99", body)).json()["iso_obligation"] == "mandatory"


async def test_put_is_create_then_update_then_unchanged_with_a_growing_version(registry: Registry) -> None:
    body = {"code": "000.00.05.H99", "name": "Sở Tài chính", "level": "department", "parent_code": CITY}
    first = await registry.put("/agencies/000.00.05.H99", body)
    again = await registry.put("/agencies/000.00.05.H99", body)
    renamed = await registry.put("/agencies/000.00.05.H99", {**body, "name": "Sở Tài chính thành phố"})
    assert (first.status_code, again.status_code, renamed.status_code) == (201, 200, 200)
    assert (first.json()["revision"], again.json()["revision"], renamed.json()["revision"]) == (1, 1, 2)


async def test_agencies_list_filters_and_pages(registry: Registry) -> None:
    children = (await registry.get("/agencies", parent_code=CITY, limit=2)).json()
    assert children["total"] >= 3 and len(children["items"]) == 2
    rest = (await registry.get("/agencies", parent_code=CITY, limit=2, offset=2)).json()
    codes = {a["code"] for a in children["items"] + rest["items"]}
    assert {DEPT, DISTRICT} <= codes
    districts = (await registry.get("/agencies", level="district")).json()
    assert [a["code"] for a in districts["items"]] == [DISTRICT]
    found = (await registry.get("/agencies", q="Cái Khế")).json()
    assert [a["code"] for a in found["items"]] == [WARD]
    subtree = (await registry.get(f"/agencies/{DISTRICT}/subtree")).json()["subtree"]
    assert set(subtree) >= {DISTRICT, WARD} and DEPT not in subtree


async def test_agency_rules_answer_422_naming_the_field(registry: Registry) -> None:
    orphan = {"code": "000.00.77.H99", "name": "X", "level": "department", "parent_code": "000.00.00.H00"}
    assert (
        "parent_code" in assert_problem(await registry.put("/agencies/000.00.77.H99", orphan), 422)["detail"]
    )
    late_district = {
        "code": "000.00.38.H99",
        "name": "Huyện mới",
        "level": "district",
        "parent_code": CITY,
        "valid_from": "2025-08-01",
    }
    body = assert_problem(await registry.put("/agencies/000.00.38.H99", late_district), 422)
    assert body["errors"][0]["field"] == "valid_from" and "district level ends" in body["errors"][0]["reason"]
    bad_code = {"code": "not a code", "name": "X", "level": "commune"}
    assert_problem(await registry.put("/agencies/not a code", bad_code), 422)
    mismatch = {"code": "000.00.06.H99", "name": "X", "level": "department", "parent_code": CITY}
    assert (
        "differs from the path"
        in assert_problem(await registry.put("/agencies/000.00.07.H99", mismatch), 422)["detail"]
    )


async def test_an_agency_with_children_cannot_be_deleted_but_a_leaf_can(registry: Registry) -> None:
    assert_problem(await registry.delete(f"/agencies/{DISTRICT}"), 409)
    leaf = {"code": "000.08.31.H99", "name": "Tạm", "level": "commune", "parent_code": DISTRICT}
    await registry.put("/agencies/000.08.31.H99", leaf)
    deleted = await registry.delete("/agencies/000.08.31.H99")
    assert deleted.status_code == 200 and deleted.json()["revision"] == 2
    assert_problem(await registry.get("/agencies/000.08.31.H99"), 404)
    # re-created, it continues its version sequence (consumers keep the highest version)
    assert (await registry.put("/agencies/000.08.31.H99", leaf)).json()["revision"] == 3


async def test_old_codes_stay_resolvable_through_successors(registry: Registry) -> None:
    new_ward = {
        "code": "000.00.61.H99",
        "name": "UBND Phường Ninh Kiều",
        "level": "commune",
        "parent_code": CITY,
        "valid_from": "2025-07-01",
        "predecessor_codes": [WARD],
    }
    await registry.put("/agencies/000.00.61.H99", new_ward)
    old = {
        "code": "000.02.31.H99",
        "name": "UBND Phường An Hòa",
        "level": "commune",
        "parent_code": DISTRICT,
        "valid_to": "2025-06-30",
        "successor_code": "000.00.61.H99",
        "reorganisation_basis": "NQ sắp xếp 2025",
    }
    await registry.put("/agencies/000.02.31.H99", old)
    resolved = (await registry.get("/agencies/resolve", dossier_code="000.02.31.H99-240315-0007")).json()
    assert resolved["received_on"] == "2024-03-15"
    assert resolved["agency"]["code"] == "000.02.31.H99" and resolved["agency"]["was_valid"] is True
    assert resolved["agency"]["current_code"] == "000.00.61.H99"
    after = (await registry.get("/agencies/000.02.31.H99", on="2025-08-01")).json()
    assert after["was_valid"] is False and after["successors"] == ["000.00.61.H99"]
    assert_problem(await registry.get("/agencies/resolve", dossier_code="garbage"), 422)


# --- procedures -------------------------------------------------------------------------------


async def test_procedure_keeps_channel_times_and_legal_change_date(registry: Registry) -> None:
    got = (await registry.get(f"/procedures/{GUARDIANSHIP['code']}")).json()
    assert got["channel_times"] == GUARDIANSHIP["channel_times"]
    assert got["legal_basis_changed_on"] == "2024-03-01"
    listed = (await registry.get("/procedures", field="Hộ tịch", level="xã")).json()
    assert [p["code"] for p in listed["items"]] == [GUARDIANSHIP["code"]]
    assert_problem(await registry.get("/procedures/9.999999"), 404)


async def test_a_procedure_used_by_a_process_cannot_be_deleted(registry: Registry) -> None:
    proc = {
        **GUARDIANSHIP,
        "code": "1.004845",
        "name": "Thủ tục đăng ký chấm dứt giám hộ",
        "statutory_time": {"value": "2", "unit": "working_days"},
        "channel_times": [],
    }
    await registry.put("/procedures/1.004845", proc)
    p = {**process(1, "2024-01-01", (2, 10, 2, 2)), "procedure_code": "1.004845"}
    assert (await registry.put(f"/iso-processes/{WARD}/1.004845/1", p)).status_code == 201
    assert_problem(await registry.delete("/procedures/1.004845"), 409)
    assert (await registry.delete(f"/iso-processes/{WARD}/1.004845/1")).status_code == 200
    assert (await registry.delete("/procedures/1.004845")).status_code == 200


# --- ISO processes ----------------------------------------------------------------------------


async def test_process_versions_and_the_one_in_force(registry: Registry) -> None:
    code = GUARDIANSHIP["code"]
    assert (
        await registry.put(f"/iso-processes/{WARD}/{code}/1", process(1, "2024-01-01"))
    ).status_code == 201
    assert (
        await registry.put(f"/iso-processes/{WARD}/{code}/2", process(2, "2025-07-01", (2, 12, 4, 2)))
    ).status_code == 201
    before = (await registry.get(f"/iso-processes/{WARD}/{code}/in-force", on="2025-06-30")).json()
    after = (await registry.get(f"/iso-processes/{WARD}/{code}/in-force", on="2025-07-01")).json()
    assert (before["version"], after["version"]) == (1, 2)
    assert_problem(await registry.get(f"/iso-processes/{WARD}/{code}/in-force", on="2023-12-31"), 404)
    listed = (await registry.get("/iso-processes", agency_code=WARD, procedure_code=code)).json()
    assert [p["version"] for p in listed["items"]] == [1, 2]


async def test_required_budgets_must_fit_the_statutory_time(registry: Registry) -> None:
    code = GUARDIANSHIP["code"]  # 3 working days = 24 working hours
    too_long = process(3, "2026-01-01", (4, 16, 4, 2))  # 26 h
    body = assert_problem(await registry.put(f"/iso-processes/{WARD}/{code}/3", too_long), 422)
    assert "26 working hours" in body["detail"] and "24 working hours" in body["detail"]
    # the same steps fit once the last one is optional
    fits = {**too_long, "steps": steps(4, 16, 4, 2, optional_last=True)}
    assert (await registry.put(f"/iso-processes/{WARD}/{code}/3", fits)).status_code == 201


async def test_a_newer_version_cannot_take_effect_before_an_older_one(registry: Registry) -> None:
    code = GUARDIANSHIP["code"]
    await registry.put(f"/iso-processes/{WARD}/{code}/1", process(1, "2024-01-01"))
    body = assert_problem(
        await registry.put(f"/iso-processes/{WARD}/{code}/5", process(5, "2023-01-01")), 422
    )
    assert body["errors"][0]["field"] == "effective_from"


async def test_a_process_needs_a_known_agency_and_procedure(registry: Registry) -> None:
    body = {**process(1, "2024-01-01"), "agency_code": "000.00.00.H00"}
    assert_problem(await registry.put(f"/iso-processes/000.00.00.H00/{GUARDIANSHIP['code']}/1", body), 422)
    body = {**process(1, "2024-01-01"), "procedure_code": "9.999999"}
    errors = assert_problem(await registry.put(f"/iso-processes/{WARD}/9.999999/1", body), 422)["errors"]
    assert errors[0]["field"] == "procedure_code"


# --- QMS --------------------------------------------------------------------------------------


def qms(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "agency_code": WARD,
        "state": "announced",
        "transitions": [
            {"state": "building", "on": "2019-01-10"},
            {"state": "applying", "on": "2019-06-01"},
            {"state": "announced", "on": "2019-12-20", "document": "123/QĐ-UBND"},
        ],
        "scope": [GUARDIANSHIP["code"]],
        "policy": {"issued_on": "2019-06-01", "posted_at_office": True, "posted_on_website": False},
        "objectives": [{"year": 2025, "metric": "on_time_rate", "target": "0.98"}],
        "reviews": [
            {"kind": "internal_audit", "held_on": "2024-11-05", "findings": 2},
            {"kind": "management_review", "held_on": "2024-12-10", "findings": 0},
        ],
    }
    body.update(over)
    return body


async def test_qms_record_round_trips_with_its_flags(registry: Registry) -> None:
    await registry.put(f"/iso-processes/{WARD}/{GUARDIANSHIP['code']}/1", process(1, "2024-01-01"))
    assert (await registry.put(f"/qms/{WARD}", qms())).status_code in (200, 201)
    fresh = (await registry.get(f"/qms/{WARD}", as_of="2025-01-15")).json()
    assert fresh["transitions"][2]["document"] == "123/QĐ-UBND"
    # audits held in Nov/Dec 2024; the legal basis changed 2024-03-01 and version 1 dates from before it
    assert fresh["flags"] == {
        "as_of": "2025-01-15",
        "internal_audit_overdue": False,
        "management_review_overdue": False,
        "update_overdue": [GUARDIANSHIP["code"]],
        "scope_without_process": [],
        "any": True,
    }
    later = (await registry.get(f"/qms/{WARD}", as_of="2025-12-11")).json()["flags"]
    assert later["internal_audit_overdue"] and later["management_review_overdue"]


async def test_qms_flags_a_scope_procedure_without_process(registry: Registry) -> None:
    await registry.put(
        "/procedures/2.000908",
        {
            **GUARDIANSHIP,
            "code": "2.000908",
            "name": "Cấp bản sao từ sổ gốc",
            "channel_times": [],
            "legal_basis_changed_on": None,
        },
    )
    body = qms(agency_code=DEPT, scope=["2.000908"])
    assert (await registry.put(f"/qms/{DEPT}", body)).status_code in (200, 201)
    flags = (await registry.get(f"/qms/{DEPT}", as_of="2025-01-15")).json()["flags"]
    assert flags["scope_without_process"] == ["2.000908"] and flags["update_overdue"] == []
    flagged = (await registry.get("/qms", flagged="true", as_of="2025-01-15")).json()
    assert DEPT in {q["agency_code"] for q in flagged["items"]}


async def test_qms_lifecycle_rules(registry: Registry) -> None:
    backwards = qms(
        transitions=[
            {"state": "announced", "on": "2019-12-20", "document": "1/QĐ"},
            {"state": "building", "on": "2020-01-10"},
        ],
        state="building",
    )
    assert "lifecycle" in assert_problem(await registry.put(f"/qms/{WARD}", backwards), 422)["detail"]
    undocumented = qms(transitions=[{"state": "announced", "on": "2019-12-20"}])
    assert "document" in assert_problem(await registry.put(f"/qms/{WARD}", undocumented), 422)["detail"]
    wrong_state = qms(state="updating")
    assert_problem(await registry.put(f"/qms/{WARD}", wrong_state), 422)
    unknown_scope = qms(scope=["9.999999"])
    assert "9.999999" in assert_problem(await registry.put(f"/qms/{WARD}", unknown_scope), 422)["detail"]
    cycle = qms(
        state="updating",
        transitions=[
            *qms()["transitions"],
            {"state": "updating", "on": "2021-02-01"},
            {"state": "reannounced", "on": "2021-05-10", "document": "55/QĐ-UBND"},
            {"state": "updating", "on": "2024-02-01"},
        ],
    )
    assert (await registry.put(f"/qms/{WARD}", cycle)).status_code == 200
    by_state = (await registry.get("/qms", state="updating")).json()
    assert WARD in {q["agency_code"] for q in by_state["items"]}


# --- calendar overrides -----------------------------------------------------------------------


async def test_calendar_overrides_per_year(registry: Registry) -> None:
    body = {
        "year": 2026,
        "days_off": ["2026-01-02"],
        "working_days": ["2026-01-10"],
        "note": "hoán đổi ngày làm việc",
    }
    assert (await registry.put("/calendar-overrides/2026", body)).status_code == 201
    assert (await registry.get("/calendar-overrides/2026")).json()["days_off"] == ["2026-01-02"]
    assert (await registry.get("/calendar-overrides")).json()["total"] == 1
    wrong_year = {"year": 2027, "days_off": ["2026-05-01"]}
    assert (
        "not in 2027"
        in assert_problem(await registry.put("/calendar-overrides/2027", wrong_year), 422)["detail"]
    )
    both = {"year": 2027, "days_off": ["2027-05-03"], "working_days": ["2027-05-03"]}
    assert_problem(await registry.put("/calendar-overrides/2027", both), 422)
    assert (await registry.delete("/calendar-overrides/2026")).status_code == 200
    assert_problem(await registry.get("/calendar-overrides/2026"), 404)


async def test_openapi_lists_every_entity(registry: Registry) -> None:
    paths = (await registry.client.get("/openapi.json")).json()["paths"]
    for path in (
        "/api/v1/agencies/{code}",
        "/api/v1/qms/{agency_code}",
        "/api/v1/procedures/{code}",
        "/api/v1/iso-processes/{agency_code}/{procedure_code}/{version}",
        "/api/v1/calendar-overrides/{year}",
        "/api/v1/imports/{kind}",
        "/api/v1/audit",
        "/api/v1/tokens",
    ):
        assert path in paths
