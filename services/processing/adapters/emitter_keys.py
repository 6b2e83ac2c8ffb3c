"""API keys of the emitting systems (processing.emitter_keys).

A key is 32 random bytes, URL-safe, shown once at creation; only its SHA-256 is stored. A
random 256-bit key cannot be guessed from its hash, so a fast hash is enough: a slow KDF
(bcrypt, argon2) protects low-entropy passwords and would cost every ingest request
milliseconds of CPU for nothing (docs/decisions.md, "Emitter keys").
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from shared.db import Conn

KEY_PREFIX = "tthc_emit_"
ANY_AGENCY = "*"


@dataclass(frozen=True)
class Emitter:
    """An emitting system, as its key identifies it."""

    name: str
    agencies: frozenset[str]

    def may_report_for(self, agency_code: str) -> bool:
        return ANY_AGENCY in self.agencies or agency_code in self.agencies


@dataclass(frozen=True)
class EmitterKeyInfo:
    """What may be shown of a key: never the key, never its hash."""

    name: str
    agencies: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyNameTaken(ValueError):
    pass


async def create_key(conn: Conn, name: str, agencies: Iterable[str]) -> str:
    """Store a new key for ``name`` bound to ``agencies``; return the key (the only time it exists)."""
    wanted = sorted({a.strip() for a in agencies if a.strip()})
    if not wanted:
        raise ValueError("bind the key to at least one agency code (or '*' for every agency)")
    key = new_key()
    inserted = await conn.fetchval(
        """
        INSERT INTO processing.emitter_keys (key_hash, name, agencies) VALUES ($1, $2, $3)
        ON CONFLICT (name) WHERE revoked_at IS NULL DO NOTHING
        RETURNING name
        """,
        hash_key(key),
        name,
        wanted,
    )
    if inserted is None:
        raise KeyNameTaken(f"an active key named {name!r} exists: revoke it first or choose another name")
    return key


async def list_keys(conn: Conn) -> list[EmitterKeyInfo]:
    rows = await conn.fetch(
        "SELECT name, agencies, created_at, revoked_at FROM processing.emitter_keys ORDER BY name, created_at"
    )
    return [EmitterKeyInfo(r["name"], tuple(r["agencies"]), r["created_at"], r["revoked_at"]) for r in rows]


async def revoke_key(conn: Conn, name: str) -> bool:
    """Revoke the active key named ``name``; False if there is none."""
    done = await conn.fetchval(
        "UPDATE processing.emitter_keys SET revoked_at = now() "
        "WHERE name = $1 AND revoked_at IS NULL RETURNING name",
        name,
    )
    return done is not None


async def emitter_of(conn: Conn, key: str) -> Emitter | None:
    """The emitter holding ``key``, or None when the key is unknown or revoked."""
    row = await conn.fetchrow(
        "SELECT name, agencies FROM processing.emitter_keys WHERE key_hash = $1 AND revoked_at IS NULL",
        hash_key(key),
    )
    return Emitter(row["name"], frozenset(row["agencies"])) if row else None
