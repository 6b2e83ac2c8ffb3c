"""The processing handler alone, in process: CPU per event of ``handle_event_batch``.

No broker: the ``bench.processing`` stream (N dossiers, 7 events each) is cut into batches of
5,000 messages and handed to the handler, which validates, stores (PostgreSQL, fsync on),
assesses and "publishes" to a list. CPU seconds of this process and of PostgreSQL's processes
are measured over the batches, so the figure is the service's own work per event, steadier than
events/s on a machine shared with other work. ``--spread``: the stream in rounds (a dossier's
events in 7 different batches, as in a live system).

Run it from a checkout of another commit to compare (it uses only what every version has):

    .venv/bin/python -m bench.processing_handler --dossiers 20000 [--spread]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import asyncpg
import psutil

from bench.common import as_the_services_collect, private_stack
from bench.processing import PROCEDURES, cpu_seconds, procedure_change, stream
from services.processing.domain.engine import ClockRules
from services.processing.handlers import (
    ProcessingContext,
    RawMessage,
    apply_registry_change,
    handle_event_batch,
)
from shared.contracts import RegistryChange
from shared.db import create_pool, migrate_all
from shared.settings import CommonSettings

BATCH = 5_000


async def in_process_context(
    pool: asyncpg.Pool,
    publish_many: Callable[[str, Sequence[tuple[bytes, bytes]]], Awaitable[None]],
    clock: Callable[[], datetime],
    settings: CommonSettings | None = None,
) -> ProcessingContext:
    """Processing's context with no broker (``publish_many`` gets what it would publish), the
    stream's procedures already in its registry copy."""
    settings = settings or CommonSettings()
    ctx = ProcessingContext(
        pool=pool,
        publish_many=publish_many,
        calendar=settings.calendar(),
        rules=ClockRules.from_settings(settings),
        compliance_topic="compliance",
        dlq_topic="dlq",
        clock=clock,
    )
    for code, days in PROCEDURES:
        await apply_registry_change(ctx, RegistryChange.model_validate(procedure_change(code, days)))
    return ctx


async def run(dsn: str, dossiers: int, spread: bool, db: psutil.Process) -> tuple[int, float, float, float]:
    await migrate_all(dsn)
    pool = await create_pool(dsn)
    sent = 0

    async def publish_many(topic: str, messages: Sequence[tuple[bytes, bytes]]) -> None:
        nonlocal sent
        sent += len(messages)

    ctx = await in_process_context(pool, publish_many, lambda: datetime(2026, 1, 1, tzinfo=UTC))
    raw = [RawMessage(k, v, "events", 0, i) for i, (k, v) in enumerate(stream(dossiers, spread))]
    try:
        cpu = time.process_time(), _cpu(db)
        wall = time.perf_counter()
        for i in range(0, len(raw), BATCH):
            await handle_event_batch(ctx, raw[i : i + BATCH])
        wall = time.perf_counter() - wall
        used = time.process_time() - cpu[0], _cpu(db) - cpu[1]
    finally:
        await pool.close()
    return len(raw), used[0], used[1], wall


def _cpu(proc: psutil.Process) -> float:
    """CPU seconds of ``proc`` and its children (PostgreSQL's server processes)."""
    return cpu_seconds([proc], with_children=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dossiers", type=int, default=20_000)
    ap.add_argument("--spread", action="store_true", help="a dossier's events in 7 different batches")
    args = ap.parse_args()
    as_the_services_collect()
    with private_stack() as (pg, _, _):
        assert pg.proc is not None
        n, service, database, wall = asyncio.run(
            run(pg.dsn, args.dossiers, args.spread, psutil.Process(pg.proc.pid))
        )
    print(
        f"{n:,} events{' (spread)' if args.spread else ''}: handler {service / n * 1e6:.1f} µs CPU/event, "
        f"PostgreSQL {database / n * 1e6:.1f} µs CPU/event, {n / wall:,.0f} events/s wall"
    )


if __name__ == "__main__":
    main()
