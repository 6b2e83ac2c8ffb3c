"""Password logins of dashboard users (issue #14): the one registry route open without a token.

``POST /api/v1/logins`` checks a user name and password against ``registry.users`` (argon2id)
and answers with a fresh api_token that expires with the session, bound to the user's role and
agency: every service then checks it like any token (the feed carries its hash), and the
agency-subtree rule of every read applies unchanged. Wrong passwords are counted per user name and
client address, and per address (``handlers.login``); the client address is the peer's, or the
``X-Forwarded-For`` entry a proxy of ``TTHC_LOGIN_TRUSTED_PROXIES`` wrote (the dashboard sends it). The answer also carries the token's feed
change, so the caller (the dashboard) can take it into its copy at once instead of waiting for
the feed. ``DELETE /api/v1/logins/current`` ends the presented session.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.registry import handlers
from services.registry.entrypoints.http import Conn, Who, _relay, _token_out
from shared.auth import client_address, trusted_networks
from shared.http import problem

router = APIRouter(prefix="/api/v1", tags=["access"])


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, examples=["nguyen.van.a"])
    password: str = Field(min_length=1, max_length=1000)
    minutes: int = Field(default=480, ge=1, le=7 * 24 * 60, description="how long the session lasts")


@router.post("/logins", status_code=201, responses={401: {}, 429: {}})
async def create_login(body: LoginIn, request: Request, conn: Conn) -> Any:
    """Check a dashboard user's password; the answer's token is its session (shown only here)."""
    now = datetime.now(UTC)
    settings = request.app.state.registry_context.settings
    client = client_address(
        request.client.host if request.client else None,
        request.headers.get("x-forwarded-for"),
        trusted_networks(settings.login_trusted_proxies),
    )
    try:
        done = await handlers.login(conn, settings, body.name, body.password, body.minutes, now, client)
    except handlers.LoginRefused:
        return problem(401, "Login refused", "wrong user name or password (or the user is disabled)")
    except handlers.LoginLocked as locked:
        wait = max(1, math.ceil((locked.until - now).total_seconds()))
        if isinstance(locked, handlers.LoginThrottled):
            why = "too many wrong passwords came from this address; no login from it"
        else:
            why = (
                "this user is locked at this address after repeated wrong passwords from it; "
                "no login for it from here"
            )
        answer: JSONResponse = problem(
            429,
            "Too many wrong passwords",
            f"{why}: try again in {math.ceil(wait / 60)} minute(s), "
            "or ask an admin to set a new password (`tthc user password NAME`)",
            locked_until=locked.until.isoformat(),
        )
        answer.headers["Retry-After"] = str(wait)
        return answer
    _relay(request).poke()
    s = done.stored
    return {
        **_token_out(s),
        "token": done.token,
        "change": {
            "entity": s.entity,
            "entity_id": s.entity_id,
            "version": s.version,
            "deleted": False,
            "changed_at": s.updated_at.isoformat(),
            "data": s.data,
        },
    }


@router.delete("/logins/current")
async def end_login(request: Request, conn: Conn, who: Who) -> dict[str, Any]:
    """End the session of the presented token (a token no password login issued is left alone)."""
    token = request.headers.get("authorization", "").partition(" ")[2].strip()
    ended = await handlers.logout(conn, token)
    if ended:
        _relay(request).poke()
    return {"ended": ended, "subject": who.subject}
