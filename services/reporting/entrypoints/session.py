"""Dashboard sessions: a login page takes a user name and password (checked by the registry, which
answers with a session token) or a registry token, and keeps the token in a signed, expiring cookie.

The cookie holds the bearer token, the moment of login and an HMAC of both under
``TTHC_DASHBOARD_SESSION_SECRET``: the token is checked against reporting's copy of the
registry feed on every request (a revoked or expired token ends the session at once), and
the signed moment bounds the session to ``TTHC_DASHBOARD_SESSION_MINUTES`` whatever the
token's own lifetime. The cookie is HttpOnly (no script reads it) and SameSite=Strict (no
other site sends it). Forms that change data carry a CSRF field: the HMAC of a random
``tthc_csrf`` cookie (signed double submit), checked on every POST.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime

import httpx
from fastapi import Request
from fastapi.responses import Response

from services.reporting.adapters import registry_copy
from shared.auth import BearerAuth, Principal, hash_token
from shared.contracts.registry import RegistryChange

SESSION_COOKIE = "tthc_session"
CSRF_COOKIE = "tthc_csrf"
CSRF_FIELD = "csrf"


class LoginRequired(Exception):
    """No valid session on a dashboard page that needs one: the browser goes to the login page."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CsrfRejected(Exception):
    """A form came without the CSRF field of this browser (another site, or an old page)."""


@dataclass(frozen=True)
class Sessions:
    """Signs and checks session and CSRF values with one secret."""

    secret: bytes
    ttl_s: int
    secure: bool

    @classmethod
    def from_settings(cls, secret: str, minutes: int, secure: bool) -> Sessions:
        # without a configured secret each process draws its own: sessions end with a restart
        key = secret.encode() if secret else secrets.token_bytes(32)
        return cls(key, minutes * 60, secure)

    def _mac(self, *parts: str) -> str:
        return hmac.new(self.secret, "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()

    def issue(self, token: str, now: datetime) -> str:
        issued = str(int(now.timestamp()))
        encoded = base64.urlsafe_b64encode(token.encode()).decode()
        return f"{encoded}.{issued}.{self._mac('session', token, issued)}"

    def token_of(self, cookie: str, now: datetime) -> str | None:
        """The token of a session cookie still valid at ``now``; None when forged or expired."""
        try:
            encoded, issued, mac = cookie.split(".")
            token = base64.urlsafe_b64decode(encoded.encode()).decode()
            started = int(issued)
        except (ValueError, UnicodeDecodeError):
            return None
        if not hmac.compare_digest(mac, self._mac("session", token, issued)):
            return None
        if not started <= now.timestamp() < started + self.ttl_s:
            return None
        return token

    def set_session(self, response: Response, token: str, now: datetime) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            self.issue(token, now),
            max_age=self.ttl_s,
            httponly=True,
            samesite="strict",
            secure=self.secure,
            path="/",
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=self.secure)

    # CSRF: signed double submit
    def csrf_cookie(self, request: Request) -> str:
        return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)

    def csrf_field(self, cookie: str) -> str:
        return self._mac("csrf", cookie)

    def keep_csrf(self, response: Response, cookie: str) -> None:
        response.set_cookie(
            CSRF_COOKIE, cookie, httponly=True, samesite="strict", secure=self.secure, path="/"
        )

    def check_csrf(self, request: Request, field: str | None) -> None:
        cookie = request.cookies.get(CSRF_COOKIE)
        if not cookie or not field or not hmac.compare_digest(field, self.csrf_field(cookie)):
            raise CsrfRejected


async def session_principal(request: Request) -> tuple[Principal | None, str | None]:
    """The principal of the request's bearer header or session cookie, and why there is none."""
    auth: BearerAuth = request.app.state.auth
    sessions: Sessions = request.app.state.sessions
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None, "bad_header"
        return await auth.lookup(hash_token(token.strip())), "unknown_token"
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None, "no_session"
    kept = sessions.token_of(cookie, request.app.state.clock())
    if kept is None:
        return None, "expired"
    principal = await auth.lookup(hash_token(kept))
    return principal, None if principal else "unknown_token"


async def dashboard_caller(request: Request) -> Principal | None:
    """FastAPI dependency of every dashboard page: the logged-in principal, or anonymous if allowed."""
    principal, reason = await session_principal(request)
    if principal is not None:
        return principal
    if reason in ("no_session",) and not request.app.state.settings.reporting_require_token:
        return None
    raise LoginRequired(reason or "no_session")


def bearer_token(request: Request) -> str | None:
    """The token the request acts with (header or session), to call processing on the user's behalf."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    sessions: Sessions = request.app.state.sessions
    return sessions.token_of(cookie, request.app.state.clock())


# --- password logins: the registry checks the password and issues the session's token --------------


@dataclass(frozen=True)
class LoginFailure:
    """Why a password login failed: the text key of the notice, the page status, minutes to wait."""

    key: str
    status: int
    minutes: int = 0


def registry_url(request: Request) -> str:
    s = request.app.state.settings
    return str(s.reporting_registry_url or f"http://{s.http_host}:{s.registry_port}")


def forwarded_for(request: Request) -> str:
    """The ``X-Forwarded-For`` chain the registry gets with a login: what reached us, then our peer.

    The registry counts wrong passwords per client address; it believes this header only from the
    proxies its ``TTHC_LOGIN_TRUSTED_PROXIES`` lists (this dashboard among them), and only as far
    back as the right-most entry that is not one of them, so a browser's own header proves nothing.
    """
    peer = request.client.host if request.client else "unknown"
    earlier = request.headers.get("x-forwarded-for", "").strip()
    return f"{earlier}, {peer}" if earlier else peer


async def password_login(request: Request, name: str, password: str) -> str | LoginFailure:
    """The session token the registry issues for ``name`` and ``password``, or why there is none.

    The registry is told the browser's address (:func:`forwarded_for`). The answer carries the token's feed change: it goes into reporting's copy of the registry
    at once (the same upsert the feed consumer does; the feed's copy of it later changes nothing),
    so the first page after the login does not wait for the feed.
    """
    minutes = request.app.state.settings.dashboard_session_minutes
    try:
        async with httpx.AsyncClient(base_url=registry_url(request), timeout=10) as client:
            r = await client.post(
                "/api/v1/logins",
                json={"name": name, "password": password, "minutes": minutes},
                headers={"X-Forwarded-For": forwarded_for(request)},
            )
    except httpx.HTTPError:
        return LoginFailure("registry_unreachable", 503)
    if r.status_code == 429:
        wait_s = int(r.headers.get("retry-after", "60")) if r.headers.get("retry-after", "").isdigit() else 60
        return LoginFailure("login_locked", 429, max(1, math.ceil(wait_s / 60)))
    if r.status_code in (401, 422):
        return LoginFailure("password_failed", 401)
    if r.status_code != 201:
        return LoginFailure("registry_unreachable", 503)
    body = r.json()
    change = RegistryChange.model_validate(body["change"])
    async with request.app.state.resources.pool.acquire() as conn:
        await registry_copy.apply_change(conn, change)
    return str(body["token"])


async def end_password_session(request: Request, token: str) -> None:
    """Ask the registry to revoke a password session's token (it leaves any other token alone).

    Best effort: the cookie is cleared whatever the answer, and the token expires with the session.
    """
    try:
        async with httpx.AsyncClient(base_url=registry_url(request), timeout=5) as client:
            await client.delete("/api/v1/logins/current", headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError:
        pass
