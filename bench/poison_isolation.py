"""One event the database refuses among 5,000: halving (the consumer) vs event by event (before).

    .venv/bin/python -m bench.poison_isolation

Prints insert attempts and seconds for a clean batch, the halving consumer and the old event-by-event
retry, each on its own fresh database of an embedded PostgreSQL. Figures: docs/operations.md.
"""

import asyncio
import json
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg

from services.processing import handlers
from services.processing.adapters import repository
from shared.db import all_migrations, create_pool, migrate
from shared.devstack import LocalPostgres
from tests.integration.streams import dossier_events
from tests.integration.test_processing_timers import Outbox, context

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


async def run(dsn: str, prefix: str, bad: str | None, one_by_one: bool) -> tuple[float, int]:
    real = repository.insert_events
    attempts = 0

    async def picky(conn, events, bodies=None):
        nonlocal attempts
        attempts += 1
        if bad and any(e.event_id == bad for e in events):
            raise asyncpg.DataError("date/time field value out of range")
        return await real(conn, events, bodies)

    repository.insert_events = picky
    events = dossier_events(1250, start=datetime(2025, 3, 3, 8, tzinfo=TZ), prefix=prefix)
    batch = [
        handlers.RawMessage(str(e["dossier_code"]).encode(), json.dumps(e).encode(), "events", 0, i)
        for i, e in enumerate(events)
    ]
    pool = await create_pool(dsn)
    ctx = context(pool, Outbox(), datetime(2025, 6, 1, tzinfo=TZ))
    started = time.perf_counter()
    if one_by_one:  # what the consumer did before: the whole batch, then every event on its own
        try:
            await handlers._store_and_assess(
                ctx,
                [handlers._Valid(handlers.parse_dossier_event(m.value), m.value.decode(), m) for m in batch],
            )
        except asyncpg.DataError:
            for m in batch:
                try:
                    await handlers._store_and_assess(
                        ctx, [handlers._Valid(handlers.parse_dossier_event(m.value), m.value.decode(), m)]
                    )
                except asyncpg.DataError:
                    pass
    else:
        await handlers.handle_event_batch(ctx, batch)
    took = time.perf_counter() - started
    await pool.close()
    repository.insert_events = real
    return took, attempts


async def main() -> None:
    with tempfile.TemporaryDirectory(dir="/tmp") as work:
        pg = LocalPostgres(Path(work) / "pg", fsync=False).start()
        try:
            for name in ("clean", "halving", "one_by_one"):
                admin = await asyncpg.connect(pg.dsn)
                await admin.execute(f"CREATE DATABASE {name}")
                await admin.close()
                dsn = pg.dsn.rsplit("/", 1)[0] + "/" + name
                c = await asyncpg.connect(dsn)
                await migrate(c, all_migrations())
                await c.close()
                bad = None if name == "clean" else "x17-s"
                took, attempts = await run(dsn, "x", bad, name == "one_by_one")
                print(f"{name}: 5,000 events, {attempts} insert attempts, {took:.2f} s")
        finally:
            pg.stop()


asyncio.run(main())
