"""Processing's local copy of the registry, fed by ``tthc.registry.v1``.

A change is applied only if its version is higher than the stored one, so redelivery and
replays are harmless. The copy answers what the engine needs: a procedure's terms, the ISO
process versions of an agency × procedure, an agency's QMS scope, the calendar overrides, the
legal profiles and which agencies name one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from services.processing.domain.inputs import ProcedureTerms, ProcessContext
from shared.auth import Principal, principal_of
from shared.calendar import CalendarOverrides
from shared.contracts.registry import (
    ApiTokenRecord,
    CalendarOverrideRecord,
    IsoProcessRecord,
    LegalProfileRecord,
    ProcedureRecord,
    QmsRecord,
    RegistryChange,
)
from shared.db import Conn


@dataclass(frozen=True)
class Applied:
    """What a registry change touched, so the caller can re-assess the right dossiers."""

    entity: str
    entity_id: str
    agency_code: str | None = None
    procedure_code: str | None = None


async def apply_change(conn: Conn, change: RegistryChange) -> Applied | None:
    """Store ``change`` if it is newer than what we have; None if it was not."""
    record = change.record()  # validates data against the entity's model
    status = await conn.execute(
        """
        INSERT INTO processing.registry_entities AS r (entity, entity_id, version, deleted, data)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (entity, entity_id) DO UPDATE SET version = EXCLUDED.version,
            deleted = EXCLUDED.deleted, data = EXCLUDED.data
        WHERE r.version < EXCLUDED.version
        """,
        change.entity,
        change.entity_id,
        change.version,
        change.deleted,
        change.data,
    )
    if not status.endswith(" 1"):
        return None
    # the copy moved: every replica's RegistryView reads it again (same transaction as the change)
    await conn.execute("UPDATE processing.registry_generation SET generation = generation + 1")
    if isinstance(record, ProcedureRecord) or (change.entity == "procedure" and record is None):
        st = record.statutory_time if isinstance(record, ProcedureRecord) else None
        await conn.execute(
            """
            INSERT INTO processing.procedures AS p (code, version, deleted, time_value, time_unit, data)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (code) DO UPDATE SET version = EXCLUDED.version, deleted = EXCLUDED.deleted,
                time_value = EXCLUDED.time_value, time_unit = EXCLUDED.time_unit, data = EXCLUDED.data
            WHERE p.version < EXCLUDED.version
            """,
            change.entity_id,
            change.version,
            change.deleted or record is None,
            st.value if st else None,
            st.unit.value if st else None,
            change.data,
        )
        return Applied("procedure", change.entity_id, procedure_code=change.entity_id)
    if change.entity == "iso_process":
        agency, procedure, version = change.entity_id.split("|")
        if isinstance(record, IsoProcessRecord):
            await conn.execute(
                """
                INSERT INTO processing.iso_processes (agency_code, procedure_code, version, effective_from, deleted, record)
                VALUES ($1, $2, $3, $4, false, $5)
                ON CONFLICT (agency_code, procedure_code, version) DO UPDATE SET
                    effective_from = EXCLUDED.effective_from, deleted = false, record = EXCLUDED.record
                """,
                agency,
                procedure,
                int(version),
                record.effective_from,
                change.data,
            )
        else:
            await conn.execute(
                "UPDATE processing.iso_processes SET deleted = true "
                "WHERE agency_code = $1 AND procedure_code = $2 AND version = $3",
                agency,
                procedure,
                int(version),
            )
        return Applied("iso_process", change.entity_id, agency_code=agency, procedure_code=procedure)
    if change.entity == "qms":
        return Applied("qms", change.entity_id, agency_code=change.entity_id)
    return Applied(change.entity, change.entity_id)


async def procedures(conn: Conn, codes: Sequence[str]) -> dict[str, ProcedureRecord]:
    rows = await conn.fetch(
        "SELECT code, data::text AS data FROM processing.procedures "
        "WHERE code = ANY($1::text[]) AND NOT deleted AND data IS NOT NULL",
        list(codes),
    )
    return {r["code"]: ProcedureRecord.model_validate_json(r["data"]) for r in rows}


async def iso_processes(
    conn: Conn, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], list[IsoProcessRecord]]:
    """Every live version per (agency, procedure), oldest first."""
    if not pairs:
        return {}
    rows = await conn.fetch(
        """
        SELECT p.agency_code, p.procedure_code, p.record::text AS record
        FROM processing.iso_processes p
        JOIN unnest($1::text[], $2::text[]) AS w(agency_code, procedure_code)
          ON w.agency_code = p.agency_code AND w.procedure_code = p.procedure_code
        WHERE NOT p.deleted
        ORDER BY p.agency_code, p.procedure_code, p.effective_from, p.version
        """,
        [a for a, _ in pairs],
        [p for _, p in pairs],
    )
    found: dict[tuple[str, str], list[IsoProcessRecord]] = {}
    for r in rows:
        found.setdefault((r["agency_code"], r["procedure_code"]), []).append(
            IsoProcessRecord.model_validate_json(r["record"])
        )
    return found


async def qms_records(conn: Conn, agencies: Sequence[str]) -> dict[str, QmsRecord]:
    rows = await conn.fetch(
        "SELECT entity_id, data::text AS data FROM processing.registry_entities "
        "WHERE entity = 'qms' AND entity_id = ANY($1::text[]) AND NOT deleted AND data IS NOT NULL",
        list(agencies),
    )
    return {r["entity_id"]: QmsRecord.model_validate_json(r["data"]) for r in rows}


async def calendar_overrides(conn: Conn) -> CalendarOverrides:
    rows = await conn.fetch(
        "SELECT data::text AS data FROM processing.registry_entities "
        "WHERE entity = 'calendar_override' AND NOT deleted AND data IS NOT NULL"
    )
    days_off: set[date] = set()
    working: set[date] = set()
    for r in rows:
        rec = CalendarOverrideRecord.model_validate_json(r["data"])
        days_off.update(rec.days_off)
        working.update(rec.working_days)
    return CalendarOverrides(days_off=frozenset(days_off), working_days=frozenset(working))


async def token_principal(conn: Conn, token_hash: str, now: datetime) -> Principal | None:
    """The holder of a bearer token, from the ``api_token`` entities of the feed (None if unknown/revoked/expired)."""
    raw = await conn.fetchval(
        "SELECT data::text FROM processing.registry_entities "
        "WHERE entity = 'api_token' AND entity_id = $1 AND NOT deleted AND data IS NOT NULL",
        token_hash,
    )
    if raw is None:
        return None
    record = ApiTokenRecord.model_validate_json(raw)
    if record.expires_at is not None and record.expires_at <= now:
        return None
    return principal_of(record)


async def agency_lineage(conn: Conn, agency_code: str) -> list[str]:
    """``agency_code`` and its parents up to the root, from the agency entities of the feed."""
    rows = await conn.fetch(
        """
        WITH RECURSIVE up(code, depth) AS (
            SELECT $1::text, 0
            UNION ALL
            SELECT r.data->>'parent_code', up.depth + 1 FROM up
            JOIN processing.registry_entities r ON r.entity = 'agency' AND r.entity_id = up.code
            WHERE r.data->>'parent_code' IS NOT NULL AND up.depth < 20
        )
        SELECT code FROM up ORDER BY depth
        """,
        agency_code,
    )
    return [r["code"] for r in rows]


async def legal_profiles(conn: Conn) -> list[LegalProfileRecord]:
    """Every live legal profile version (few: one per jurisdiction and law change)."""
    rows = await conn.fetch(
        "SELECT data::text AS data FROM processing.registry_entities "
        "WHERE entity = 'legal_profile' AND NOT deleted AND data IS NOT NULL ORDER BY entity_id"
    )
    return [LegalProfileRecord.model_validate_json(r["data"]) for r in rows]


async def agency_profiles(conn: Conn, agencies: Sequence[str]) -> dict[str, str]:
    """The legal profile code each of ``agencies`` names (absent: it names none)."""
    rows = await conn.fetch(
        "SELECT entity_id, data->>'legal_profile' AS profile FROM processing.registry_entities "
        "WHERE entity = 'agency' AND entity_id = ANY($1::text[]) AND NOT deleted "
        "AND data->>'legal_profile' IS NOT NULL",
        list(agencies),
    )
    return {r["entity_id"]: r["profile"] for r in rows}


async def dossiers_judged_by(conn: Conn, code: str, is_default: bool, after: str, limit: int) -> list[str]:
    """Dossiers a change of legal profile ``code`` may re-judge, in pages ordered by code.

    Those whose procedure or agency names it; for the deployment's default code, also every
    dossier naming none (only the open ones of those: closed ones keep their verdict, as after a
    calendar override).
    """
    rows = await conn.fetch(
        """
        WITH by_procedure AS (
            SELECT code FROM processing.procedures WHERE NOT deleted AND data->>'legal_profile' = $1
        ), by_agency AS (
            SELECT entity_id AS code FROM processing.registry_entities
            WHERE entity = 'agency' AND NOT deleted AND data->>'legal_profile' = $1
        ), naming_any AS (
            SELECT entity_id AS code FROM processing.registry_entities
            WHERE entity = 'agency' AND NOT deleted AND data->>'legal_profile' IS NOT NULL
        ), procedures_naming_any AS (
            SELECT code FROM processing.procedures WHERE NOT deleted AND data->>'legal_profile' IS NOT NULL
        )
        SELECT d.dossier_code FROM processing.dossiers d
        WHERE d.dossier_code > $3 AND (
            d.procedure_code IN (SELECT code FROM by_procedure)
            OR (d.agency_code IN (SELECT code FROM by_agency)
                AND d.procedure_code NOT IN (SELECT code FROM procedures_naming_any))
            OR ($2 AND d.agency_code NOT IN (SELECT code FROM naming_any)
                AND d.procedure_code NOT IN (SELECT code FROM procedures_naming_any)
                AND (d.outcome IS NULL OR d.outcome IN ('pending_within', 'pending_overdue')))
        )
        ORDER BY d.dossier_code LIMIT $4
        """,
        code,
        is_default,
        after,
        limit,
    )
    return [r["dossier_code"] for r in rows]


async def generation(conn: Conn) -> int:
    """How many changes the local copy has taken (grows with each; see :func:`apply_change`)."""
    return int(await conn.fetchval("SELECT generation FROM processing.registry_generation"))


@dataclass(frozen=True, slots=True)
class ProcedureView:
    """What the engine needs of one procedure: its terms and the legal profile it names."""

    terms: ProcedureTerms
    legal_profile: str | None


@dataclass(frozen=True, slots=True)
class RegistrySnapshot:
    """What one assessment run reads of the registry copy: the same throughout the run."""

    procedures: dict[str, ProcedureView | None]
    coverage: dict[tuple[str, str], ProcessContext]
    agency_profiles: dict[str, str | None]


@dataclass
class RegistryView:
    """The registry copy as domain objects, read from the tables once and kept until it moves.

    The hot path asks it for the procedures, ISO coverage and agency profiles of a batch's
    dossiers; only what it has not seen since the copy last changed is read (and validated)
    again. It is checked against :func:`generation` on every use, so a change applied by any
    replica, in any transaction, is seen by the next batch that starts after it committed.
    Procedures, agencies and coverage that do not exist are remembered too (as None / empty).
    A newer generation starts new dictionaries (never clears the old ones), so a run that holds
    a :class:`RegistrySnapshot` keeps reading one consistent copy.
    """

    seen_generation: int | None = None
    current: RegistrySnapshot = field(default_factory=lambda: RegistrySnapshot({}, {}, {}))

    async def refresh(
        self,
        conn: Conn,
        procedure_codes: Sequence[str],
        pairs: Sequence[tuple[str, str]],
        agencies_for_profiles: Sequence[str] = (),
    ) -> RegistrySnapshot:
        """A snapshot holding at least the given procedures, (agency, procedure) pairs and agencies."""
        now_at = await generation(conn)
        if now_at != self.seen_generation:
            self.current = RegistrySnapshot({}, {}, {})
            self.seen_generation = now_at
        view = self.current
        missing = sorted({c for c in procedure_codes if c not in view.procedures})
        if missing:
            found = await procedures(conn, missing)
            for code in missing:
                rec = found.get(code)
                view.procedures[code] = (
                    ProcedureView(ProcedureTerms.from_record(rec), rec.legal_profile) if rec else None
                )
        new_pairs = sorted({p for p in pairs if p not in view.coverage})
        if new_pairs:
            processes = await iso_processes(conn, new_pairs)
            qms = await qms_records(conn, sorted({a for a, _ in new_pairs}))
            for agency, procedure in new_pairs:
                view.coverage[(agency, procedure)] = ProcessContext.from_registry(
                    qms.get(agency), processes.get((agency, procedure), ()), procedure
                )
        unnamed = sorted({a for a in agencies_for_profiles if a not in view.agency_profiles})
        if unnamed:
            named = await agency_profiles(conn, unnamed)
            for agency in unnamed:
                view.agency_profiles[agency] = named.get(agency)
        return view
