"""Dashboard users in the registry: argon2id hashes, password logins, lock-out, sessions, ``tthc user``.

Through the real registry app (PostgreSQL, broker, relay) and the real CLI on the same database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from click.testing import CliRunner

from services.cli import main
from services.registry import handlers
from services.registry.adapters.repository import Actor
from shared.contracts.registry import Role
from shared.db import create_pool
from tests.conftest import Infra
from tests.integration.test_registry_harness import Registry, running_registry

pytestmark = pytest.mark.integration

CITY = "000.00.00.H97"
WARD = "000.01.31.H97"
PASSWORD = "mật-khẩu đủ dài 2025"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def registry(infra: Infra) -> AsyncIterator[Registry]:
    async with running_registry(infra, login_max_failures=3, login_lock_minutes=10) as r:
        for code, level, parent in ((CITY, "province", None), (WARD, "commune", CITY)):
            body = {"code": code, "name": f"UBND {code}", "level": level, "parent_code": parent}
            assert (await r.put(f"/agencies/{code}", body)).status_code == 201
        yield r


def cli(registry: Registry, args: list[str], stdin: str) -> tuple[int, str]:
    """``tthc …`` on the registry's database (from a sync test; async tests use :func:`acli`)."""
    result = CliRunner().invoke(main, args, input=stdin, env={"DATABASE_URL": registry.dsn})
    return result.exit_code, result.output


async def acli(registry: Registry, args: list[str], stdin: str) -> tuple[int, str]:
    return await asyncio.to_thread(cli, registry, args, stdin)


async def login(
    registry: Registry, name: str, password: str, minutes: int = 30
) -> tuple[int, dict[str, Any]]:
    r = await registry.client.post(
        "/api/v1/logins", json={"name": name, "password": password, "minutes": minutes}
    )
    return r.status_code, r.json() | (
        {"retry-after": r.headers["retry-after"]} if r.status_code == 429 else {}
    )


async def test_a_user_made_with_the_cli_logs_in_and_sees_its_subtree(registry: Registry) -> None:
    code, out = await acli(registry, ["user", "add", "can.bo.phuong", "--agency", WARD], PASSWORD + "\n")
    assert code == 0, out
    assert PASSWORD not in out
    # the password is kept only as an argon2id hash; it appears in no audit line
    pool = await create_pool(registry.dsn, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            stored = await conn.fetchval(
                "SELECT password_hash FROM registry.users WHERE name = 'can.bo.phuong'"
            )
            audit = await conn.fetch("SELECT after::text AS a FROM registry.audit WHERE entity = 'user'")
    finally:
        await pool.close()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert audit and all(PASSWORD not in a["a"] and "$argon2" not in a["a"] for a in audit)

    status, body = await login(registry, "can.bo.phuong", PASSWORD, minutes=30)
    assert status == 201, body
    assert body["role"] == "officer" and body["agency_code"] == WARD and body["subject"] == "can.bo.phuong"
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(minutes=29) < expires - datetime.now(UTC) <= timedelta(minutes=30)
    assert body["change"]["entity"] == "api_token" and body["change"]["data"]["agency_code"] == WARD
    me = await registry.get("/whoami", token=body["token"])
    assert me.status_code == 200 and me.json()["agency_code"] == WARD
    # an officer's session writes only inside its subtree, like an officer's token
    outside = await registry.put(
        f"/qms/{CITY}", {"agency_code": CITY, "state": "building"}, token=body["token"]
    )
    assert outside.status_code == 403

    # logout revokes the session's token; a plain API token is never revoked by "logout"
    ended = await registry.client.delete(
        "/api/v1/logins/current", headers={"Authorization": f"Bearer {body['token']}"}
    )
    assert ended.status_code == 200 and ended.json()["ended"] is True
    assert (await registry.get("/whoami", token=body["token"])).status_code == 401
    api_token = await registry.token("viewer")
    kept = await registry.client.delete(
        "/api/v1/logins/current", headers={"Authorization": f"Bearer {api_token}"}
    )
    assert kept.json()["ended"] is False
    assert (await registry.get("/whoami", token=api_token)).status_code == 200


async def test_repeated_wrong_passwords_lock_the_user_until_an_admin_resets_it(registry: Registry) -> None:
    assert (await acli(registry, ["user", "add", "xem.bao.cao", "--role", "viewer"], PASSWORD + "\n"))[0] == 0
    # an unknown name and a wrong password get the same answer
    unknown = await login(registry, "khong.co.ai", PASSWORD)
    wrong = await login(registry, "xem.bao.cao", "sai mật khẩu rồi")
    assert unknown[0] == wrong[0] == 401 and unknown[1]["detail"] == wrong[1]["detail"]
    assert (await login(registry, "nul\x00name", PASSWORD))[0] == 401  # not a 500 from the database
    assert (await login(registry, "xem.bao.cao", "sai mật khẩu rồi"))[0] == 401
    assert (await login(registry, "xem.bao.cao", "sai mật khẩu rồi"))[0] == 401  # the third in a row locks
    status, body = await login(registry, "xem.bao.cao", PASSWORD)  # even the right password, now
    assert status == 429, body
    assert 9 * 60 < int(body["retry-after"]) <= 10 * 60 and "try again in 10 minute" in body["detail"]
    # `tthc user password` sets a new password and lifts the lock
    code, out = await acli(registry, ["user", "password", "xem.bao.cao"], "mật khẩu mới của tôi\n")
    assert code == 0, out
    assert (await login(registry, "xem.bao.cao", PASSWORD))[0] == 401
    assert (await login(registry, "xem.bao.cao", "mật khẩu mới của tôi"))[0] == 201


async def test_the_lock_ends_by_itself_and_a_disabled_user_cannot_log_in(registry: Registry) -> None:
    pool = await create_pool(registry.dsn, min_size=1, max_size=1)
    settings = registry.settings
    actor = Actor("test", Role.ADMIN.value, None, "cli")
    t0 = datetime.now(UTC)
    try:
        async with pool.acquire() as conn:
            await handlers.add_user(
                conn,
                actor,
                handlers.login_policy(settings),
                name="tam.khoa",
                password=PASSWORD,
                role=Role.VIEWER,
                agency_code=None,
            )
            for _ in range(3):
                with pytest.raises(handlers.LoginRefused):
                    await handlers.login(conn, settings, "tam.khoa", "wrong password!", 30, t0)
            with pytest.raises(handlers.LoginLocked):
                await handlers.login(conn, settings, "tam.khoa", PASSWORD, 30, t0 + timedelta(minutes=9))
            done = await handlers.login(conn, settings, "tam.khoa", PASSWORD, 30, t0 + timedelta(minutes=10))
            assert done.stored.data["subject"] == "tam.khoa"
            # disabled: refused like a wrong password, and its open session ends (revoked on the feed)
            await handlers.set_disabled(conn, actor, "tam.khoa", True)
            with pytest.raises(handlers.LoginRefused):
                await handlers.login(conn, settings, "tam.khoa", PASSWORD, 30, t0 + timedelta(minutes=11))
    finally:
        await pool.close()
    assert (await registry.get("/whoami", token=done.token)).status_code == 401


def test_cli_mistakes_are_one_line_and_the_password_never_an_argument(
    registry: Registry, tmp_path: Path
) -> None:
    for args, stdin, expected in (
        (["user", "add", "a.b", "--role", "officer"], PASSWORD + "\n", "--agency"),
        (["user", "add", "a.b", "--agency", "000.99.99.H97"], PASSWORD + "\n", "no agency 000.99.99.H97"),
        (["user", "add", "a.b", "--role", "viewer"], "short\n", "at least 10 characters"),
        (["user", "add", "A B", "--role", "viewer"], PASSWORD + "\n", "a user name has 2 to 100 characters"),
        (["user", "add", "a.b", "--role", "viewer"], "", "no password on standard input"),
        (["user", "add", "a.b", "--role", "viewer", "--password", PASSWORD], "", "No such option"),
        (["user", "password", "nobody.here"], PASSWORD + "\n", "no user nobody.here"),
    ):
        code, out = cli(registry, args, stdin)
        assert code in (1, 2), (args, out)
        assert expected in out, (args, out)
        assert "Traceback" not in out
    assert cli(registry, ["user", "add", "trung.ten", "--role", "viewer"], PASSWORD + "\n")[0] == 0
    code, out = cli(registry, ["user", "add", "trung.ten", "--role", "viewer"], PASSWORD + "\n")
    assert code == 1 and "already a user trung.ten" in out
