"""The nonconformity register and its corrective-action lifecycle (ISO 9001:2015 clause 10.2).

The engine decides which nonconformities a dossier has; people move each one
open → corrective_action → closed. Statuses live here and are merged into every stored
assessment, so the compliance topic (and reporting) always carries the current status.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from services.processing.adapters.literals import text_array, timestamptz_array
from services.processing.adapters.repository import lock_dossiers
from shared.contracts import DossierAssessment, NonconformityRecord
from shared.db import Conn

STATUSES = ("open", "corrective_action", "closed")
# Forward moves only; a closed finding is reopened by raising it again, not by editing it.
ALLOWED = {("open", "corrective_action"), ("open", "closed"), ("corrective_action", "closed")}


def nc_key(nc: NonconformityRecord) -> str:
    """One row per distinct finding: its code and its evidence events (hashed when long)."""
    evidence = ",".join(nc.evidence)
    if len(evidence) > 160:
        evidence = "sha256-" + hashlib.sha256(evidence.encode()).hexdigest()[:32]
    return f"{nc.code}:{evidence}"


class TransitionError(ValueError):
    """A status change that the lifecycle does not allow."""


async def merge_statuses(conn: Conn, items: Sequence[DossierAssessment]) -> list[DossierAssessment]:
    """Record every finding of ``items`` and return the assessments with current statuses.

    Only what differs from the register is written: a finding new, changed or inactive is upserted,
    a stored active one no longer raised is marked inactive, by its key (most findings are raised
    again unchanged: in the spread stream of ``bench.processing_handler``, 15,600 rows written for
    76,200 findings raised). The callers hold the dossiers' locks (``repository.lock_dossiers``), as
    does :func:`change_status`, so what is read stays true until the writes.
    """
    codes = [a.dossier_code for a in items]
    rows = await conn.fetch(
        "SELECT dossier_code, nc_key, status, active, clause, detected_at, detail, evidence "
        "FROM processing.nonconformities WHERE dossier_code = ANY($1::text[])",
        codes,
    )
    stored = {(r[0], r[1]): r for r in rows}  # fields read by position below (cheaper than by name)
    raised: set[tuple[str, str]] = set()
    merged: list[DossierAssessment] = []
    upsert: list[tuple[Any, ...]] = []
    for a in items:
        ncs = []
        for nc in a.nonconformities:
            key = (a.dossier_code, nc_key(nc))
            if key in raised:  # the same finding twice in one assessment is one finding
                continue
            raised.add(key)
            row = stored.get(key)
            status = "open" if row is None else row[2]
            ncs.append(nc if nc.status == status else nc.model_copy(update={"status": status}))
            if (
                row is None
                or not row[3]
                or row[4] != nc.clause
                or row[5] != nc.detected_at
                or row[6] != nc.detail
                or row[7] != list(nc.evidence)
            ):
                upsert.append(
                    (
                        a.dossier_code,
                        key[1],
                        nc.code,
                        a.agency_code,
                        a.procedure_code,
                        nc.clause,
                        nc.detected_at,
                        orjson.dumps(nc.evidence).decode(),  # one JSON array per finding
                        nc.detail,
                    )
                )
        same = len(ncs) == len(a.nonconformities) and all(
            x is y for x, y in zip(ncs, a.nonconformities, strict=True)
        )
        merged.append(a if same else a.model_copy(update={"nonconformities": tuple(ncs)}))
    gone = [key for key, row in stored.items() if row[3] and key not in raised]
    if upsert:
        cols = list(zip(*upsert, strict=True))
        await conn.execute(
            """
            INSERT INTO processing.nonconformities AS n (dossier_code, nc_key, code, agency_code, procedure_code,
                clause, detected_at, evidence, detail, active)
            SELECT d, k, c, a, p, cl, t, ARRAY(SELECT jsonb_array_elements_text(ev::jsonb)), dt, true
            FROM unnest($1::text::text[], $2::text::text[], $3::text::text[], $4::text::text[],
                        $5::text::text[], $6::text::text[], $7::text::timestamptz[], $8::text::text[],
                        $9::text::text[]) AS u(d, k, c, a, p, cl, t, ev, dt)
            ON CONFLICT (dossier_code, nc_key) DO UPDATE SET clause = EXCLUDED.clause,
                detected_at = EXCLUDED.detected_at, evidence = EXCLUDED.evidence, detail = EXCLUDED.detail,
                active = true
            """,
            *[text_array(c) for c in cols[:6]],  # arrays as literals: adapters/literals.py
            timestamptz_array(cols[6]),
            text_array(cols[7]),
            text_array(cols[8]),
        )
    if gone:  # findings the engine no longer raises stay in the register, marked inactive
        await conn.execute(
            """
            UPDATE processing.nonconformities n SET active = false
            FROM unnest($1::text::text[], $2::text::text[]) AS gone(d, k)
            WHERE n.dossier_code = gone.d AND n.nc_key = gone.k
            """,
            text_array([d for d, _ in gone]),
            text_array([k for _, k in gone]),
        )
    return merged


@dataclass(frozen=True)
class RegisterFilter:
    agency: str | None = None
    procedure: str | None = None
    code: str | None = None
    status: str | None = None
    detected_from: datetime | None = None
    detected_to: datetime | None = None
    include_inactive: bool = False
    agencies: Sequence[str] | None = None  # the caller's visible agencies; None = every agency


async def list_register(
    conn: Conn, f: RegisterFilter, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    where = """
        ($1::text IS NULL OR agency_code = $1) AND ($2::text IS NULL OR procedure_code = $2)
        AND ($3::text IS NULL OR code = $3) AND ($4::text IS NULL OR status = $4)
        AND ($5::timestamptz IS NULL OR detected_at >= $5) AND ($6::timestamptz IS NULL OR detected_at < $6)
        AND (active OR $7) AND ($8::text[] IS NULL OR agency_code = ANY($8::text[]))
    """
    visible = list(f.agencies) if f.agencies is not None else None
    args = (
        f.agency,
        f.procedure,
        f.code,
        f.status,
        f.detected_from,
        f.detected_to,
        f.include_inactive,
        visible,
    )
    total = await conn.fetchval(f"SELECT count(*) FROM processing.nonconformities WHERE {where}", *args)
    rows = await conn.fetch(
        f"""
        SELECT dossier_code, nc_key, code, agency_code, procedure_code, clause, detected_at, evidence, detail,
               active, status, corrective_action, status_changed_at, status_changed_by
        FROM processing.nonconformities WHERE {where}
        ORDER BY detected_at DESC, dossier_code, nc_key LIMIT $9 OFFSET $10
        """,
        *args,
        limit,
        offset,
    )
    return [dict(r) for r in rows], int(total)


async def change_status(
    conn: Conn, dossier_code: str, key: str, status: str, corrective_action: str | None, by: str
) -> dict[str, Any]:
    """Move one finding along its lifecycle; marks the dossier's assessment for re-publication."""
    if status not in STATUSES:
        raise TransitionError(f"status must be one of {', '.join(STATUSES)}")
    await lock_dossiers(conn, [dossier_code])  # before any row lock, as every assessment does
    row = await conn.fetchrow(
        "SELECT status FROM processing.nonconformities WHERE dossier_code = $1 AND nc_key = $2 FOR UPDATE",
        dossier_code,
        key,
    )
    if row is None:
        raise LookupError(f"no nonconformity {key!r} on dossier {dossier_code!r}")
    if (row["status"], status) not in ALLOWED:
        raise TransitionError(
            f"cannot move a nonconformity from {row['status']} to {status}; allowed: open → corrective_action → closed"
        )
    updated = await conn.fetchrow(
        """
        UPDATE processing.nonconformities SET status = $3, corrective_action = coalesce($4, corrective_action),
            status_changed_at = now(), status_changed_by = $5
        WHERE dossier_code = $1 AND nc_key = $2
        RETURNING dossier_code, nc_key, code, status, corrective_action, status_changed_at, status_changed_by
        """,
        dossier_code,
        key,
        status,
        corrective_action,
        by,
    )
    # the stored assessment carries the status: rewrite it and bump the revision so it is published again
    stored = await conn.fetchval(
        "SELECT assessment::text FROM processing.dossiers WHERE dossier_code = $1 FOR UPDATE", dossier_code
    )
    if stored is not None:
        body = orjson.loads(stored)
        for nc in body.get("nonconformities", []):
            if nc_key(NonconformityRecord.model_validate(nc)) == key:
                nc["status"] = status
        await conn.execute(
            "UPDATE processing.dossiers SET assessment = $2::text::jsonb, revision = revision + 1, updated_at = now() "
            "WHERE dossier_code = $1",
            dossier_code,
            orjson.dumps(body).decode(),
        )
    assert updated is not None
    return dict(updated)
