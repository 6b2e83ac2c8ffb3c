"""Reporting's consumer of assessments alone, in process: CPU per assessment of ``handle_assessments``.

The assessments are real ones: ``bench.processing``'s stream (N dossiers, 7 events each, spread in
rounds so that every dossier is assessed 7 times) goes through processing's handler first, whose
published messages are collected. Then they are handed to reporting's handler in batches of
``--batch``, on its own PostgreSQL database (fsync on); CPU seconds of this process and of
PostgreSQL's processes over the reporting part only.

    .venv/bin/python -m bench.reporting_consumer --dossiers 3000

``--events``: the Decision 766 consumer instead (``handle_dossier_events``) on the simulator's seeded
stream of N dossiers (every event type, fees and ratings, its duplicates), CPU per event.
``--profile FILE``: cProfile of the measured part, written to FILE (``python -m pstats FILE``).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import shutil
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psutil

from bench.common import as_the_services_collect
from bench.processing import PROCEDURES, procedure_change, stream
from bench.processing_handler import _cpu, in_process_context
from services.processing.handlers import (
    RawMessage,
    handle_event_batch,
)
from services.reporting.handlers import ReportingContext, handle_assessments, handle_registry_changes
from services.reporting.handlers_766 import handle_dossier_events
from services.simulator.simulate import Options, encoded, generate
from shared.contracts import RegistryChange
from shared.db import create_pool, migrate_all
from shared.devstack import LocalPostgres
from shared.settings import CommonSettings


async def assessments(dsn: str, dossiers: int) -> list[RawMessage]:
    """Processing's messages on the compliance topic for the spread stream of ``dossiers`` dossiers."""
    pool = await create_pool(dsn)
    out: list[RawMessage] = []

    async def publish_many(topic: str, messages: Sequence[tuple[bytes, bytes]]) -> None:
        if topic == "compliance":
            out.extend(RawMessage(k, v, topic, 0, len(out) + i) for i, (k, v) in enumerate(messages))

    ctx = await in_process_context(pool, publish_many, lambda: datetime(2025, 6, 1, tzinfo=UTC))
    try:
        raw = [RawMessage(k, v, "events", 0, i) for i, (k, v) in enumerate(stream(dossiers, spread=True))]
        for i in range(0, len(raw), 5_000):
            await handle_event_batch(ctx, raw[i : i + 5_000])
    finally:
        await pool.close()
    return out


async def run_events(
    dsn: str, dossiers: int, batch: int, db: psutil.Process, profile: cProfile.Profile | None = None
) -> tuple[int, float, float, float]:
    """``handle_dossier_events`` over the simulator's stream of ``dossiers`` dossiers."""
    options = Options(dossiers=dossiers, seed=766, reference=datetime(2025, 6, 16, tzinfo=UTC))
    _, simulated = generate(CommonSettings(), options)
    values = [raw for _, _, raw, _ in encoded(simulated, options)]
    pool = await create_pool(dsn)
    ctx = ReportingContext(pool, ZoneInfo("Asia/Ho_Chi_Minh"), "compliance", "registry")
    try:
        cpu = time.process_time(), _cpu(db)
        wall = time.perf_counter()
        if profile is not None:
            profile.enable()
        for i in range(0, len(values), batch):
            await handle_dossier_events(ctx, values[i : i + batch], "events")
        if profile is not None:
            profile.disable()
        wall = time.perf_counter() - wall
        used = time.process_time() - cpu[0], _cpu(db) - cpu[1]
        facts = await pool.fetchval("SELECT count(*) FROM reporting.index766_facts")
        assert facts > 0, "no 766 facts stored"
        digest = await pool.fetchval(
            "SELECT md5((SELECT string_agg(f::text, ',' ORDER BY dossier_code) FROM reporting.index766_facts f)"
            " || (SELECT string_agg(d::text, ',' ORDER BY day, agency_code) FROM reporting.index766_daily d))"
        )
        print(f"{facts:,} dossiers with 766 facts, facts and daily counters md5 {digest}")
    finally:
        await pool.close()
    return len(values), used[0], used[1], wall


async def run(
    dsn: str, dossiers: int, batch: int, db: psutil.Process, profile: cProfile.Profile | None = None
) -> tuple[int, float, float, float]:
    messages = await assessments(dsn, dossiers)
    pool = await create_pool(dsn)
    ctx = ReportingContext(pool, ZoneInfo("Asia/Ho_Chi_Minh"), "compliance", "registry")
    try:
        await handle_registry_changes(
            ctx,
            [
                RegistryChange.model_validate(procedure_change(code, days, f"field-{n % 2}"))
                .model_dump_json()
                .encode()
                for n, (code, days) in enumerate(PROCEDURES)
            ],
        )
        cpu = time.process_time(), _cpu(db)
        wall = time.perf_counter()
        if profile is not None:
            profile.enable()
        for i in range(0, len(messages), batch):
            await handle_assessments(ctx, messages[i : i + batch])
        if profile is not None:
            profile.disable()
        wall = time.perf_counter() - wall
        used = time.process_time() - cpu[0], _cpu(db) - cpu[1]
        facts = await pool.fetchval("SELECT count(*) FROM reporting.dossier_facts")
        assert facts == dossiers, f"{facts} dossier facts for {dossiers} dossiers"
        digest = await pool.fetchval(
            "SELECT md5((SELECT string_agg(r::text, ',' ORDER BY agency_code, procedure_code, day)"
            " FROM reporting.daily_rollup r) || (SELECT string_agg(r::text, ',' ORDER BY grain, bucket,"
            " agency_code, field) FROM reporting.field_rollup r) || coalesce((SELECT string_agg(r::text, ','"
            " ORDER BY r::text) FROM reporting.nonconformity_rollup r), ''))"
        )
        print(f"rollups (daily, per field, nonconformities) md5 {digest}")
        written = await pool.fetchval(
            "SELECT md5((SELECT string_agg(f::text, ',' ORDER BY dossier_code) FROM reporting.dossier_facts f)"
            " || coalesce((SELECT string_agg(n::text, ',' ORDER BY dossier_code, seq)"
            " FROM reporting.nonconformities n), ''))"
        )
        print(f"dossier facts and nonconformity register md5 {written}")
    finally:
        await pool.close()
    return len(messages), used[0], used[1], wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dossiers", type=int, default=3_000)
    ap.add_argument("--batch", type=int, default=500, help="assessments (events) per reporting batch")
    ap.add_argument("--events", action="store_true", help="the Decision 766 consumer of dossier events")
    ap.add_argument("--profile", type=Path, help="write a cProfile of the measured part here")
    args = ap.parse_args()
    as_the_services_collect()
    profile = cProfile.Profile() if args.profile else None
    work = Path(tempfile.mkdtemp(prefix="tthc-bench-rc-", dir="/tmp"))
    pg = LocalPostgres(work / "pg", fsync=True).start()
    try:
        assert pg.proc is not None
        asyncio.run(migrate_all(pg.dsn))
        n, service, database, wall = asyncio.run(
            (run_events if args.events else run)(
                pg.dsn, args.dossiers, args.batch, psutil.Process(pg.proc.pid), profile
            )
        )
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    what = "event" if args.events else "assessment"
    print(
        f"{n:,} {what}s in batches of {args.batch}: reporting {service / n * 1e6:.1f} µs CPU/{what}, "
        f"PostgreSQL {database / n * 1e6:.1f} µs CPU/{what}, {n / wall:,.0f} {what}s/s wall"
    )
    if profile is not None:
        profile.dump_stats(args.profile)


if __name__ == "__main__":
    main()
