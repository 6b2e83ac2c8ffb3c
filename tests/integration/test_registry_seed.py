"""``tthc seed cantho-2021`` and ``cantho-2025``: the seed article's numbers, through the API."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from services.cli.seed import apply_named_seed
from services.registry.seeds.cantho import CITY, commune_code, district_code, new_commune_code
from tests.conftest import Infra
from tests.integration.test_registry_harness import Registry, running_registry

pytestmark = pytest.mark.integration

H1_2021 = (date(2021, 1, 1), date(2021, 6, 30))


async def all_items(registry: Registry, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = (await registry.get(path, limit=500, offset=len(items), **params)).json()
        items += page["items"]
        if len(items) >= page["total"]:
            return items


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def seeded(infra: Infra) -> AsyncIterator[Registry]:
    async with running_registry(infra) as registry:
        started = time.perf_counter()
        counts = await apply_named_seed(registry.dsn, "cantho-2021")
        print(f"cantho-2021 seeded in {time.perf_counter() - started:.1f} s: {counts}")
        assert counts["agency"]["created"] == 123
        yield registry


async def test_123_agencies_29_mandatory_94_encouraged(seeded: Registry) -> None:
    agencies = await all_items(seeded, "/agencies")
    assert len(agencies) == 123
    mandatory = [a for a in agencies if a["iso_obligation"] == "mandatory"]
    encouraged = [a for a in agencies if a["iso_obligation"] == "encouraged"]
    assert len(mandatory) == 29 and len(encouraged) == 94
    levels = sorted(a["level"] for a in mandatory)
    assert (
        levels.count("province") == 1 and levels.count("district") == 9 and levels.count("department") == 19
    )
    assert sum(a["level"] == "commune" for a in encouraged) == 83
    assert sum(a["level"] == "public_service_unit" for a in encouraged) == 11  # Political School + 10 units
    districts = {a["name"] for a in agencies if a["level"] == "district"}
    for name in (
        "Ninh Kiều",
        "Bình Thủy",
        "Cái Răng",
        "Ô Môn",
        "Thốt Nốt",
        "Phong Điền",
        "Cờ Đỏ",
        "Thới Lai",
        "Vĩnh Thạnh",
    ):
        assert any(name in d for d in districts), name


def state_on(transitions: list[dict[str, Any]], day: date) -> str:
    state = "not_started"
    for t in transitions:
        if date.fromisoformat(t["on"]) <= day:
            state = t["state"]
    return state


async def test_2021_h1_all_announced_45_updating_9_reannounced_36_reviewing(seeded: Registry) -> None:
    records = await all_items(seeded, "/qms")
    assert len(records) == 123
    first, last = H1_2021
    announced = [
        q for q in records if state_on(q["transitions"], last) in ("announced", "updating", "reannounced")
    ]
    updating = [
        q
        for q in records
        if state_on(q["transitions"], first) == "updating"
        or any(
            t["state"] in ("updating", "reannounced") and first <= date.fromisoformat(t["on"]) <= last
            for t in q["transitions"]
        )
    ]
    reannounced = [
        q
        for q in records
        if any(
            t["state"] == "reannounced" and first <= date.fromisoformat(t["on"]) <= last
            for t in q["transitions"]
        )
    ]
    reviewing = [q for q in records if state_on(q["transitions"], last) == "updating"]
    assert (len(announced), len(updating), len(reannounced), len(reviewing)) == (123, 45, 9, 36)
    # every announcement was before 2021, with its document
    for q in records:
        announcement = next(t for t in q["transitions"] if t["state"] == "announced")
        assert announcement["on"] < "2021-01-01" and announcement["document"]
        assert q["policy"]["posted_at_office"] is True
        assert {o["metric"] for o in q["objectives"] if o["year"] == 2021} == {
            "on_time_rate",
            "satisfaction_rate",
        }


async def test_realistic_processes_for_at_least_20_procedures(seeded: Registry) -> None:
    processes = await all_items(seeded, "/iso-processes")
    procedures = {p["procedure_code"] for p in processes}
    assert len(procedures) >= 20
    ward = commune_code(1, 1)
    mine = (await seeded.get(f"/iso-processes/{ward}/1.004845/in-force", on="2021-03-15")).json()
    assert [s["responsible_unit"] for s in mine["steps"]] == ["BPMC", "TP-HT", "LD-UBND", "BPMC"]
    assert sum(float(s["budget"]["value"]) for s in mine["steps"]) == 16  # 2 working days
    qms = (await seeded.get(f"/qms/{ward}", as_of="2021-06-30")).json()
    assert "1.004845" in qms["scope"] and qms["flags"]["scope_without_process"] == []


async def test_the_feed_carries_the_seed(seeded: Registry) -> None:
    changes = await seeded.feed(lambda got: sum(c.entity == "qms" for c in got) >= 123, timeout=30)
    assert sum(c.entity == "agency" for c in changes) >= 123


async def test_seeding_twice_changes_nothing(seeded: Registry) -> None:
    conn = await asyncpg.connect(seeded.dsn)
    try:
        outbox = await conn.fetchval("SELECT count(*) FROM registry.outbox")
        audit = await conn.fetchval("SELECT count(*) FROM registry.audit")
        counts = await apply_named_seed(seeded.dsn, "cantho-2021")
        assert all(c["created"] == 0 and c["updated"] == 0 for c in counts.values()), counts
        assert await conn.fetchval("SELECT count(*) FROM registry.outbox") == outbox
        assert await conn.fetchval("SELECT count(*) FROM registry.audit") == audit
    finally:
        await conn.close()


async def test_cantho_2025_keeps_history_and_links_successors(seeded: Registry) -> None:
    counts = await apply_named_seed(seeded.dsn, "cantho-2025")
    assert counts["agency"]["updated"] > 0 and counts["agency"]["created"] > 0
    district = (await seeded.get(f"/agencies/{district_code(1)}", on="2025-07-01")).json()
    assert district["valid_to"] == "2025-06-30" and district["was_valid"] is False
    assert district["successor_code"] == new_commune_code(1) and district["reorganisation_basis"]
    # a dossier received in 2024 by a Ninh Kiều ward still names that ward
    dossier = f"{commune_code(1, 3)}-240815-0042"
    resolved = (await seeded.get("/agencies/resolve", dossier_code=dossier)).json()
    assert resolved["agency"]["code"] == commune_code(1, 3) and resolved["agency"]["was_valid"] is True
    assert resolved["agency"]["current_code"] == new_commune_code(1)
    # Sóc Trăng and Hậu Giang merged into Cần Thơ
    city = (await seeded.get(f"/agencies/{CITY}")).json()
    assert set(city["predecessor_codes"]) == {"000.00.00.H51", "000.00.00.H27"}
    soc_trang = (await seeded.get("/agencies/000.00.00.H51")).json()
    assert soc_trang["successor_code"] == CITY and soc_trang["valid_to"] == "2025-06-30"
    merged_departments = await all_items(seeded, "/agencies", parent_code="000.00.00.H27")
    assert len(merged_departments) == 19 and all(a["valid_to"] == "2025-06-30" for a in merged_departments)
    # no district is valid after the reorganisation; the old records are intact
    valid_now = await all_items(seeded, "/agencies", valid_on="2025-07-01", level="district")
    assert valid_now == []
    assert len(await all_items(seeded, "/agencies", valid_on="2024-06-30", level="district")) == 9
    # the new ward took over district procedures from 2025-07-01
    new = (
        await seeded.get(f"/iso-processes/{new_commune_code(1)}/1.013225/in-force", on="2025-07-02")
    ).json()
    assert new["effective_from"] == "2025-07-01"
    again = await apply_named_seed(seeded.dsn, "cantho-2025")
    assert all(c["created"] == 0 and c["updated"] == 0 for c in again.values()), again
