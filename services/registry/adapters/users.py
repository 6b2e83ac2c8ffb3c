"""The ``registry.users`` table and the password hashes (argon2id through ``argon2-cffi``).

Hashing and checking run in a worker thread: argon2 is deliberately slow (tens of
milliseconds, 64 MiB), and the event loop must keep serving meanwhile.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.registry.adapters.repository import Actor
from services.registry.domain.users import AddressFailures
from shared.db import Conn

_HASHER = PasswordHasher()  # argon2id with the library's (RFC 9106 "low memory") parameters
#: checked when the user name is unknown, so that an unknown name costs the same time as a wrong password
_DUMMY = _HASHER.hash("no such user: the time of a real check")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_HASHER.hash, password)


async def password_matches(stored_hash: str | None, password: str) -> bool:
    def check() -> bool:
        try:
            return _HASHER.verify(stored_hash or _DUMMY, password) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


@dataclass(frozen=True)
class User:
    name: str
    password_hash: str
    role: str
    agency_code: str | None
    disabled: bool


def _user(row: Any) -> User:
    return User(
        row["name"],
        row["password_hash"],
        row["role"],
        row["agency_code"],
        row["disabled"],
    )


async def get(conn: Conn, name: str, *, for_update: bool = False) -> User | None:
    row = await conn.fetchrow(
        "SELECT * FROM registry.users WHERE name = $1" + (" FOR UPDATE" if for_update else ""), name
    )
    return _user(row) if row is not None else None


async def insert(conn: Conn, name: str, password_hash: str, role: str, agency_code: str | None) -> bool:
    """False when the name is taken."""
    status = await conn.execute(
        "INSERT INTO registry.users (name, password_hash, role, agency_code) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (name) DO NOTHING",
        name,
        password_hash,
        role,
        agency_code,
    )
    return status.endswith(" 1")


async def set_password(conn: Conn, name: str, password_hash: str, now: datetime) -> None:
    """A new password; it also lifts the user's lock-outs (at every address)."""
    await conn.execute(
        "UPDATE registry.users SET password_hash = $2, updated_at = $3 WHERE name = $1",
        name,
        password_hash,
        now,
    )
    await conn.execute("DELETE FROM registry.login_failures WHERE user_name = $1", name)


async def set_disabled(conn: Conn, name: str, disabled: bool, now: datetime) -> None:
    await conn.execute(
        "UPDATE registry.users SET disabled = $2, updated_at = $3 WHERE name = $1", name, disabled, now
    )


# --- wrong passwords per (user name, client address) and per address ----------------------------------


@dataclass(frozen=True)
class Failures:
    failed: int
    locked_until: datetime | None
    last_at: datetime | None


async def lock_address(conn: Conn, client: str) -> None:
    """Serialise the failure counts of one client address until the transaction ends (parallel
    wrong passwords from one address must not count as fewer)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('registry.login:' || $1, 0))", client)


async def failures_of(conn: Conn, name: str, client: str) -> Failures:
    row = await conn.fetchrow(
        "SELECT failed, locked_until, last_at FROM registry.login_failures WHERE user_name = $1 "
        "AND client = $2",
        name,
        client,
    )
    if row is None:
        return Failures(0, None, None)
    return Failures(row["failed"], row["locked_until"], row["last_at"])


async def record_failure(
    conn: Conn, name: str, client: str, failed: int, locked_until: datetime | None, now: datetime
) -> None:
    await conn.execute(
        """
        INSERT INTO registry.login_failures (user_name, client, failed, locked_until, last_at)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (user_name, client) DO UPDATE SET failed = $3,
            locked_until = coalesce($4, registry.login_failures.locked_until), last_at = $5
        """,
        name,
        client,
        failed,
        locked_until,
        now,
    )


async def record_success(conn: Conn, name: str, client: str) -> None:
    await conn.execute(
        "DELETE FROM registry.login_failures WHERE user_name = $1 AND client = $2", name, client
    )


async def forget_failures(
    conn: Conn, failures_before: datetime, windows_before: datetime, now: datetime
) -> None:
    """Drop counts nobody needs any more (no recent failure, no running lock or throttle)."""
    await conn.execute(
        "DELETE FROM registry.login_failures WHERE last_at < $1 AND (locked_until IS NULL OR locked_until <= $2)",
        failures_before,
        now,
    )
    await conn.execute(
        "DELETE FROM registry.login_addresses WHERE window_start < $1 "
        "AND (blocked_until IS NULL OR blocked_until <= $2)",
        windows_before,
        now,
    )


async def address_failures(conn: Conn, client: str) -> AddressFailures | None:
    row = await conn.fetchrow(
        "SELECT window_start, failed, blocked_until FROM registry.login_addresses WHERE client = $1", client
    )
    return AddressFailures(row["window_start"], row["failed"], row["blocked_until"]) if row else None


async def record_address_failure(conn: Conn, client: str, state: AddressFailures) -> None:
    await conn.execute(
        """
        INSERT INTO registry.login_addresses (client, window_start, failed, blocked_until)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (client) DO UPDATE SET window_start = $2, failed = $3, blocked_until = $4
        """,
        client,
        state.window_start,
        state.failed,
        state.blocked_until,
    )


async def add_session(conn: Conn, token_hash: str, name: str, expires_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO registry.user_sessions (token_hash, user_name, expires_at) VALUES ($1, $2, $3)",
        token_hash,
        name,
        expires_at,
    )


async def session_user(conn: Conn, token_hash: str) -> str | None:
    value = await conn.fetchval(
        "SELECT user_name FROM registry.user_sessions WHERE token_hash = $1", token_hash
    )
    return str(value) if value is not None else None


async def end_session(conn: Conn, token_hash: str) -> None:
    await conn.execute("DELETE FROM registry.user_sessions WHERE token_hash = $1", token_hash)


async def sessions_of(conn: Conn, name: str) -> list[str]:
    rows = await conn.fetch("SELECT token_hash FROM registry.user_sessions WHERE user_name = $1", name)
    return [r["token_hash"] for r in rows]


async def audit(conn: Conn, actor: Actor, action: str, name: str, after: dict[str, Any] | None) -> None:
    """A line of the registry's audit trail (entity ``user``; never the password or its hash)."""
    await conn.execute(
        """
        INSERT INTO registry.audit (actor, actor_role, actor_agency, via, action, entity, entity_id,
            version, before, after)
        VALUES ($1, $2, $3, $4, $5, 'user', $6, 1, NULL, $7)
        """,
        actor.subject,
        actor.role,
        actor.agency_code,
        actor.via,
        action,
        name,
        after,
    )


async def audit_address(conn: Conn, actor: Actor, client: str, after: dict[str, Any]) -> None:
    """An audit line about a client address (entity ``login_address``): a login throttle began."""
    await conn.execute(
        """
        INSERT INTO registry.audit (actor, actor_role, actor_agency, via, action, entity, entity_id,
            version, before, after)
        VALUES ($1, $2, $3, $4, 'update', 'login_address', $5, 1, NULL, $6)
        """,
        actor.subject,
        actor.role,
        actor.agency_code,
        actor.via,
        client,
        after,
    )
