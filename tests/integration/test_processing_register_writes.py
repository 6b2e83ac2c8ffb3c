"""The nonconformity register writes only what changed (issue #16), and holds what the old
writes (every finding upserted, every dossier's others marked inactive) held for the same stream."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest

from services.processing.adapters import nonconformities
from services.processing.adapters.literals import text_array, timestamptz_array
from services.processing.adapters.nonconformities import nc_key
from shared.contracts import DossierAssessment, NonconformityRecord
from tests.conftest import Infra, create_database

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)


async def merge_statuses_as_before(conn: asyncpg.Connection, items: Sequence[DossierAssessment]) -> None:
    """The register writes of ``merge_statuses`` at commit 6cd21b8, before it compared with what is stored."""
    codes = [a.dossier_code for a in items]
    upsert: list[tuple[Any, ...]] = []
    for a in items:
        seen: set[str] = set()
        for nc in a.nonconformities:
            key = nc_key(nc)
            if key in seen:
                continue
            seen.add(key)
            upsert.append(
                (
                    a.dossier_code,
                    key,
                    nc.code,
                    a.agency_code,
                    a.procedure_code,
                    nc.clause,
                    nc.detected_at,
                    orjson.dumps(nc.evidence).decode(),
                    nc.detail,
                )
            )
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
            *[text_array(c) for c in cols[:6]],
            timestamptz_array(cols[6]),
            text_array(cols[7]),
            text_array(cols[8]),
        )
    await conn.execute(
        """
        UPDATE processing.nonconformities n SET active = false
        WHERE n.dossier_code = ANY($1::text[]) AND n.active
          AND NOT EXISTS (SELECT 1 FROM unnest($2::text::text[], $3::text::text[]) AS raised(d, k)
                          WHERE raised.d = n.dossier_code AND raised.k = n.nc_key)
        """,
        codes,
        text_array([u[0] for u in upsert]),
        text_array([u[1] for u in upsert]),
    )


def random_finding(rng: random.Random) -> NonconformityRecord:
    """One of a small pool of findings, so that later assessments raise the same ones again,
    sometimes with another clause, time or detail (the stored row must follow)."""
    n = rng.randrange(6)
    evidence = tuple(f"ev-{n}-{i}" for i in range(1 + n % 3))
    if n == 5:  # a long evidence list: the key is hashed
        evidence = tuple(f"event-{i:04d}-of-a-long-history" for i in range(12))
    return NonconformityRecord(
        code=("OVERDUE", "STEP_OVERDUE", "NO_APOLOGY")[n % 3],
        clause=rng.choice(("8.5.1", "8.5.1", "10.2")),
        detected_at=T0 + timedelta(hours=rng.choice((0, 0, 0, n + 1))),
        evidence=evidence,
        detail=rng.choice(("", "", 'trễ 2 ngày "làm việc"', "bước \\ 3")),
    )


def assessment(code: str, findings: Sequence[NonconformityRecord]) -> DossierAssessment:
    return DossierAssessment(
        dossier_code=code,
        agency_code="000.00.01.H13",
        procedure_code="1.004845",
        revision=1,
        status=4,
        outcome=None,
        channel=None,
        accepted_at=T0,
        due_at=None,
        index_due_at=None,
        resolved_at=None,
        nonconformities=tuple(findings),
        assessed_at=T0,
    )


REGISTER = """
    SELECT dossier_code, nc_key, code, agency_code, procedure_code, clause, detected_at, evidence, detail,
           active, status, corrective_action
    FROM processing.nonconformities ORDER BY dossier_code, nc_key
"""


async def test_a_random_stream_leaves_the_register_the_old_writes_left(infra: Infra) -> None:
    rng = random.Random(1616)
    new = await asyncpg.connect(await create_database(infra))
    old = await asyncpg.connect(await create_database(infra))
    dossiers = [f"H13.99-250303-{i:04d}" for i in range(40)]
    try:
        for _ in range(60):
            batch = rng.sample(dossiers, rng.randrange(1, 12))
            items = [
                assessment(code, [random_finding(rng) for _ in range(rng.choice((0, 1, 2, 3, 5)))])
                for code in batch
            ]
            for conn in (new, old):
                async with conn.transaction():
                    if conn is new:
                        merged = await nonconformities.merge_statuses(conn, items)
                    else:
                        await merge_statuses_as_before(conn, items)
            # the statuses merged into the assessments are the register's
            stored = {(r["dossier_code"], r["nc_key"]): r["status"] for r in await new.fetch(REGISTER)}
            for a in merged:
                for nc in a.nonconformities:
                    assert nc.status == stored[(a.dossier_code, nc_key(nc))]
            # people move some findings along their lifecycle, in both registers alike
            rows = await new.fetch(
                "SELECT dossier_code, nc_key FROM processing.nonconformities WHERE status = 'open'"
            )
            for r in rng.sample(rows, min(len(rows), rng.randrange(3))):
                for conn in (new, old):
                    await conn.execute(
                        "UPDATE processing.nonconformities SET status = 'corrective_action', "
                        "corrective_action = 'bổ sung' WHERE dossier_code = $1 AND nc_key = $2",
                        r["dossier_code"],
                        r["nc_key"],
                    )
            assert [dict(r) for r in await new.fetch(REGISTER)] == [
                dict(r) for r in await old.fetch(REGISTER)
            ]
        # the same assessments again: nothing in the register changes, so nothing is rewritten
        versions = "SELECT dossier_code, nc_key, xmin::text FROM processing.nonconformities ORDER BY 1, 2"
        before = await new.fetch(versions)
        async with new.transaction():
            await nonconformities.merge_statuses(new, items)
        assert await new.fetch(versions) == before
    finally:
        await new.close()
        await old.close()
