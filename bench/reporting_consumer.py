"""Reporting's consumer of assessments alone, in process: CPU per assessment of ``handle_assessments``.

The assessments are real ones: ``bench.processing``'s stream (N dossiers, 7 events each, spread in
rounds so that every dossier is assessed 7 times) goes through processing's handler first, whose
published messages are collected. Then they are handed to reporting's handler in batches of
``--batch``, on its own PostgreSQL database (fsync on); CPU seconds of this process and of
PostgreSQL's processes over the reporting part only.

    .venv/bin/python -m bench.reporting_consumer --dossiers 3000
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psutil

from bench.processing import PROCEDURES, stream
from bench.processing_handler import _cpu
from services.processing.domain.engine import ClockRules
from services.processing.handlers import (
    ProcessingContext,
    RawMessage,
    apply_registry_change,
    handle_event_batch,
)
from services.reporting.handlers import ReportingContext, handle_assessments, handle_registry_changes
from shared.contracts import RegistryChange
from shared.db import create_pool, migrate_all
from shared.devstack import LocalPostgres
from shared.settings import CommonSettings


def _procedure_change(code: str, days: int, field: str | None) -> dict[str, object]:
    data: dict[str, object] = {
        "code": code,
        "name": code,
        "statutory_time": {"value": str(days), "unit": "working_days"},
    }
    if field is not None:
        data["field"] = field
    return {
        "entity": "procedure",
        "entity_id": code,
        "version": 1,
        "changed_at": datetime.now(UTC).isoformat(),
        "data": data,
    }


async def assessments(dsn: str, dossiers: int) -> list[RawMessage]:
    """Processing's messages on the compliance topic for the spread stream of ``dossiers`` dossiers."""
    pool = await create_pool(dsn)
    out: list[RawMessage] = []

    async def publish_many(topic: str, messages: Sequence[tuple[bytes, bytes]]) -> None:
        if topic == "compliance":
            out.extend(RawMessage(k, v, topic, 0, len(out) + i) for i, (k, v) in enumerate(messages))

    settings = CommonSettings()
    ctx = ProcessingContext(
        pool=pool,
        publish_many=publish_many,
        calendar=settings.calendar(),
        rules=ClockRules.from_settings(settings),
        compliance_topic="compliance",
        dlq_topic="dlq",
        clock=lambda: datetime(2025, 6, 1, tzinfo=UTC),
    )
    try:
        for code, days in PROCEDURES:
            await apply_registry_change(
                ctx, RegistryChange.model_validate(_procedure_change(code, days, None))
            )
        raw = [RawMessage(k, v, "events", 0, i) for i, (k, v) in enumerate(stream(dossiers, spread=True))]
        for i in range(0, len(raw), 5_000):
            await handle_event_batch(ctx, raw[i : i + 5_000])
    finally:
        await pool.close()
    return out


async def run(dsn: str, dossiers: int, batch: int, db: psutil.Process) -> tuple[int, float, float, float]:
    messages = await assessments(dsn, dossiers)
    pool = await create_pool(dsn)
    ctx = ReportingContext(pool, ZoneInfo("Asia/Ho_Chi_Minh"), "compliance", "registry")
    try:
        await handle_registry_changes(
            ctx,
            [
                RegistryChange.model_validate(_procedure_change(code, days, f"field-{n % 2}"))
                .model_dump_json()
                .encode()
                for n, (code, days) in enumerate(PROCEDURES)
            ],
        )
        cpu = time.process_time(), _cpu(db)
        wall = time.perf_counter()
        for i in range(0, len(messages), batch):
            await handle_assessments(ctx, messages[i : i + batch])
        wall = time.perf_counter() - wall
        used = time.process_time() - cpu[0], _cpu(db) - cpu[1]
        facts = await pool.fetchval("SELECT count(*) FROM reporting.dossier_facts")
        assert facts == dossiers, f"{facts} dossier facts for {dossiers} dossiers"
    finally:
        await pool.close()
    return len(messages), used[0], used[1], wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dossiers", type=int, default=3_000)
    ap.add_argument("--batch", type=int, default=500, help="assessments per reporting batch")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tthc-bench-rc-", dir="/tmp"))
    pg = LocalPostgres(work / "pg", fsync=True).start()
    try:
        assert pg.proc is not None
        asyncio.run(migrate_all(pg.dsn))
        n, service, database, wall = asyncio.run(
            run(pg.dsn, args.dossiers, args.batch, psutil.Process(pg.proc.pid))
        )
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"{n:,} assessments in batches of {args.batch}: reporting {service / n * 1e6:.1f} µs CPU/assessment, "
        f"PostgreSQL {database / n * 1e6:.1f} µs CPU/assessment, {n / wall:,.0f} assessments/s wall"
    )


if __name__ == "__main__":
    main()
