"""Who is calling reporting: bearer tokens of ``shared/auth.py``, checked against our copy of the feed.

Every role may read reports; an officer only about its own agency subtree (``shared.auth.scope_root``,
the rule of every read API). Without a token the caller is anonymous: refused with 401 unless
``TTHC_REPORTING_REQUIRE_TOKEN`` is false, which only ``tthc up --demo`` sets (and prints).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
from fastapi import Request

from services.reporting.adapters import registry_copy, views
from shared.auth import BearerAuth, Principal, TokenLookup, Unauthorized, principal_of, scope_root
from shared.db import Conn

Caller = Principal | None


def token_lookup(
    pool: asyncpg.Pool, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> TokenLookup:
    """Token hash → principal, from reporting's copy of the registry feed."""

    async def lookup(token_hash: str) -> Principal | None:
        async with pool.acquire() as conn:
            record = await registry_copy.token_record(conn, token_hash)
        if record is None or (record.expires_at is not None and record.expires_at <= clock()):
            return None
        return principal_of(record)

    return lookup


async def caller(request: Request) -> Caller:
    """The request's principal, from the header ``Authorization: Bearer …`` only.

    No cookie is read here: the dashboard's pages have their own signed session cookie
    (``entrypoints/session.py``), and a JSON API that took a token from a cookie would act for
    whichever site made the browser send it (no CSRF check guards these routes).
    """
    if "authorization" not in request.headers:
        if request.app.state.settings.reporting_require_token:
            raise Unauthorized("reports need a bearer token: send 'Authorization: Bearer <token>'")
        else:
            return None
    auth: BearerAuth = request.app.state.auth
    return await auth(request)


async def may_see(conn: Conn, who: Caller, agency_code: str) -> bool:
    """Whether ``who`` may see one item (a dossier, a finding) of ``agency_code``.

    When it may not, answer 404 exactly as for an item that does not exist (no oracle): a 403
    would tell an officer that another agency's dossier code exists.
    """
    root = scope_root(who) if who is not None else None
    return root is None or agency_code in await views.subtree(conn, root)
