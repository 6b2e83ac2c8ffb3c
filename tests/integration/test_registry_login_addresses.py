"""Wrong passwords count per user name *and client address*, plus a throttle per address.

Through the real registry app (PostgreSQL, broker, relay) over HTTP. The test client's peer is
127.0.0.1, a trusted proxy by default, so ``X-Forwarded-For`` stands for the browser's address
(as the dashboard sends it); a second client with another peer shows the header is believed
only from the proxies ``TTHC_LOGIN_TRUSTED_PROXIES`` lists.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from services.registry import handlers
from services.registry.adapters.repository import Actor
from shared.contracts.registry import Role
from shared.db import create_pool
from tests.conftest import Infra
from tests.integration.test_registry_harness import Registry, running_registry

pytestmark = pytest.mark.integration

PASSWORD = "mật-khẩu đủ dài 2025"
WRONG = "không phải mật khẩu"


async def add_users(registry: Registry, *names: str) -> None:
    pool = await create_pool(registry.dsn, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            for name in names:
                await handlers.add_user(
                    conn,
                    Actor("test", Role.ADMIN.value, None, "cli"),
                    handlers.login_policy(registry.settings),
                    name=name,
                    password=PASSWORD,
                    role=Role.VIEWER,
                    agency_code=None,
                )
    finally:
        await pool.close()


async def audit_of(registry: Registry, entity: str, entity_id: str) -> list[dict[str, Any]]:
    pool = await create_pool(registry.dsn, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT actor, via, after FROM registry.audit WHERE entity = $1 AND entity_id = $2 ORDER BY id",
                entity,
                entity_id,
            )
    finally:
        await pool.close()
    return [dict(r) for r in rows]


async def login(
    client: httpx.AsyncClient, name: str, password: str, address: str | None
) -> tuple[int, dict[str, Any]]:
    headers = {"X-Forwarded-For": address} if address else {}
    r = await client.post(
        "/api/v1/logins", json={"name": name, "password": password, "minutes": 30}, headers=headers
    )
    return r.status_code, r.json()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def registry(infra: Infra) -> AsyncIterator[Registry]:
    async with running_registry(
        infra, login_max_failures=3, login_lock_minutes=10, login_address_max_failures=5
    ) as r:
        yield r


async def test_wrong_passwords_from_one_address_do_not_lock_the_user_out_elsewhere(
    registry: Registry,
) -> None:
    await add_users(registry, "can.bo.mot")
    attacker, officer = "198.51.100.7", "203.0.113.10"
    for _ in range(3):
        assert (await login(registry.client, "can.bo.mot", WRONG, attacker))[0] == 401
    # from the attacker's address even the right password is refused now ...
    status, body = await login(registry.client, "can.bo.mot", PASSWORD, attacker)
    assert status == 429 and "at this address" in body["detail"], body
    # ... but the officer, elsewhere, logs in as usual
    status, body = await login(registry.client, "can.bo.mot", PASSWORD, officer)
    assert status == 201 and body["subject"] == "can.bo.mot", body
    # the lock is on the audit trail, with the address it applies to
    lines = await audit_of(registry, "user", "can.bo.mot")
    locks = [line["after"] for line in lines if line["after"].get("login") == "locked"]
    assert len(locks) == 1 and locks[0]["client"] == attacker, lines
    # an unknown name locks the same way (a 429 tells nothing about which names exist)
    for _ in range(3):
        assert (await login(registry.client, "khong.ton.tai", WRONG, officer))[0] == 401
    assert (await login(registry.client, "khong.ton.tai", PASSWORD, officer))[0] == 429


async def test_many_names_from_one_address_throttle_that_address_only(registry: Registry) -> None:
    await add_users(registry, "can.bo.hai")
    guesser, colleague = "192.0.2.44", "192.0.2.45"
    # five wrong passwords spread over names (never three for one name): the fifth throttles
    for name in ("can.bo.hai", "a.b", "c.d", "can.bo.hai", "e.f"):
        assert (await login(registry.client, name, WRONG, guesser))[0] == 401
    status, body = await login(registry.client, "can.bo.hai", PASSWORD, guesser)
    assert status == 429 and "from this address" in body["detail"], body
    assert (await login(registry.client, "can.bo.hai", PASSWORD, colleague))[0] == 201
    lines = await audit_of(registry, "login_address", guesser)
    assert [line["after"]["login"] for line in lines] == ["throttled"], lines
    assert lines[0]["after"]["failures"] == 5 and lines[0]["via"] == "login"


async def test_the_forwarded_header_counts_only_from_a_trusted_proxy(registry: Registry) -> None:
    await add_users(registry, "can.bo.ba")
    # a peer that is not a trusted proxy: its header is ignored, every attempt is the peer's own
    transport = httpx.ASGITransport(app=registry.client._transport.app, client=("203.0.113.99", 4000))  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as direct:
        for fake in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
            assert (await login(direct, "can.bo.ba", WRONG, fake))[0] == 401
        assert (await login(direct, "can.bo.ba", PASSWORD, "10.0.0.4"))[0] == 429
        # entries left of the trusted proxy's prove nothing either: the peer is what counts
        assert (await login(direct, "can.bo.ba", PASSWORD, "203.0.113.1, 127.0.0.1"))[0] == 429
    # through the trusted proxy, the forwarded address is the client's: the lock stays over there
    assert (await login(registry.client, "can.bo.ba", PASSWORD, "198.51.100.200, 203.0.113.99"))[0] == 429
    assert (await login(registry.client, "can.bo.ba", PASSWORD, "203.0.113.98"))[0] == 201
