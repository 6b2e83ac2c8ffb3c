"""Processing HTTP API under /api/v1: dossiers and the nonconformity register.

Every route takes a bearer token (``shared/auth.py``); an officer sees its agency subtree only,
and a dossier or finding outside it is answered 404 exactly like one that does not exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from services.processing.adapters import access, nonconformities, registry_copy, repository
from services.processing.handlers import publish_unpublished
from shared.auth import BearerAuth, Forbidden, Principal, Role, scope_root
from shared.http import Offset

router = APIRouter(prefix="/api/v1")


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.resources.pool
    return pool


async def _lookup(request: Request) -> Principal:
    async def lookup(token_hash: str) -> Principal | None:
        async with _pool(request).acquire() as conn:
            return await registry_copy.token_principal(conn, token_hash, datetime.now().astimezone())

    return await BearerAuth(lookup)(request)


Caller = Annotated[Principal, Depends(_lookup)]
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "no bearer token, or an unknown, revoked or expired one"},
}


@router.get("/dossiers/{code}", tags=["dossiers"], responses=AUTH_RESPONSES)
async def get_dossier(code: str, request: Request, who: Caller) -> dict[str, Any]:
    """The dossier's current assessment: status, outcome, due times, control slip, nonconformities.

    404 when the dossier is unknown or outside the officer's agency subtree (the same answer)."""
    async with _pool(request).acquire() as conn:
        row = await conn.fetchrow(
            "SELECT agency_code, revision, assessment, next_deadline, at_risk_since, forecast_resolved_at "
            "FROM processing.dossiers WHERE dossier_code = $1",
            code,
        )
        visible = row is not None and await access.may_see(conn, who, row["agency_code"])
    if row is None or not visible:
        raise HTTPException(404, f"no dossier with code {code!r} has been seen")
    body: dict[str, Any] = {**repository.with_forecast(row), "revision": row["revision"]}
    body["next_deadline"] = row["next_deadline"].isoformat() if row["next_deadline"] else None
    return body


Status = Literal["open", "corrective_action", "closed"]


@router.get("/nonconformities", tags=["nonconformities"], responses=AUTH_RESPONSES)
async def list_nonconformities(
    request: Request,
    who: Caller,
    agency: str | None = None,
    procedure: str | None = None,
    code: Annotated[str | None, Query(description="rule code, e.g. LATE, STEP_OVERDUE")] = None,
    status: Status | None = None,
    detected_from: datetime | None = None,
    detected_to: datetime | None = None,
    include_inactive: Annotated[bool, Query(description="also findings the engine no longer raises")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """The nonconformity register (sổ theo dõi sự không phù hợp), filtered and paged; an officer
    sees the findings of its agency subtree (403 for an ``agency`` outside it)."""
    async with _pool(request).acquire() as conn:
        root = scope_root(who)
        visible = await access.agency_subtree(conn, root) if root is not None else None
        if agency is not None and visible is not None and agency not in visible:
            raise Forbidden(
                f"agency {agency!r} is outside your agency subtree ({root}); ask for one of its agencies"
            )
        f = nonconformities.RegisterFilter(
            agency, procedure, code, status, detected_from, detected_to, include_inactive, visible
        )
        items, total = await nonconformities.list_register(conn, f, limit, offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


class StatusChange(BaseModel):
    status: Status
    corrective_action: str | None = Field(
        default=None, max_length=4000, description="what was done (clause 10.2)"
    )


@router.patch("/nonconformities/{dossier_code}/{nc_key}", tags=["nonconformities"])
async def change_nonconformity(
    dossier_code: str,
    nc_key: str,
    change: StatusChange,
    request: Request,
    who: Annotated[Principal, Depends(_lookup)],
) -> dict[str, Any]:
    """Move a finding open → corrective_action → closed (admin, or an officer of the agency's subtree).

    404 when the finding is unknown or outside the officer's agency subtree (the same answer)."""
    async with _pool(request).acquire() as conn, conn.transaction():
        agency = await conn.fetchval(
            "SELECT agency_code FROM processing.nonconformities WHERE dossier_code = $1 AND nc_key = $2",
            dossier_code,
            nc_key,
        )
        if agency is None or not await access.may_see(conn, who, agency):
            raise HTTPException(404, f"no nonconformity {nc_key!r} on dossier {dossier_code!r}")
        if who.role is Role.VIEWER:
            raise Forbidden("a viewer token cannot change nonconformities; use an officer or admin token")
        try:
            updated = await nonconformities.change_status(
                conn, dossier_code, nc_key, change.status, change.corrective_action, who.subject
            )
        except nonconformities.TransitionError as exc:
            raise HTTPException(409, str(exc)) from exc
    await publish_unpublished(request.app.state.ctx)
    return updated
