"""Corrective-action API (ISO 9001:2015 clause 10.2) under /api/v1/corrective-actions. Thin.

Parse, check who may act (an admin anywhere, an officer within its agency subtree; viewers
read), call the domain's state machine, save with its audit entry, move the nonconformities,
publish the changed assessments. A nonconformity or action outside an officer's subtree is
404, the same answer as one that does not exist.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.processing.adapters import corrective_actions as store
from services.processing.adapters import registry_copy
from services.processing.domain import corrective_action as domain
from services.processing.domain.corrective_action import ActionError, NcRef
from services.processing.entrypoints.http import _lookup, _pool
from services.processing.handlers import publish_unpublished
from shared.auth import Forbidden, Principal, Role
from shared.http import PG_BIGINT_MAX, Offset

router = APIRouter(prefix="/api/v1/corrective-actions", tags=["corrective actions"])

ActionId = Annotated[int, Path(ge=1, le=PG_BIGINT_MAX)]
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL: refused here with a 422, not a 500 there
Text = Annotated[str, Field(min_length=1, max_length=domain.MAX_TEXT, pattern=NO_NUL)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class NcId(Strict):
    dossier_code: Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
    nc_key: Annotated[str, Field(min_length=1, max_length=300, pattern=NO_NUL)]


class NewAction(Strict):
    nonconformities: Annotated[list[NcId], Field(min_length=1, max_length=1000)]
    correction: Text = Field(description="what was done to the nonconforming output (10.2.1 a)")
    root_cause: Text = Field(description="why it happened (10.2.1 b)")
    action: Text = Field(description="what is done so that it does not recur (10.2.1 c)")
    responsible: Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
    due_date: date = Field(strict=False, description="YYYY-MM-DD")


class MoreNonconformities(Strict):
    nonconformities: Annotated[list[NcId], Field(min_length=1, max_length=1000)]


class Verification(Strict):
    effective: bool
    note: Text = Field(description="how effectiveness was reviewed and what was found (10.2.1 d)")
    action: Text | None = Field(default=None, description="revised action, when not effective")
    due_date: date | None = Field(default=None, strict=False, description="new due date, when not effective")


def _now() -> datetime:
    return datetime.now().astimezone()


async def _in_scope(conn: Any, who: Principal, agency: str) -> bool:
    if who.role is not Role.OFFICER:
        return True
    return who.agency_code in await registry_copy.agency_lineage(conn, agency)


def _writer(who: Principal) -> None:
    if who.role is Role.VIEWER:
        raise Forbidden("a viewer token cannot record corrective actions; use an officer or admin token")


async def _refs(conn: Any, who: Principal, ids: list[NcId]) -> tuple[str, list[NcRef]]:
    """The nonconformities asked for: known, visible, of one agency, not under another action."""
    refs = [NcRef(i.dossier_code, i.nc_key) for i in ids]
    known = await store.nonconformity_agencies(conn, refs)
    for r in refs:
        if r not in known or not await _in_scope(conn, who, known[r][0]):
            raise HTTPException(404, f"no nonconformity {r.nc_key!r} on dossier {r.dossier_code!r}")
    agencies = {known[r][0] for r in refs}
    if len(agencies) > 1:
        raise HTTPException(
            422,
            f"nonconformities: all must be of one agency (got {', '.join(sorted(agencies))}); group per agency",
        )
    taken = sorted({str(known[r][2]) for r in refs if known[r][2] is not None})
    if taken:
        raise HTTPException(409, f"nonconformities: already under corrective action {', '.join(taken)}")
    return agencies.pop(), refs


async def _action(conn: Any, who: Principal, action_id: int) -> domain.CorrectiveAction:
    ca = await store.load(conn, action_id, for_update=True)
    if ca is None or not await _in_scope(conn, who, ca.agency_code):
        raise HTTPException(404, f"no corrective action {action_id}")
    return ca


@router.get("")
async def list_actions(
    request: Request,
    who: Annotated[Principal, Depends(_lookup)],
    agency: Annotated[str | None, Query(max_length=40)] = None,
    state: Literal["planned", "verified", "closed"] | None = None,
    overdue: Annotated[bool, Query(description="planned actions past their due date")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Corrective actions, newest first, within the caller's agency subtree."""
    async with _pool(request).acquire() as conn:
        items, _ = await store.listing(
            conn, None, state=state, overdue_on=_now().date() if overdue else None, limit=100_000, offset=0
        )
        visible = [
            i
            for i in items
            if await _in_scope(conn, who, i["agency_code"])
            and (agency is None or agency in await registry_copy.agency_lineage(conn, i["agency_code"]))
        ]
    return {
        "items": visible[offset : offset + limit],
        "total": len(visible),
        "limit": limit,
        "offset": offset,
    }


@router.get("/{action_id}")
async def get_action(
    request: Request, action_id: ActionId, who: Annotated[Principal, Depends(_lookup)]
) -> dict[str, Any]:
    """One corrective action with its nonconformities and its audit trail."""
    async with _pool(request).acquire() as conn:
        doc = await store.detail(conn, action_id)
        if doc is None or not await _in_scope(conn, who, doc["agency_code"]):
            raise HTTPException(404, f"no corrective action {action_id}")
    return doc


async def _run(request: Request, work: Any) -> dict[str, Any]:
    async with _pool(request).acquire() as conn, conn.transaction():
        try:
            action_id = await work(conn)
        except ActionError as exc:
            raise HTTPException(422, str(exc)) from exc
    await publish_unpublished(request.app.state.ctx)
    async with _pool(request).acquire() as conn:
        doc = await store.detail(conn, action_id)
    assert doc is not None
    return doc


@router.post("", status_code=201)
async def create_action(
    request: Request, body: NewAction, who: Annotated[Principal, Depends(_lookup)]
) -> dict[str, Any]:
    """Record the correction, root cause and corrective action for one or more nonconformities."""
    _writer(who)

    async def work(conn: Any) -> int:
        agency, refs = await _refs(conn, who, body.nonconformities)
        ca, audit = domain.plan(
            agency,
            refs,
            correction=body.correction,
            root_cause=body.root_cause,
            action=body.action,
            responsible=body.responsible,
            due_date=body.due_date,
            by=who.subject,
            at=_now(),
        )
        action_id = await store.save(conn, None, ca, audit)
        await store.set_statuses(conn, ca.nonconformities, "corrective_action", ca.action, who.subject)
        return action_id

    return await _run(request, work)


@router.post("/{action_id}/nonconformities")
async def add_nonconformities(
    request: Request,
    action_id: ActionId,
    body: MoreNonconformities,
    who: Annotated[Principal, Depends(_lookup)],
) -> dict[str, Any]:
    """Group more nonconformities of the same cause under this action."""
    _writer(who)

    async def work(conn: Any) -> int:
        ca = await _action(conn, who, action_id)
        agency, refs = await _refs(conn, who, body.nonconformities)
        if agency != ca.agency_code:
            raise HTTPException(
                422, f"nonconformities: of agency {agency}, but this action is of {ca.agency_code}"
            )
        ca, audit = domain.group(ca, refs, by=who.subject, at=_now())
        await store.save(conn, action_id, ca, audit)
        await store.set_statuses(conn, refs, "corrective_action", ca.action, who.subject)
        return action_id

    return await _run(request, work)


@router.post("/{action_id}/verification")
async def verify_action(
    request: Request, action_id: ActionId, body: Verification, who: Annotated[Principal, Depends(_lookup)]
) -> dict[str, Any]:
    """Record the review of effectiveness (not effective: with a revised action and due date)."""
    _writer(who)

    async def work(conn: Any) -> int:
        ca = await _action(conn, who, action_id)
        ca, audit = domain.verify(
            ca,
            effective=body.effective,
            note=body.note,
            action=body.action,
            due_date=body.due_date,
            by=who.subject,
            at=_now(),
        )
        await store.save(conn, action_id, ca, audit)
        return action_id

    return await _run(request, work)


@router.post("/{action_id}/close")
async def close_action(
    request: Request, action_id: ActionId, who: Annotated[Principal, Depends(_lookup)]
) -> dict[str, Any]:
    """Close a verified action; its nonconformities are closed with it."""
    _writer(who)

    async def work(conn: Any) -> int:
        ca = await _action(conn, who, action_id)
        ca, audit = domain.close(ca, by=who.subject, at=_now())
        await store.save(conn, action_id, ca, audit)
        await store.set_statuses(conn, ca.nonconformities, "closed", ca.action, who.subject)
        return action_id

    return await _run(request, work)
