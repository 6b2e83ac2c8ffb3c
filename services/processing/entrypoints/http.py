"""Processing HTTP API under /api/v1: dossiers and the nonconformity register."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from services.processing.adapters import nonconformities, registry_copy
from services.processing.handlers import publish_unpublished
from shared.auth import BearerAuth, Forbidden, Principal, Role
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


@router.get("/dossiers/{code}", tags=["dossiers"])
async def get_dossier(code: str, request: Request) -> dict[str, Any]:
    """The dossier's current assessment: status, outcome, due times, control slip, nonconformities."""
    async with _pool(request).acquire() as conn:
        row = await conn.fetchrow(
            "SELECT revision, assessment, next_deadline FROM processing.dossiers WHERE dossier_code = $1",
            code,
        )
    if row is None:
        raise HTTPException(404, f"no dossier with code {code!r} has been seen")
    body: dict[str, Any] = {**row["assessment"], "revision": row["revision"]}
    body["next_deadline"] = row["next_deadline"].isoformat() if row["next_deadline"] else None
    return body


Status = Literal["open", "corrective_action", "closed"]


@router.get("/nonconformities", tags=["nonconformities"])
async def list_nonconformities(
    request: Request,
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
    """The nonconformity register (sổ theo dõi sự không phù hợp), filtered and paged."""
    f = nonconformities.RegisterFilter(
        agency, procedure, code, status, detected_from, detected_to, include_inactive
    )
    async with _pool(request).acquire() as conn:
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
    """Move a finding open → corrective_action → closed (admin, or an officer of the agency's subtree)."""
    async with _pool(request).acquire() as conn, conn.transaction():
        agency = await conn.fetchval(
            "SELECT agency_code FROM processing.nonconformities WHERE dossier_code = $1 AND nc_key = $2",
            dossier_code,
            nc_key,
        )
        if agency is None:
            raise HTTPException(404, f"no nonconformity {nc_key!r} on dossier {dossier_code!r}")
        if who.role is Role.VIEWER:
            raise Forbidden("a viewer token cannot change nonconformities; use an officer or admin token")
        if who.role is Role.OFFICER and who.agency_code not in await registry_copy.agency_lineage(
            conn, agency
        ):
            raise Forbidden(f"officer of {who.agency_code} cannot change findings of agency {agency}")
        try:
            updated = await nonconformities.change_status(
                conn, dossier_code, nc_key, change.status, change.corrective_action, who.subject
            )
        except nonconformities.TransitionError as exc:
            raise HTTPException(409, str(exc)) from exc
    await publish_unpublished(request.app.state.ctx)
    return updated
