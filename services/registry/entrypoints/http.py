"""Registry HTTP API under /api/v1 (thin: authenticate, parse, call a handler, answer).

Every route needs a bearer token; reads are open to every role, writes are checked per
role and agency subtree in the handlers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.registry import handlers
from services.registry.adapters import repository
from services.registry.adapters.outbox_relay import OutboxRelay
from services.registry.adapters.repository import Outcome, Stored
from services.registry.adapters.spreadsheet import UnreadableFile, read_table
from services.registry.domain.agencies import default_obligation
from services.registry.domain.qms import QmsFlags
from services.registry.handlers import Context
from shared.auth import BearerAuth, Forbidden, Principal
from shared.contracts.registry import (
    AgencyLevel,
    AgencyRecord,
    CalendarOverrideRecord,
    IsoObligation,
    IsoProcessRecord,
    LegalProfileRecord,
    ProcedureRecord,
    QmsRecord,
    QmsState,
    Role,
)
from shared.http import Offset, problem


async def principal(request: Request) -> Principal:
    auth: BearerAuth = request.app.state.auth
    return await auth(request)


Who = Annotated[Principal, Depends(principal)]
Limit = Annotated[int, Query(ge=1, le=500)]

router = APIRouter(prefix="/api/v1", dependencies=[Depends(principal)])


async def connection(request: Request) -> AsyncIterator[asyncpg.pool.PoolConnectionProxy]:
    pool: asyncpg.Pool = request.app.state.resources.pool
    async with pool.acquire() as conn:
        yield conn


Conn = Annotated[asyncpg.pool.PoolConnectionProxy, Depends(connection)]


def _ctx(request: Request) -> Context:
    ctx: Context = request.app.state.registry_context
    return ctx


def _relay(request: Request) -> OutboxRelay:
    relay: OutboxRelay = request.app.state.relay
    return relay


def _out(stored: Stored) -> dict[str, Any]:
    """The record, plus ``revision``: its version on the feed (grows with every change)."""
    return {**stored.data, "revision": stored.version}


def _written(request: Request, response: Response, result: tuple[Stored, Outcome]) -> dict[str, Any]:
    stored, outcome = result
    if outcome != "unchanged":
        _relay(request).poke()
    response.status_code = 201 if outcome == "created" else 200
    return _out(stored)


def _page(page: repository.Page, limit: int, offset: int, out: Any = _out) -> dict[str, Any]:
    return {"items": [out(s) for s in page.items], "total": page.total, "limit": limit, "offset": offset}


def _same(name: str, path: object, body: object) -> None:
    if str(path) != str(body):
        raise HTTPException(
            422, f"body {name} {body!r} differs from the path {path!r}; send the same in both"
        )


async def _found(conn: Conn, entity: str, entity_id: str) -> Stored:
    found = await repository.get(conn, entity, entity_id)
    if found is None:
        raise HTTPException(404, f"no {entity.replace('_', ' ')} {entity_id}")
    return found


def install_errors(app: Any) -> None:
    """Answers for the handlers' exceptions (problem+json)."""

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, handlers.Invalid)
        return problem(422, "Invalid record", str(exc), errors=exc.errors)

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return problem(404, "Not found", str(exc))

    async def conflict(request: Request, exc: Exception) -> JSONResponse:
        return problem(409, "Conflict", str(exc))

    async def rejected(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, handlers.ImportRejected)
        return problem(
            422,
            "Import rejected",
            f"{exc}; fix the rows listed in errors and send the file again",
            errors=[e.__dict__ for e in exc.errors],
            rows=exc.rows,
        )

    async def validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ValidationError)
        errors = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "reason": e.get("msg", "")}
            for e in exc.errors()
        ]
        return problem(
            422, "Invalid record", "; ".join(f"{e['field']}: {e['reason']}" for e in errors), errors=errors
        )

    app.add_exception_handler(handlers.Invalid, invalid)
    app.add_exception_handler(handlers.NotFound, not_found)
    app.add_exception_handler(handlers.Conflict, conflict)
    app.add_exception_handler(handlers.ImportRejected, rejected)
    app.add_exception_handler(ValidationError, validation)


# --- who am I -------------------------------------------------------------------------------------


@router.get("/whoami", tags=["access"])
async def whoami(who: Who) -> dict[str, Any]:
    """The principal of the presented token."""
    return {
        "subject": who.subject,
        "role": who.role.value,
        "agency_code": who.agency_code,
        "token_id": who.token_id,
    }


# --- agencies -------------------------------------------------------------------------------------


class AgencyIn(BaseModel):
    """An agency as written; ``iso_obligation`` defaults from the level (Decision 19/2014 art. 2)."""

    model_config = ConfigDict(extra="forbid")

    code: str
    name: str
    parent_code: str | None = None
    level: AgencyLevel
    iso_obligation: IsoObligation | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    predecessor_codes: list[str] = Field(default_factory=list)
    successor_code: str | None = None
    reorganisation_basis: str | None = None
    legal_profile: str | None = None

    def record(self) -> AgencyRecord:
        data = self.model_dump()
        data["iso_obligation"] = self.iso_obligation or default_obligation(self.level)
        return AgencyRecord.model_validate(data)


@router.put("/agencies/{code}", tags=["agencies"], status_code=200)
async def put_agency(
    code: str, body: AgencyIn, request: Request, response: Response, conn: Conn, who: Who
) -> dict[str, Any]:
    """Create or replace an agency (cơ quan)."""
    _same("code", code, body.code)
    return _written(request, response, await handlers.put_agency(conn, _ctx(request), who, body.record()))


@router.get("/agencies/resolve", tags=["agencies"])
async def resolve_dossier(dossier_code: str, conn: Conn) -> dict[str, Any]:
    """The agency a dossier code names — as it was on the day of receipt — and its successors."""
    return await handlers.resolve_dossier(conn, dossier_code)


@router.get("/agencies/{code}", tags=["agencies"])
async def get_agency(code: str, conn: Conn, on: date | None = None) -> dict[str, Any]:
    """An agency, current or historical; with its successors up to the current agency."""
    return await handlers.resolve_agency(conn, code, on)


@router.get("/agencies/{code}/subtree", tags=["agencies"])
async def agency_subtree(code: str, conn: Conn) -> dict[str, Any]:
    await _found(conn, "agency", code)
    return {"code": code, "subtree": sorted(await repository.subtree(conn, code))}


@router.get("/agencies", tags=["agencies"])
async def list_agencies(
    conn: Conn,
    level: AgencyLevel | None = None,
    parent_code: str | None = None,
    iso_obligation: IsoObligation | None = None,
    valid_on: date | None = None,
    q: Annotated[str | None, Query(description="text in the name, or an exact code")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    filters = {
        "level": level,
        "parent_code": parent_code,
        "iso_obligation": iso_obligation,
        "valid_on": valid_on,
        "q": q,
    }
    return _page(await repository.page(conn, "agency", filters, limit, offset), limit, offset)


@router.delete("/agencies/{code}", tags=["agencies"])
async def delete_agency(code: str, request: Request, conn: Conn, who: Who) -> dict[str, Any]:
    deleted = await handlers.delete_entity(conn, who, "agency", code)
    _relay(request).poke()
    return {"deleted": code, "revision": deleted.version}


# --- QMS --------------------------------------------------------------------------------------


def _flags_json(flags: QmsFlags, as_of: date) -> dict[str, Any]:
    return {
        "as_of": as_of.isoformat(),
        "internal_audit_overdue": flags.internal_audit_overdue,
        "management_review_overdue": flags.management_review_overdue,
        "update_overdue": list(flags.update_overdue),
        "scope_without_process": list(flags.scope_without_process),
        "any": flags.any,
    }


@router.put("/qms/{agency_code}", tags=["qms"], status_code=200)
async def put_qms(
    agency_code: str, body: QmsRecord, request: Request, response: Response, conn: Conn, who: Who
) -> dict[str, Any]:
    """Create or replace an agency's QMS record (hệ thống quản lý chất lượng)."""
    _same("agency_code", agency_code, body.agency_code)
    return _written(request, response, await handlers.put_qms(conn, _ctx(request), who, body))


@router.get("/qms/{agency_code}", tags=["qms"])
async def get_qms(
    agency_code: str, request: Request, conn: Conn, as_of: date | None = None
) -> dict[str, Any]:
    """The QMS record with the flags computed on ``as_of`` (default: today)."""
    found = await _found(conn, "qms", agency_code)
    day = as_of or _today(request)
    flags = await handlers.flags_of(conn, _ctx(request), QmsRecord.model_validate(found.data), day)
    return {**_out(found), "flags": _flags_json(flags, day)}


@router.get("/qms", tags=["qms"])
async def list_qms(
    request: Request,
    conn: Conn,
    state: QmsState | None = None,
    agency_code: str | None = None,
    flagged: Annotated[bool, Query(description="only records with a flag raised on as_of")] = False,
    as_of: date | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    filters = {"state": state, "agency_code": agency_code}
    day = as_of or _today(request)
    if not flagged:
        return _page(await repository.page(conn, "qms", filters, limit, offset), limit, offset)
    everything = await repository.page(conn, "qms", filters, 100_000, 0)
    hits = []
    for s in everything.items:
        flags = await handlers.flags_of(conn, _ctx(request), QmsRecord.model_validate(s.data), day)
        if flags.any:
            hits.append({**_out(s), "flags": _flags_json(flags, day)})
    return {"items": hits[offset : offset + limit], "total": len(hits), "limit": limit, "offset": offset}


@router.delete("/qms/{agency_code}", tags=["qms"])
async def delete_qms(agency_code: str, request: Request, conn: Conn, who: Who) -> dict[str, Any]:
    deleted = await handlers.delete_entity(conn, who, "qms", agency_code)
    _relay(request).poke()
    return {"deleted": agency_code, "revision": deleted.version}


def _today(request: Request) -> date:
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(_ctx(request).settings.timezone)).date()


# --- procedures -------------------------------------------------------------------------------


@router.put("/procedures/{code}", tags=["procedures"], status_code=200)
async def put_procedure(
    code: str, body: ProcedureRecord, request: Request, response: Response, conn: Conn, who: Who
) -> dict[str, Any]:
    """Create or replace a procedure (thủ tục hành chính); publishes the change."""
    _same("code", code, body.code)
    return _written(request, response, await handlers.put_procedure(conn, _ctx(request), who, body))


@router.get("/procedures/{code}", tags=["procedures"])
async def get_procedure(code: str, conn: Conn) -> dict[str, Any]:
    return _out(await _found(conn, "procedure", code))


@router.get("/procedures", tags=["procedures"])
async def list_procedures(
    conn: Conn,
    field: str | None = None,
    level: Annotated[str | None, Query(description="text in the level, e.g. 'Cấp xã'")] = None,
    q: Annotated[str | None, Query(description="text in the name, or an exact code")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    filters = {"field": field, "level": level, "q": q}
    return _page(await repository.page(conn, "procedure", filters, limit, offset), limit, offset)


@router.delete("/procedures/{code}", tags=["procedures"])
async def delete_procedure(code: str, request: Request, conn: Conn, who: Who) -> dict[str, Any]:
    deleted = await handlers.delete_entity(conn, who, "procedure", code)
    _relay(request).poke()
    return {"deleted": code, "revision": deleted.version}


# --- ISO processes -----------------------------------------------------------------------------


def _process_id(agency: str, procedure: str, version: int) -> str:
    return f"{agency}|{procedure}|{version}"


@router.put(
    "/iso-processes/{agency_code}/{procedure_code}/{version}", tags=["iso processes"], status_code=200
)
async def put_process(
    agency_code: str,
    procedure_code: str,
    version: int,
    body: IsoProcessRecord,
    request: Request,
    response: Response,
    conn: Conn,
    who: Who,
) -> dict[str, Any]:
    """Create or replace one version of an agency's ISO process for a procedure (quy trình ISO)."""
    _same("agency_code", agency_code, body.agency_code)
    _same("procedure_code", procedure_code, body.procedure_code)
    _same("version", version, body.version)
    return _written(request, response, await handlers.put_process(conn, _ctx(request), who, body))


@router.get("/iso-processes/{agency_code}/{procedure_code}/in-force", tags=["iso processes"])
async def process_in_force(agency_code: str, procedure_code: str, on: date, conn: Conn) -> dict[str, Any]:
    """The version in force on ``on`` (a dossier is judged by the version in force when accepted)."""
    return _out(await handlers.process_in_force(conn, agency_code, procedure_code, on))


@router.get("/iso-processes/{agency_code}/{procedure_code}/{version}", tags=["iso processes"])
async def get_process(agency_code: str, procedure_code: str, version: int, conn: Conn) -> dict[str, Any]:
    return _out(await _found(conn, "iso_process", _process_id(agency_code, procedure_code, version)))


@router.get("/iso-processes", tags=["iso processes"])
async def list_processes(
    conn: Conn,
    agency_code: str | None = None,
    procedure_code: str | None = None,
    effective_on_or_before: date | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    filters = {
        "agency_code": agency_code,
        "procedure_code": procedure_code,
        "effective_on_or_before": effective_on_or_before,
    }
    return _page(await repository.page(conn, "iso_process", filters, limit, offset), limit, offset)


@router.delete("/iso-processes/{agency_code}/{procedure_code}/{version}", tags=["iso processes"])
async def delete_process(
    agency_code: str, procedure_code: str, version: int, request: Request, conn: Conn, who: Who
) -> dict[str, Any]:
    entity_id = _process_id(agency_code, procedure_code, version)
    deleted = await handlers.delete_entity(conn, who, "iso_process", entity_id)
    _relay(request).poke()
    return {"deleted": entity_id, "revision": deleted.version}


# --- calendar overrides ------------------------------------------------------------------------


@router.put("/calendar-overrides/{year}", tags=["calendar"], status_code=200)
async def put_calendar(
    year: int, body: CalendarOverrideRecord, request: Request, response: Response, conn: Conn, who: Who
) -> dict[str, Any]:
    """A year's extra days off and swapped working days, on top of the `holidays` package."""
    _same("year", year, body.year)
    return _written(request, response, await handlers.put_calendar(conn, _ctx(request), who, body))


@router.get("/calendar-overrides/{year}", tags=["calendar"])
async def get_calendar(year: int, conn: Conn) -> dict[str, Any]:
    return _out(await _found(conn, "calendar_override", str(year)))


@router.get("/calendar-overrides", tags=["calendar"])
async def list_calendar(conn: Conn, limit: Limit = 50, offset: Offset = 0) -> dict[str, Any]:
    return _page(await repository.page(conn, "calendar_override", {}, limit, offset), limit, offset)


@router.delete("/calendar-overrides/{year}", tags=["calendar"])
async def delete_calendar(year: int, request: Request, conn: Conn, who: Who) -> dict[str, Any]:
    deleted = await handlers.delete_entity(conn, who, "calendar_override", str(year))
    _relay(request).poke()
    return {"deleted": year, "revision": deleted.version}


# --- legal profiles ----------------------------------------------------------------------------


def _profile_id(code: str, version: int) -> str:
    return f"{code}|{version}"


@router.put("/legal-profiles/{code}/{version}", tags=["legal profiles"], status_code=200)
async def put_legal_profile(
    code: str,
    version: int,
    body: LegalProfileRecord,
    request: Request,
    response: Response,
    conn: Conn,
    who: Who,
) -> dict[str, Any]:
    """One version of a legal profile: the law dossiers of the procedures and agencies naming it are
    judged by (time zone, holidays, roll-over, office hours, cut-off, clock stop, rule codes)."""
    _same("code", code, body.code)
    _same("version", version, body.version)
    return _written(request, response, await handlers.put_legal_profile(conn, _ctx(request), who, body))


@router.get("/legal-profiles/{code}/{version}", tags=["legal profiles"])
async def get_legal_profile(code: str, version: int, conn: Conn) -> dict[str, Any]:
    return _out(await _found(conn, "legal_profile", _profile_id(code, version)))


@router.get("/legal-profiles", tags=["legal profiles"])
async def list_legal_profiles(
    conn: Conn, code: str | None = None, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    page = await repository.page(conn, "legal_profile", {"code": code}, limit, offset)
    return _page(page, limit, offset)


@router.delete("/legal-profiles/{code}/{version}", tags=["legal profiles"])
async def delete_legal_profile(
    code: str, version: int, request: Request, conn: Conn, who: Who
) -> dict[str, Any]:
    entity_id = _profile_id(code, version)
    deleted = await handlers.delete_entity(conn, who, "legal_profile", entity_id)
    _relay(request).poke()
    return {"deleted": entity_id, "revision": deleted.version}


# --- imports -----------------------------------------------------------------------------------


async def _table(request: Request, file: UploadFile) -> tuple[list[str], list[Any]]:
    limit = _ctx(request).settings.import_max_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"the file is larger than {limit} bytes; split it")
    try:
        return read_table(file.filename or "", data)
    except UnreadableFile as exc:
        raise HTTPException(422, str(exc)) from exc


@router.post("/imports/catalog", tags=["imports"])
async def import_catalog(
    request: Request,
    conn: Conn,
    who: Who,
    file: Annotated[UploadFile, File(description="the national TTHC catalogue CSV (tthc_catalog.csv)")],
    dry_run: bool = False,
) -> dict[str, Any]:
    """Import the national catalogue; rows whose time cannot be read are listed, not imported."""
    header, rows = await _table(request, file)
    summary, _ = await handlers.import_catalog(conn, who, header, rows, dry_run=dry_run)
    if not dry_run:
        _relay(request).poke()
    return summary.json()


@router.post("/imports/{kind}", tags=["imports"])
async def import_file(
    kind: str,
    request: Request,
    conn: Conn,
    who: Who,
    file: Annotated[UploadFile, File(description="CSV (UTF-8) or XLSX; row 1 names the columns")],
    dry_run: bool = False,
) -> dict[str, Any]:
    """Bulk import of agencies, procedures or iso-processes: all rows or none.

    Any row error answers 422 with every error (row number, column, reason) and applies nothing;
    ``dry_run=true`` checks and counts without applying. Columns: docs/registry.md.
    """
    if kind not in ("agencies", "procedures", "iso-processes"):
        raise HTTPException(
            404, f"no import kind {kind!r}; use agencies, procedures, iso-processes or catalog"
        )
    header, rows = await _table(request, file)
    summary = await handlers.run_import(conn, _ctx(request), who, kind, header, rows, dry_run=dry_run)
    if not dry_run:
        _relay(request).poke()
    return summary.json()


# --- audit -------------------------------------------------------------------------------------


@router.get("/audit", tags=["access"])
async def audit(
    conn: Conn,
    entity: str | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Every write, newest first: who, when, via what, and the record before and after."""
    items, total = await repository.audit_page(
        conn, entity=entity, entity_id=entity_id, actor=actor, limit=limit, offset=offset
    )
    return {"items": items, "total": total, "limit": limit, "offset": offset}


# --- tokens --------------------------------------------------------------------------------------


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=200, examples=["iso.secretary@ninhkieu.cantho.gov.vn"])
    role: Role
    agency_code: str | None = Field(default=None, description="required for an officer")
    expires_at: datetime | None = None


def _token_out(stored: Stored) -> dict[str, Any]:
    data = stored.data
    return {
        "id": stored.entity_id[:12],
        "subject": data["subject"],
        "role": data["role"],
        "agency_code": data.get("agency_code"),
        "expires_at": data.get("expires_at"),
        "revision": stored.version,
    }


def _admin_only(who: Principal) -> None:
    if who.role is not Role.ADMIN:
        raise Forbidden("only an admin can see or manage tokens")


@router.post("/tokens", tags=["access"], status_code=201)
async def create_token(body: TokenIn, request: Request, conn: Conn, who: Who) -> dict[str, Any]:
    """Issue a token; the answer is the only place the token itself ever appears."""
    _admin_only(who)
    token, stored = await handlers.issue_token(
        conn,
        handlers.actor_of(who),
        subject=body.subject,
        role=body.role,
        agency_code=body.agency_code,
        expires_at=body.expires_at,
    )
    _relay(request).poke()
    return {**_token_out(stored), "token": token}


@router.get("/tokens", tags=["access"])
async def list_tokens(
    conn: Conn, who: Who, role: Role | None = None, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    _admin_only(who)
    return _page(
        await repository.page(conn, "api_token", {"role": role}, limit, offset), limit, offset, _token_out
    )


@router.delete("/tokens/{token_id}", tags=["access"])
async def revoke_token(token_id: str, request: Request, conn: Conn, who: Who) -> dict[str, Any]:
    """Revoke a token (the feed carries the deletion; every service stops accepting it)."""
    deleted = await handlers.revoke_token(conn, who, token_id)
    _relay(request).poke()
    return {"revoked": deleted.entity_id[:12], "revision": deleted.version}
