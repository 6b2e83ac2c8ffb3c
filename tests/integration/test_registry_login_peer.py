"""The registry process, served as in production (``python -m services.registry`` → ``shared.runtime.serve``),
counts wrong passwords against the TCP peer when the peer is not a trusted proxy: a forged
``X-Forwarded-For`` cannot choose the address, even from 127.0.0.1 (uvicorn's own proxy-header
rewriting, on by default for local callers, is off)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from services.registry import handlers
from services.registry.adapters.repository import Actor
from services.registry.settings import RegistrySettings
from shared.contracts.registry import Role
from shared.db import create_pool
from shared.kafka import ensure_topics
from shared.settings import CommonSettings
from tests.conftest import Infra, create_database
from tests.integration.service_process import ServiceProcess, isolated_topics, topic_specs_for

pytestmark = pytest.mark.integration

PASSWORD = "mật-khẩu đủ dài 2025"
WRONG = "không phải mật khẩu"


async def test_a_forged_forwarded_header_from_an_untrusted_peer_does_not_move_the_lock(
    infra: Infra, tmp_path: Path
) -> None:
    dsn = await create_database(infra)
    env = isolated_topics(f"peer{tmp_path.name[-6:]}") | {
        "TTHC_LOGIN_TRUSTED_PROXIES": "",  # no proxy: the peer is the client
        "TTHC_LOGIN_MAX_FAILURES": "3",
        "TTHC_LOGIN_ADDRESS_MAX_FAILURES": "5",
    }
    await ensure_topics(CommonSettings(kafka_bootstrap_servers=infra.bootstrap_servers), topic_specs_for(env))
    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            settings = RegistrySettings(database_url=dsn)
            await handlers.add_user(
                conn,
                Actor("test", Role.ADMIN.value, None, "cli"),
                handlers.login_policy(settings),
                name="can.bo.bon",
                password=PASSWORD,
                role=Role.VIEWER,
                agency_code=None,
            )
    finally:
        await pool.close()
    registry = ServiceProcess(
        "registry", dsn, infra.bootstrap_servers, env, tmp_path / "registry.log"
    ).start()
    try:
        async with httpx.AsyncClient(base_url=registry.url, timeout=30) as client:

            async def login(password: str, forged: str) -> int:
                r = await client.post(
                    "/api/v1/logins",
                    json={"name": "can.bo.bon", "password": password, "minutes": 30},
                    headers={"X-Forwarded-For": forged},
                )
                return r.status_code

            # three wrong passwords, each claiming another address: all are 127.0.0.1's
            for forged in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
                assert await login(WRONG, forged) == 401
            # so the user is locked at 127.0.0.1, whatever address the next request claims
            assert await login(PASSWORD, "198.51.100.4") == 429
    finally:
        registry.kill()
