"""Service layer of the registry: one function per command, each in one transaction.

Every write checks access, validates against the domain rules and the rest of the registry,
then goes through ``repository.save``/``delete`` (row + outbox + audit together).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from services.registry.adapters import repository, users
from services.registry.adapters.repository import Actor, Outcome, Stored
from services.registry.domain import access
from services.registry.domain.agencies import (
    agency_problems,
    is_valid_on,
    parse_dossier_code,
    successor_chain,
)
from services.registry.domain.catalog import CatalogRows, missing_columns, read_catalog
from services.registry.domain.imports import (
    Parsed,
    Row,
    RowError,
    parse_agencies,
    parse_procedures,
    parse_processes,
)
from services.registry.domain.iso_process import in_force, process_problems
from services.registry.domain.legal_profiles import profile_problems
from services.registry.domain.qms import QmsFlags, qms_flags, qms_problems
from services.registry.domain.users import (
    LoginPolicy,
    after_address_failure,
    after_failure,
    name_problem,
    password_problem,
)
from services.registry.domain.users import locked as users_locked
from services.registry.settings import RegistrySettings
from shared.auth import MIN_TOKEN_LENGTH, Forbidden, Principal, hash_token, new_token
from shared.calendar import CalendarOverrides, OfficeHours
from shared.contracts.registry import (
    AgencyRecord,
    ApiTokenRecord,
    CalendarOverrideRecord,
    IsoProcessRecord,
    LegalProfileRecord,
    ProcedureRecord,
    QmsRecord,
    Role,
)
from shared.db import Conn

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Context:
    settings: RegistrySettings
    hours_per_day: Decimal

    @classmethod
    def of(cls, settings: RegistrySettings) -> Context:
        return cls(settings, OfficeHours.parse(settings.office_hours).hours_per_day)


class Invalid(Exception):
    """The request is well-formed but breaks a registry rule (HTTP 422); ``errors``: field, reason."""

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        self.errors = [{"field": f, "reason": r} for f, r in errors]
        super().__init__("; ".join(f"{f}: {r}" for f, r in errors))


class NotFound(Exception):
    """HTTP 404."""


class Conflict(Exception):
    """The change would leave the registry inconsistent (HTTP 409)."""


class ImportRejected(Exception):
    """Some rows failed (HTTP 422); nothing was applied."""

    def __init__(self, errors: Sequence[RowError], rows: int) -> None:
        self.errors = sorted(set(errors))
        self.rows = rows
        super().__init__(f"{len(self.errors)} error(s) in {rows} row(s); nothing was imported")


def actor_of(principal: Principal, via: str = "api") -> Actor:
    return Actor(principal.subject, principal.role.value, principal.agency_code, via)


async def authorize(conn: Conn, principal: Principal, entity: str, agency_code: str | None) -> None:
    """Raise 403 unless ``principal`` may write ``entity`` of ``agency_code``."""
    subtree: set[str] = set()
    if principal.role is Role.OFFICER and principal.agency_code and agency_code:
        subtree = await repository.subtree(conn, principal.agency_code)
    refusal = access.write_refusal(principal, entity, agency_code, subtree)
    if refusal is not None:
        raise Forbidden(refusal)


# --- checks against the rest of the registry ------------------------------------------------------


async def _agency_reference_problems(
    conn: Conn, ctx: Context, agency: AgencyRecord, also_known: Collection[str] = ()
) -> list[tuple[str, str]]:
    problems = agency_problems(agency, ctx.settings.district_level_until)
    if agency.parent_code and agency.parent_code not in also_known:
        if await repository.get(conn, "agency", agency.parent_code) is None:
            problems.append(("parent_code", f"no agency {agency.parent_code}; create the parent first"))
    return problems


async def _qms_reference_problems(conn: Conn, qms: QmsRecord) -> list[tuple[str, str]]:
    problems = qms_problems(qms)
    if await repository.get(conn, "agency", qms.agency_code) is None:
        problems.append(("agency_code", f"no agency {qms.agency_code}"))
    known = await repository.get_many(conn, "procedure", qms.scope)
    unknown = [c for c in qms.scope if c not in known]
    if unknown:
        problems.append(("scope", f"procedures not in the registry: {', '.join(unknown[:20])}"))
    return problems


async def _process_reference_problems(
    conn: Conn, ctx: Context, process: IsoProcessRecord
) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if await repository.get(conn, "agency", process.agency_code) is None:
        problems.append(("agency_code", f"no agency {process.agency_code}"))
    procedure = await repository.get(conn, "procedure", process.procedure_code)
    if procedure is None:
        problems.append(("procedure_code", f"no procedure {process.procedure_code}; import it first"))
    else:
        record = ProcedureRecord.model_validate(procedure.data)
        problems += process_problems(process, record.statutory_time, ctx.hours_per_day)
    for other in await repository.processes_of(conn, process.agency_code, process.procedure_code):
        o = IsoProcessRecord.model_validate(other.data)
        if o.version < process.version and o.effective_from > process.effective_from:
            problems.append(
                (
                    "effective_from",
                    f"version {o.version} takes effect later ({o.effective_from}); "
                    "a newer version cannot take effect before an older one",
                )
            )
        if o.version > process.version and o.effective_from < process.effective_from:
            problems.append(
                (
                    "effective_from",
                    f"version {o.version} takes effect earlier ({o.effective_from}); "
                    "an older version cannot take effect after a newer one",
                )
            )
    return problems


def _calendar_problems(record: CalendarOverrideRecord) -> list[tuple[str, str]]:
    problems = [
        (name, f"{d} is not in {record.year}")
        for name, days in (("days_off", record.days_off), ("working_days", record.working_days))
        for d in days
        if d.year != record.year
    ]
    try:
        CalendarOverrides(frozenset(record.days_off), frozenset(record.working_days))
    except ValueError as exc:
        problems.append(("working_days", str(exc)))
    return problems


# --- single-entity commands --------------------------------------------------------------------


async def put_agency(
    conn: Conn, ctx: Context, who: Principal, agency: AgencyRecord, via: str = "api"
) -> tuple[Stored, Outcome]:
    async with conn.transaction():
        await authorize(conn, who, "agency", agency.code)
        problems = await _agency_reference_problems(conn, ctx, agency)
        problems += await _legal_profile_problems(conn, agency.legal_profile)
        if problems:
            raise Invalid(problems)
        return await repository.save(conn, "agency", agency.code, agency, actor_of(who, via))


async def put_qms(
    conn: Conn, ctx: Context, who: Principal, qms: QmsRecord, via: str = "api"
) -> tuple[Stored, Outcome]:
    async with conn.transaction():
        await authorize(conn, who, "qms", qms.agency_code)
        problems = await _qms_reference_problems(conn, qms)
        if problems:
            raise Invalid(problems)
        return await repository.save(conn, "qms", qms.agency_code, qms, actor_of(who, via))


async def put_procedure(
    conn: Conn, ctx: Context, who: Principal, procedure: ProcedureRecord, via: str = "api"
) -> tuple[Stored, Outcome]:
    async with conn.transaction():
        await authorize(conn, who, "procedure", None)
        if procedure.valid_from and procedure.valid_to and procedure.valid_to < procedure.valid_from:
            raise Invalid([("valid_to", "is before valid_from")])
        problems = await _legal_profile_problems(conn, procedure.legal_profile)
        if problems:
            raise Invalid(problems)
        return await repository.save(conn, "procedure", procedure.code, procedure, actor_of(who, via))


async def put_process(
    conn: Conn, ctx: Context, who: Principal, process: IsoProcessRecord, via: str = "api"
) -> tuple[Stored, Outcome]:
    async with conn.transaction():
        await authorize(conn, who, "iso_process", process.agency_code)
        problems = await _process_reference_problems(conn, ctx, process)
        if problems:
            raise Invalid(problems)
        return await repository.save(conn, "iso_process", process.entity_id, process, actor_of(who, via))


async def put_calendar(
    conn: Conn, ctx: Context, who: Principal, record: CalendarOverrideRecord, via: str = "api"
) -> tuple[Stored, Outcome]:
    async with conn.transaction():
        await authorize(conn, who, "calendar_override", None)
        problems = _calendar_problems(record)
        if problems:
            raise Invalid(problems)
        return await repository.save(conn, "calendar_override", str(record.year), record, actor_of(who, via))


async def put_legal_profile(
    conn: Conn, ctx: Context, who: Principal, record: LegalProfileRecord, via: str = "api"
) -> tuple[Stored, Outcome]:
    """Create or replace one version of a legal profile (admin only)."""
    async with conn.transaction():
        await authorize(conn, who, "legal_profile", None)
        problems = profile_problems(record)
        if problems:
            raise Invalid(problems)
        return await repository.save(conn, "legal_profile", record.entity_id, record, actor_of(who, via))


async def _legal_profile_problems(conn: Conn, code: str | None) -> list[tuple[str, str]]:
    """A procedure or agency may only name a legal profile the registry has."""
    if code is None or (await repository.page(conn, "legal_profile", {"code": code}, 1, 0)).total:
        return []
    return [
        ("legal_profile", f"no legal profile {code}; create it first (PUT /api/v1/legal-profiles/{code}/1)")
    ]


def _agency_of(entity: str, stored: Stored) -> str | None:
    if entity in ("qms", "iso_process"):
        value = stored.data.get("agency_code")
        return str(value) if value is not None else None
    return None


async def delete_entity(conn: Conn, who: Principal, entity: str, entity_id: str) -> Stored:
    async with conn.transaction():
        found = await repository.get(conn, entity, entity_id)
        if found is None:
            raise NotFound(f"no {entity.replace('_', ' ')} {entity_id}")
        await authorize(conn, who, entity, _agency_of(entity, found))
        if entity == "agency":
            children = await repository.page(conn, "agency", {"parent_code": entity_id}, 1, 0)
            if children.total:
                raise Conflict(
                    f"{entity_id} still has {children.total} child agencies; move or delete them first"
                )
        if entity == "procedure":
            used = await repository.page(conn, "iso_process", {"procedure_code": entity_id}, 1, 0)
            if used.total:
                raise Conflict(f"{used.total} ISO process version(s) use {entity_id}; delete them first")
        deleted = await repository.delete(conn, entity, entity_id, actor_of(who))
        assert deleted is not None
        return deleted


# --- tokens ----------------------------------------------------------------------------------------


async def issue_token(
    conn: Conn,
    actor: Actor,
    *,
    subject: str,
    role: Role,
    agency_code: str | None,
    expires_at: datetime | None = None,
    token: str | None = None,
) -> tuple[str, Stored]:
    """Create a token (random unless given); returns it — the only time it is visible."""
    if role is Role.OFFICER and not agency_code:
        raise Invalid([("agency_code", "an officer token is bound to an agency; give its code")])
    if role is not Role.OFFICER and agency_code:
        raise Invalid([("agency_code", "only officer tokens are bound to an agency")])
    token = token or new_token()
    if len(token) < MIN_TOKEN_LENGTH:
        raise Invalid([("token", f"a token needs at least {MIN_TOKEN_LENGTH} characters")])
    async with conn.transaction():
        if agency_code and await repository.get(conn, "agency", agency_code) is None:
            raise Invalid([("agency_code", f"no agency {agency_code}")])
        record = ApiTokenRecord(
            token_hash=hash_token(token),
            subject=subject,
            role=role,
            agency_code=agency_code,
            expires_at=expires_at,
        )
        stored, _ = await repository.save(conn, "api_token", record.token_hash, record, actor)
    return token, stored


async def revoke_token(conn: Conn, who: Principal, token_id: str) -> Stored:
    async with conn.transaction():
        await authorize(conn, who, "api_token", None)
        found = await repository.token_by_id(conn, token_id) if len(token_id) >= 12 else None
        if found is None:
            raise NotFound(f"no live token with id {token_id}")
        deleted = await repository.delete(conn, "api_token", found.entity_id, actor_of(who))
        assert deleted is not None
        return deleted


# --- imports ---------------------------------------------------------------------------------------


@dataclass
class ImportSummary:
    kind: str
    dry_run: bool
    rows: int
    records: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: {"created": 0, "updated": 0, "unchanged": 0})
    skipped: list[RowError] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dry_run": self.dry_run,
            "applied": not self.dry_run,
            "rows": self.rows,
            "records": self.records,
            **self.outcomes,
            **(
                {"skipped": [e.__dict__ for e in self.skipped]}
                if self.skipped or self.kind == "catalog"
                else {}
            ),
            **self.extra,
        }


class _DryRun(Exception):
    pass


async def _apply(
    conn: Conn,
    summary: ImportSummary,
    items: Sequence[tuple[int, tuple[str, str, BaseModel]]],
    actor: Actor,
) -> None:
    for _, (entity, entity_id, record) in items:
        _, outcome = await repository.save(conn, entity, entity_id, record, actor)
        summary.outcomes[outcome] += 1
    summary.records = len(items)


async def run_import(
    conn: Conn, ctx: Context, who: Principal, kind: str, header: list[str], rows: list[Row], *, dry_run: bool
) -> ImportSummary:
    """Validate every row, then apply all of them in one transaction — or none, listing every error.

    ``dry_run`` runs the same writes and rolls them back, so its counts are exact.
    """
    summary = ImportSummary(kind, dry_run, len(rows))
    actor = actor_of(who, "import")
    try:
        async with conn.transaction():
            if kind == "agencies":
                items, errors = await _checked_agencies(conn, ctx, who, parse_agencies(header, rows))
            elif kind == "procedures":
                items, errors = await _checked_procedures(conn, who, parse_procedures(header, rows))
            elif kind == "iso-processes":
                items, errors = await _checked_processes(conn, ctx, who, parse_processes(header, rows))
            else:
                raise NotFound(f"no import kind {kind!r}; use agencies, procedures, iso-processes or catalog")
            if errors:
                raise ImportRejected(errors, len(rows))
            await _apply(conn, summary, items, actor)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return summary


Checked = tuple[list[tuple[int, tuple[str, str, BaseModel]]], list[RowError]]


async def _checked_agencies(
    conn: Conn, ctx: Context, who: Principal, parsed: Parsed[AgencyRecord]
) -> Checked:
    await authorize(conn, who, "agency", None)
    errors = list(parsed.errors)
    in_file = {a.code for _, a in parsed.items}
    items: list[tuple[int, tuple[str, str, BaseModel]]] = []
    for row, agency in parsed.items:
        for column, reason in await _agency_reference_problems(conn, ctx, agency, in_file):
            errors.append(RowError(row, column, reason))
        items.append((row, ("agency", agency.code, agency)))
    # parents before children, whatever the file order
    depth = {a.code: _depth(a.code, {x.code: x for _, x in parsed.items}) for _, a in parsed.items}
    items.sort(key=lambda it: depth[it[1][1]])
    return items, errors


def _depth(code: str, by_code: dict[str, AgencyRecord]) -> int:
    depth, seen = 0, {code}
    parent = by_code[code].parent_code
    while parent in by_code and parent not in seen:
        depth, seen = depth + 1, seen | {parent}
        parent = by_code[parent].parent_code
    return depth


async def _checked_procedures(conn: Conn, who: Principal, parsed: Parsed[ProcedureRecord]) -> Checked:
    await authorize(conn, who, "procedure", None)
    errors = list(parsed.errors)
    for row, p in parsed.items:
        if p.valid_from and p.valid_to and p.valid_to < p.valid_from:
            errors.append(RowError(row, "valid_to", "is before valid_from"))
    return [(row, ("procedure", p.code, p)) for row, p in parsed.items], errors


async def _checked_processes(
    conn: Conn, ctx: Context, who: Principal, parsed: Parsed[IsoProcessRecord]
) -> Checked:
    errors = list(parsed.errors)
    refused: list[str] = []
    subtree: set[str] = set()
    if who.role is Role.OFFICER and who.agency_code:
        subtree = await repository.subtree(conn, who.agency_code)
    for row, process in parsed.items:
        refusal = access.write_refusal(who, "iso_process", process.agency_code, subtree)
        if refusal is not None:
            refused.append(f"row {row}: {refusal}")
            continue
        for column, reason in await _process_reference_problems(conn, ctx, process):
            errors.append(RowError(row, column, reason))
    if refused:
        raise Forbidden(
            "; ".join(refused[:10]) + (f" … and {len(refused) - 10} more" if len(refused) > 10 else "")
        )
    return [(row, ("iso_process", p.entity_id, p)) for row, p in parsed.items], errors


async def import_catalog(
    conn: Conn, who: Principal, header: list[str], rows: list[Row], *, dry_run: bool
) -> tuple[ImportSummary, CatalogRows]:
    """Import the national catalogue: every row whose time reads becomes a procedure; the others
    are listed with the reason (they are not errors: the catalogue is what it is)."""
    await authorize(conn, who, "procedure", None)
    missing = missing_columns(header)
    if missing:
        raise ImportRejected(missing, len(rows))
    catalog = read_catalog(rows)
    summary = ImportSummary("catalog", dry_run, len(rows))
    summary.skipped = sorted(catalog.time_failures + catalog.other_skips)
    summary.extra = {
        "rows_with_time": catalog.rows_with_time,
        "rows_time_parsed": catalog.rows_parsed,
        "time_parsed_share": round(catalog.parsed_share, 4),
    }
    try:
        async with conn.transaction():
            await _apply(
                conn,
                summary,
                [(row, ("procedure", p.code, p)) for row, p in catalog.procedures],
                actor_of(who, "import"),
            )
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return summary, catalog


# --- reads that compute --------------------------------------------------------------------------


async def flags_of(conn: Conn, ctx: Context, qms: QmsRecord, as_of: date) -> QmsFlags:
    procedures = await repository.get_many(conn, "procedure", qms.scope)
    changed = {
        code: ProcedureRecord.model_validate(p.data).legal_basis_changed_on for code, p in procedures.items()
    }
    effective: dict[str, list[date]] = {}
    for stored in await repository.processes_of(conn, qms.agency_code):
        process = IsoProcessRecord.model_validate(stored.data)
        effective.setdefault(process.procedure_code, []).append(process.effective_from)
    return qms_flags(
        qms,
        as_of=as_of,
        legal_basis_changed_on=changed,
        process_effective_dates=effective,
        audit_interval_months=ctx.settings.audit_interval_months,
        update_months=ctx.settings.qms_update_months,
    )


async def process_in_force(conn: Conn, agency_code: str, procedure_code: str, on: date) -> Stored:
    stored = await repository.processes_of(conn, agency_code, procedure_code)
    versions = {IsoProcessRecord.model_validate(s.data): s for s in stored}
    found = in_force(list(versions), on)
    if found is None:
        raise NotFound(f"no ISO process of {agency_code} for {procedure_code} is in force on {on}")
    return versions[found]


async def resolve_agency(conn: Conn, code: str, on: date | None) -> dict[str, Any]:
    """An agency code — current or historical — with its record, whether it was valid on ``on``,
    and its successors up to today's agency."""
    found = await repository.get(conn, "agency", code)
    if found is None:
        raise NotFound(f"no agency {code}, current or historical")
    agency = AgencyRecord.model_validate(found.data)
    by_code = {
        s.entity_id: AgencyRecord.model_validate(s.data) for s in await repository.all_of(conn, "agency")
    }
    chain = successor_chain(agency, by_code)
    return {
        **found.data,
        "revision": found.version,
        "successors": chain,
        "current_code": chain[-1] if chain else agency.code,
        **({} if on is None else {"valid_on": on.isoformat(), "was_valid": is_valid_on(agency, on)}),
    }


async def resolve_dossier(conn: Conn, dossier_code: str) -> dict[str, Any]:
    try:
        parts = parse_dossier_code(dossier_code)
    except ValueError as exc:
        raise Invalid([("dossier_code", str(exc))]) from exc
    agency = await resolve_agency(conn, parts.agency_code, parts.received_on)
    return {"dossier_code": dossier_code, "received_on": parts.received_on.isoformat(), "agency": agency}


# --- seeds -----------------------------------------------------------------------------------------


async def apply_seed(conn: Conn, ctx: Context, who: Principal, scenario: Any) -> dict[str, dict[str, int]]:
    """Apply a seed scenario through the same commands as the API, in one transaction.

    Returns entity kind → outcome → count; a second run reports only ``unchanged``.
    """
    counts: dict[str, dict[str, int]] = {}

    def count(kind: str, outcome: str) -> None:
        counts.setdefault(kind, {"created": 0, "updated": 0, "unchanged": 0})[outcome] += 1

    async with conn.transaction():
        for p in scenario.procedures:
            count("procedure", (await put_procedure(conn, ctx, who, p, "seed"))[1])
        for a in scenario.agencies:
            count("agency", (await put_agency(conn, ctx, who, a, "seed"))[1])
        for process in scenario.processes:
            count("iso_process", (await put_process(conn, ctx, who, process, "seed"))[1])
        for q in scenario.qms:
            count("qms", (await put_qms(conn, ctx, who, q, "seed"))[1])
    return counts


# --- dashboard users ---------------------------------------------------------------------------------


class LoginRefused(Exception):
    """Wrong user name or password, or a disabled user: one answer for all (HTTP 401)."""


class LoginLocked(Exception):
    """Too many wrong passwords in a row for this user from this address: no login for it from
    there until ``until`` (HTTP 429)."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"locked until {until.isoformat()}")
        self.until = until


class LoginThrottled(LoginLocked):
    """Too many wrong passwords from this address, whatever the names: no login from it until
    ``until`` (HTTP 429)."""


@dataclass(frozen=True)
class LoginDone:
    """A password login: the new session token (shown once) and its stored api_token entity."""

    token: str
    stored: Stored
    expires_at: datetime


def login_policy(settings: RegistrySettings) -> LoginPolicy:
    return LoginPolicy(
        settings.login_max_failures,
        settings.login_lock_minutes,
        settings.login_min_password_length,
        settings.login_address_max_failures,
        settings.login_address_window_minutes,
    )


def _user_problems(
    name: str, password: str, role: Role, agency_code: str | None, policy: LoginPolicy
) -> list[tuple[str, str]]:
    problems = []
    if (why := name_problem(name)) is not None:
        problems.append(("name", why))
    if (why := password_problem(password, policy)) is not None:
        problems.append(("password", why))
    if role is Role.OFFICER and not agency_code:
        problems.append(("agency_code", "an officer sees one agency's subtree: give the agency's code"))
    if role is not Role.OFFICER and agency_code:
        problems.append(("agency_code", "only officers are bound to an agency"))
    return problems


async def add_user(
    conn: Conn,
    actor: Actor,
    policy: LoginPolicy,
    *,
    name: str,
    password: str,
    role: Role,
    agency_code: str | None,
) -> None:
    """A new dashboard user; the password is kept only as its argon2id hash."""
    problems = _user_problems(name, password, role, agency_code, policy)
    if problems:
        raise Invalid(problems)
    hashed = await users.hash_password(password)
    async with conn.transaction():
        if agency_code and await repository.get(conn, "agency", agency_code) is None:
            raise Invalid([("agency_code", f"no agency {agency_code} in the registry")])
        if not await users.insert(conn, name, hashed, role.value, agency_code):
            raise Invalid([("name", f"there is already a user {name}; choose another name")])
        await users.audit(conn, actor, "create", name, {"role": role.value, "agency_code": agency_code})


async def _end_sessions(conn: Conn, name: str, actor: Actor) -> int:
    ended = 0
    for token_hash in await users.sessions_of(conn, name):
        if await repository.delete(conn, "api_token", token_hash, actor) is not None:
            ended += 1
        await users.end_session(conn, token_hash)
    return ended


async def set_password(conn: Conn, actor: Actor, policy: LoginPolicy, name: str, password: str) -> int:
    """A new password (and the end of a lock-out); every open session of the user ends.
    Returns how many sessions ended."""
    if (why := password_problem(password, policy)) is not None:
        raise Invalid([("password", why)])
    hashed = await users.hash_password(password)
    async with conn.transaction():
        if await users.get(conn, name, for_update=True) is None:
            raise NotFound(f"no user {name}")
        await users.set_password(conn, name, hashed, datetime.now(UTC))
        ended = await _end_sessions(conn, name, actor)
        await users.audit(conn, actor, "update", name, {"password": "changed", "sessions_ended": ended})
    return ended


async def set_disabled(conn: Conn, actor: Actor, name: str, disabled: bool) -> None:
    """Disable (every session ends) or enable a user."""
    async with conn.transaction():
        if await users.get(conn, name, for_update=True) is None:
            raise NotFound(f"no user {name}")
        await users.set_disabled(conn, name, disabled, datetime.now(UTC))
        if disabled:
            await _end_sessions(conn, name, actor)
        await users.audit(conn, actor, "update", name, {"disabled": disabled})


async def login(
    conn: Conn,
    settings: RegistrySettings,
    name: str,
    password: str,
    minutes: int,
    now: datetime,
    client: str = "unknown",
) -> LoginDone:
    """Check a password from ``client`` (an address); on success issue a session token valid
    ``minutes`` (at most the setting's).

    The ``login_max_failures``-th wrong password in a row for a name *from one address* locks that
    name at that address for ``login_lock_minutes`` (even the right password is refused from there;
    from another address it logs in). The ``login_address_max_failures``-th wrong password from one
    address within ``login_address_window_minutes``, whatever the names, refuses every login from
    that address for the window. Unknown names count like real ones (no oracle). Each lock and
    throttle writes an audit line.
    """
    policy = login_policy(settings)
    throttle = await users.address_failures(conn, client)
    if throttle is not None and users_locked(throttle.blocked_until, now):
        await users.password_matches(None, password)  # the time of a real check
        raise LoginThrottled(throttle.blocked_until or now)
    possible = name_problem(name) is None  # else not a name the database could hold
    user = None
    if possible:
        failures = await users.failures_of(conn, name, client)
        if users_locked(failures.locked_until, now):
            raise LoginLocked(failures.locked_until or now)
        user = await users.get(conn, name)
    ok = await users.password_matches(user.password_hash if user else None, password)
    if ok and user is not None and user.disabled:
        raise LoginRefused  # the right password: not a guess to count
    if not ok or user is None:
        await _count_failure(conn, policy, name if possible else None, client, now)
        raise LoginRefused
    async with conn.transaction():
        await users.lock_address(conn, client)
        current = await users.get(conn, name)
        if current is None or current.disabled:  # removed or disabled meanwhile
            raise LoginRefused
        failures = await users.failures_of(conn, name, client)
        if users_locked(failures.locked_until, now):  # locked by a parallel attempt meanwhile
            raise LoginLocked(failures.locked_until or now)
        await users.record_success(conn, name, client)
        expires_at = now + timedelta(minutes=max(1, min(minutes, settings.login_session_max_minutes)))
        token, stored = await issue_token(
            conn,
            Actor(name, current.role, current.agency_code, "login"),
            subject=name,
            role=Role(current.role),
            agency_code=current.agency_code,
            expires_at=expires_at,
        )
        await users.add_session(conn, stored.entity_id, name, expires_at)
    return LoginDone(token, stored, expires_at)


async def _count_failure(
    conn: Conn, policy: LoginPolicy, name: str | None, client: str, now: datetime
) -> None:
    """One wrong password for ``name`` (None: not a possible name) from ``client``; audits a lock
    of the name at that address and a throttle of the address when they start."""
    anonymous = Actor(client, "anonymous", None, "login")
    async with conn.transaction():
        await users.lock_address(conn, client)
        if name is not None:
            before = await users.failures_of(conn, name, client)
            failure = after_failure(before.failed, before.last_at, now, policy)
            await users.record_failure(conn, name, client, failure.failed_logins, failure.locked_until, now)
            if failure.locked_until is not None:
                _log.warning("login: %s locked at address %s until %s", name, client, failure.locked_until)
                await users.audit(
                    conn,
                    anonymous,
                    "update",
                    name,
                    {
                        "login": "locked",
                        "client": client,
                        "locked_until": failure.locked_until.isoformat(),
                        "failures": policy.max_failures,
                    },
                )
        address = after_address_failure(await users.address_failures(conn, client), now, policy)
        await users.record_address_failure(conn, client, address)
        if address.blocked_until is not None and address.failed == 0:
            _log.warning("login: address %s throttled until %s", client, address.blocked_until)
            await users.audit_address(
                conn,
                anonymous,
                client,
                {
                    "login": "throttled",
                    "blocked_until": address.blocked_until.isoformat(),
                    "failures": policy.address_max_failures,
                    "window_minutes": policy.address_window_minutes,
                },
            )
        await users.forget_failures(
            conn,
            now - timedelta(minutes=policy.lock_minutes),
            now - timedelta(minutes=policy.address_window_minutes),
            now,
        )


async def logout(conn: Conn, token: str) -> bool:
    """End the password session of ``token`` (its api_token is revoked on the feed). A token that
    no password login issued is left alone (False): logging out never revokes an API token."""
    token_hash = hash_token(token)
    async with conn.transaction():
        name = await users.session_user(conn, token_hash)
        if name is None:
            return False
        user = await users.get(conn, name)
        actor = Actor(name, user.role if user else "viewer", user.agency_code if user else None, "login")
        await repository.delete(conn, "api_token", token_hash, actor)
        await users.end_session(conn, token_hash)
    return True
