"""The change feed ``tthc.registry.v1`` on the real broker: every change, keyed, versioned;
republished at start; and usable by another service to check tokens."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from shared.auth import TokenTable, hash_token
from shared.contracts.registry import IsoProcessRecord, RegistryChange
from tests.conftest import Infra
from tests.integration.test_registry_harness import ADMIN_TOKEN, running_registry

pytestmark = pytest.mark.integration

CITY = "000.00.00.H95"
WARD = "000.01.00.H95"
PROC = "1.004837"


def process(version: int, effective_from: str, b2_hours: int) -> dict[str, Any]:
    return {
        "agency_code": WARD,
        "procedure_code": PROC,
        "version": version,
        "effective_from": effective_from,
        "steps": [
            {
                "code": "B1",
                "name": "Tiếp nhận",
                "responsible_unit": "BPMC",
                "budget": {"value": "2", "unit": "working_hours"},
            },
            {
                "code": "B2",
                "name": "Thẩm định",
                "responsible_unit": "TP-HT",
                "budget": {"value": str(b2_hours), "unit": "working_hours"},
            },
        ],
    }


def by_key(changes: list[RegistryChange]) -> dict[str, list[RegistryChange]]:
    out: dict[str, list[RegistryChange]] = {}
    for c in changes:
        out.setdefault(c.key, []).append(c)
    return out


async def seed(registry: Any) -> None:
    await registry.put(f"/agencies/{CITY}", {"code": CITY, "name": "UBND tỉnh thử", "level": "province"})
    await registry.put(
        f"/agencies/{WARD}", {"code": WARD, "name": "UBND xã thử", "level": "commune", "parent_code": CITY}
    )
    await registry.put(
        f"/procedures/{PROC}",
        {
            "code": PROC,
            "name": "Thủ tục đăng ký giám hộ",
            "statutory_time": {"value": "3", "unit": "working_days"},
        },
    )


async def test_two_process_versions_reach_the_feed_with_their_effective_dates(infra: Infra) -> None:
    async with running_registry(infra) as registry:
        await seed(registry)
        assert (
            await registry.put(f"/iso-processes/{WARD}/{PROC}/1", process(1, "2024-01-01", 20))
        ).status_code == 201
        assert (
            await registry.put(f"/iso-processes/{WARD}/{PROC}/2", process(2, "2025-07-01", 12))
        ).status_code == 201
        # a correction of version 2 is a new revision of the same entity
        assert (
            await registry.put(f"/iso-processes/{WARD}/{PROC}/2", process(2, "2025-07-01", 14))
        ).status_code == 200

        key1, key2 = f"iso_process:{WARD}|{PROC}|1", f"iso_process:{WARD}|{PROC}|2"
        changes = by_key(await registry.feed(lambda got: sum(c.key == key2 for c in got) >= 2))
        v1 = [c.record() for c in changes[key1]]
        v2 = [c.record() for c in changes[key2]]
        assert all(isinstance(r, IsoProcessRecord) for r in v1 + v2)
        assert [(r.version, str(r.effective_from)) for r in v1 if isinstance(r, IsoProcessRecord)] == [
            (1, "2024-01-01")
        ]
        assert [c.version for c in changes[key2]] == [1, 2]
        latest = changes[key2][-1].record()
        assert isinstance(latest, IsoProcessRecord)
        assert (latest.version, str(latest.effective_from), latest.steps[1].budget.value) == (
            2,
            "2025-07-01",
            14,
        )
        # every other change is there too, keyed by entity id
        assert {f"agency:{CITY}", f"agency:{WARD}", f"procedure:{PROC}"} <= set(changes)


async def test_a_deletion_is_published_with_a_higher_version(infra: Infra) -> None:
    async with running_registry(infra) as registry:
        await seed(registry)
        await registry.delete(f"/agencies/{WARD}")
        changes = by_key(await registry.feed(lambda got: any(c.deleted for c in got)))
        ward = changes[f"agency:{WARD}"]
        assert [(c.version, c.deleted, c.data is None) for c in ward] == [(1, False, False), (2, True, True)]


async def test_a_rejected_write_leaves_nothing_in_the_outbox(infra: Infra) -> None:
    async with running_registry(infra) as registry:
        await seed(registry)
        conn = await asyncpg.connect(registry.dsn)
        try:
            before = await conn.fetchval("SELECT count(*) FROM registry.outbox")
            too_long = process(1, "2024-01-01", 40)
            assert (await registry.put(f"/iso-processes/{WARD}/{PROC}/1", too_long)).status_code == 422
            assert await conn.fetchval("SELECT count(*) FROM registry.outbox") == before
            assert (
                await conn.fetchval("SELECT count(*) FROM registry.entities WHERE entity = 'iso_process'")
                == 0
            )
        finally:
            await conn.close()


async def test_the_current_state_is_republished_at_start(infra: Infra) -> None:
    async with running_registry(infra) as first:
        await seed(first)
        await first.put(f"/iso-processes/{WARD}/{PROC}/1", process(1, "2024-01-01", 20))
        await first.delete(f"/iso-processes/{WARD}/{PROC}/1")
        dsn = first.dsn
    # a restart against an empty broker (here: a topic nobody wrote) gets the whole state back
    async with running_registry(infra, dsn=dsn) as second:
        changes = by_key(await second.feed(lambda got: len({c.key for c in got}) >= 5))
        assert changes[f"agency:{WARD}"][-1].version == 1
        process_changes = changes[f"iso_process:{WARD}|{PROC}|1"]
        assert (process_changes[-1].version, process_changes[-1].deleted) == (2, True)
        assert f"api_token:{hash_token(ADMIN_TOKEN)}" in changes


async def test_another_service_checks_tokens_from_the_feed_alone(infra: Infra) -> None:
    async with running_registry(infra) as registry:
        await seed(registry)
        officer = await registry.token("officer", WARD, subject="secretary@xa.gov.vn")
        revoked = await registry.token("viewer", subject="gone@xa.gov.vn")
        await registry.delete(f"/tokens/{hash_token(revoked)[:12]}")
        changes = await registry.feed(lambda got: any(c.entity == "api_token" and c.deleted for c in got))
        # the token itself never travels, only its hash
        assert officer not in str([c.model_dump() for c in changes])
        table = TokenTable()
        for change in changes:
            table.apply(change)
        principal = await table.lookup(hash_token(officer))
        assert principal is not None
        assert (principal.subject, principal.role.value, principal.agency_code) == (
            "secretary@xa.gov.vn",
            "officer",
            WARD,
        )
        assert await table.lookup(hash_token(revoked)) is None
        assert await table.lookup(hash_token(ADMIN_TOKEN)) is not None
