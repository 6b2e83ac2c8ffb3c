"""The reports API takes its token from the ``Authorization`` header only, never from a cookie.

A cookie is sent by the browser whatever site made the request, so a JSON API that read a token
from one would answer (and, for writes, act) for any page the user happens to open. The dashboard's
pages have their own signed session cookie and CSRF field (``entrypoints/session.py``).
"""

from __future__ import annotations

import asyncpg
import pytest

from services.reporting.handlers import handle_registry_changes
from shared.auth import hash_token
from tests.integration.test_reporting_service import APRIL, change, client, http_app, load
from tests.integration.test_reporting_service import pool as pool  # the same fixture

pytestmark = pytest.mark.integration

VIEWER = "tthc_viewer-token-0123456789abcdef"


async def test_a_token_in_a_cookie_is_not_a_login(pool: asyncpg.Pool, database: str) -> None:
    ctx = await load(pool)
    await handle_registry_changes(
        ctx,
        [
            change(
                "api_token",
                hash_token(VIEWER),
                1,
                {"token_hash": hash_token(VIEWER), "subject": "v@x.vn", "role": "viewer"},
            )
        ],
    )
    app = http_app(pool, database, APRIL, reporting_require_token=True)
    async with client(app, VIEWER) as c:  # the header: accepted
        assert (await c.get("/api/v1/reports/form06", params={"period": "2025-03"})).status_code == 200
    for name in ("tthc_token", "tthc_session"):
        async with client(app) as c:
            c.cookies.set(name, VIEWER)
            refused = await c.get("/api/v1/reports/form06", params={"period": "2025-03"})
            assert refused.status_code == 401, (name, refused.status_code)
