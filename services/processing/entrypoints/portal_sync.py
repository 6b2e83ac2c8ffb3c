"""Status-sync adapter: ``POST /api/v1/portal-sync`` takes the dossier snapshots the one-stop
systems send to the national portal and turns them into our events (docs/ingress.md)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel

from services.processing.entrypoints.ingest import (
    FieldError,
    admit,
    api_key,
    array_body,
    bearer,
    broker_unavailable,
    database_unavailable,
    gateway_of,
    json_answer,
    over_capacity,
    responses,
)
from services.processing.ingress import BrokerUnavailable, DatabaseUnavailable

router = APIRouter(prefix="/api/v1", tags=["ingress"])


class DerivedEvent(BaseModel):
    event_id: str
    event_type: str
    status: Literal["accepted", "duplicate"]


class UpdateAnswer(BaseModel):
    index: int
    dossier_code: str | None
    status: Literal["accepted", "duplicate", "rejected"]
    code: Literal[200, 202, 403, 422]
    errors: list[FieldError]
    events: list[DerivedEvent]


class PortalAnswer(BaseModel):
    results: list[UpdateAnswer]
    accepted: int
    duplicates: int
    conflicts: int  # always 0: derived event ids follow the dossier's status, not the emitter
    rejected: int


@router.post(
    "/portal-sync",
    summary="Send national-portal dossier snapshots (a JSON array; TrangThaiHoSo 1–10)",
    response_model=None,
    responses=responses(PortalAnswer, "processed: one answer per update"),
    openapi_extra=array_body("PortalUpdate"),
)
async def post_portal_sync(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    header_key: str | None = Depends(api_key),
) -> Response:
    """Each update is answered on its own with the events derived from it: `accepted` (202, at
    least one new event is on the topic), `duplicate` (200, every derived event was known), or
    `rejected` (422 invalid or incomplete for its status, 403 the key may not write this dossier:
    MaCoQuan, MaHoSo's agency part, or a change of the dossier's agency)."""
    gateway = gateway_of(request)
    async with gateway.admitted() as ok:
        if not ok:
            return over_capacity("portal-sync", gateway.settings.ingest_retry_after_s)
        try:
            admitted = await admit(request, "portal-sync", "portal updates", credentials, header_key)
            if isinstance(admitted, Response):
                return admitted
            emitter, items = admitted
            return json_answer(await gateway.portal_sync(emitter, items))
        except BrokerUnavailable as exc:
            return broker_unavailable("portal-sync", exc, gateway.settings.ingest_retry_after_s)
        except DatabaseUnavailable as exc:
            return database_unavailable("portal-sync", exc, gateway.settings.ingest_retry_after_s)
