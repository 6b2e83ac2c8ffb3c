"""Bearer tokens with roles, checkable by any service without calling the registry.

Tokens are opaque random strings (``tthc_`` + 43 URL-safe characters, 256 bits). The registry
stores and publishes only their SHA-256 hash, with the role and the agency an officer is bound
to, as ``api_token`` entities on ``tthc.registry.v1``; a revocation is a deletion on that feed.
A service verifies a request by hashing the presented token and looking the hash up in its own
copy of the feed (``TokenTable`` in memory, or a table of its own) — no shared secret, no call
to the registry. Why this design: docs/decisions.md, "Bearer tokens".

Use in a FastAPI service::

    auth = BearerAuth(lookup)                  # lookup: hash -> Principal | None
    install_auth_errors(app)                   # 401 answers carry WWW-Authenticate
    @router.get("/x")
    async def x(who: Principal = Depends(auth)) -> ...
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.contracts.registry import ApiTokenRecord, RegistryChange, Role
from shared.http import problem

__all__ = [
    "BearerAuth",
    "Forbidden",
    "Principal",
    "Role",
    "TokenLookup",
    "TokenTable",
    "Unauthorized",
    "client_address",
    "hash_token",
    "install_auth_errors",
    "new_token",
    "principal_of",
    "scope_root",
    "trusted_networks",
]

TOKEN_PREFIX = "tthc_"
#: Shortest token accepted anywhere (a fixed TTHC_ADMIN_TOKEN too): its hash is on the feed,
#: so a short, guessable token could be found by brute force.
MIN_TOKEN_LENGTH = 24


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's holder and what the token allows."""

    subject: str
    role: Role
    agency_code: str | None
    token_id: str  # the first 12 hex digits of the token hash: safe to log and to show

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def scope_root(who: Principal) -> str | None:
    """The root of the agency subtree whose data ``who`` may read; None = every agency.

    One rule for every read API: an officer reads its agency and the agencies below it; admins
    and viewers read everything. Outside the subtree a single item answers 404, exactly like
    one that does not exist, so that codes cannot be probed.
    """
    return who.agency_code if who.role is Role.OFFICER else None


def new_token() -> str:
    """A fresh random token (shown once to its holder; only its hash is kept)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Hex SHA-256 of ``token``: the token's id on the feed and in every table."""
    return hashlib.sha256(token.encode()).hexdigest()


def principal_of(record: ApiTokenRecord) -> Principal:
    return Principal(record.subject, record.role, record.agency_code, record.token_hash[:12])


TokenLookup = Callable[[str], Awaitable[Principal | None]]
"""Token hash → its principal, or None when unknown, revoked or expired."""


class Unauthorized(StarletteHTTPException):
    """No token, or a token nobody knows (HTTP 401)."""

    def __init__(self, detail: str) -> None:
        super().__init__(401, detail, headers={"WWW-Authenticate": 'Bearer realm="tthc"'})


class Forbidden(StarletteHTTPException):
    """A valid token whose role or agency does not allow this (HTTP 403)."""

    def __init__(self, detail: str) -> None:
        super().__init__(403, detail)


class BearerAuth:
    """FastAPI dependency: the request's :class:`Principal`, or 401."""

    def __init__(self, lookup: TokenLookup) -> None:
        self.lookup = lookup

    async def __call__(self, request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if not header:
            raise Unauthorized("this API needs a bearer token: send 'Authorization: Bearer <token>'")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("the Authorization header must read 'Bearer <token>'")
        principal = await self.lookup(hash_token(token))
        if principal is None:
            raise Unauthorized("the bearer token is unknown, revoked or expired; ask an admin for a new one")
        return principal


def install_auth_errors(app: FastAPI) -> None:
    """Answer 401/403 as problem+json, keeping the ``WWW-Authenticate`` header of a 401."""

    async def handler(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        title = "Unauthorized" if exc.status_code == 401 else "Forbidden"
        response = problem(exc.status_code, title, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    app.add_exception_handler(Unauthorized, handler)
    app.add_exception_handler(Forbidden, handler)


class TokenTable:
    """An in-memory copy of the feed's ``api_token`` entities (highest version wins).

    For a service that keeps tokens in memory: feed it every ``RegistryChange`` from
    ``tthc.registry.v1`` (from offset 0 at start), and pass :meth:`lookup` to :class:`BearerAuth`.
    """

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._tokens: dict[str, tuple[int, ApiTokenRecord | None]] = {}
        self._clock = clock

    def apply(self, change: RegistryChange) -> bool:
        """Take one change; returns True if the table changed. Other entity kinds are ignored."""
        if change.entity != "api_token":
            return False
        known = self._tokens.get(change.entity_id)
        if known is not None and known[0] >= change.version:
            return False
        record = change.record()
        assert record is None or isinstance(record, ApiTokenRecord)
        self._tokens[change.entity_id] = (change.version, None if change.deleted else record)
        return True

    async def lookup(self, token_hash: str) -> Principal | None:
        known = self._tokens.get(token_hash)
        record = known[1] if known else None
        if record is None or (record.expires_at is not None and record.expires_at <= self._clock()):
            return None
        return principal_of(record)


# --- the client address of a request (behind trusted proxies only) ---------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(setting: str) -> tuple[Network, ...]:
    """``"127.0.0.1,::1,10.0.0.0/8"`` → networks; raises ValueError on a malformed entry."""
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in setting.split(",") if p.strip())


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_address(peer: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str:
    """The address a request comes from: the peer's, unless the peer is a trusted proxy; then the
    right-most ``X-Forwarded-For`` entry that is not itself a trusted proxy (entries further left
    were written by the client and prove nothing). ``"unknown"`` when there is no peer at all."""
    hop = _address(peer or "")
    if hop is None:
        return (peer or "unknown")[:100]

    def is_trusted(a: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(a.version == n.version and a in n for n in trusted)

    for entry in reversed((forwarded_for or "").split(",") if forwarded_for else []):
        if not is_trusted(hop):
            break
        nxt = _address(entry)
        if nxt is None:  # garbage from a trusted proxy's client: the proxy is as far as we can see
            break
        hop = nxt
    return str(hop)
