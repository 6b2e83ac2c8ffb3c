"""The cost of migration 0010's trigger (``published_at`` when ``published_revision`` rises) on
processing's ``mark_published``, interleaved with the trigger enabled and disabled.

    python -m bench.published_at_trigger [--dossiers 20000] [--chunk 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg

from services.processing.adapters import repository
from shared.db import all_migrations, migrate
from shared.devstack import LocalPostgres


async def _round(conn: asyncpg.Connection, codes: list[str], chunk: int, trigger: bool) -> float:
    await conn.execute(
        f"ALTER TABLE processing.dossiers {'ENABLE' if trigger else 'DISABLE'} TRIGGER dossiers_published_at"
    )
    await conn.execute("UPDATE processing.dossiers SET published_revision = 0")
    await conn.execute("VACUUM processing.dossiers")
    started = time.perf_counter()
    for i in range(0, len(codes), chunk):
        await repository.mark_published(conn, [(c, 1) for c in codes[i : i + chunk]])
    return time.perf_counter() - started


async def main(dossiers: int, chunk: int, rounds: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="tthc-bench-trigger-"))
    pg = LocalPostgres(work / "pg", fsync=False).start()
    try:
        conn = await asyncpg.connect(pg.dsn)
        try:
            await migrate(conn, all_migrations())
            await conn.execute(
                "INSERT INTO processing.dossiers (dossier_code, agency_code, procedure_code, status, revision, "
                "assessment) SELECT 'D' || i, 'A', 'P', 1, 1, '{}'::jsonb FROM generate_series(1, $1) i",
                dossiers,
            )
            codes = [f"D{i}" for i in range(1, dossiers + 1)]
            times: dict[bool, list[float]] = {True: [], False: []}
            await _round(conn, codes, chunk, True)  # warm-up
            for _ in range(rounds):
                for trigger in (False, True):
                    times[trigger].append(await _round(conn, codes, chunk, trigger))
            for trigger in (False, True):
                median = statistics.median(times[trigger])
                print(
                    f"trigger {'on ' if trigger else 'off'}: median {median * 1000:.0f} ms for {dossiers} "
                    f"assessments ({dossiers / median:,.0f}/s; rounds {[round(t * 1000) for t in times[trigger]]})"
                )
        finally:
            await conn.close()
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=20_000)
    parser.add_argument("--chunk", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.dossiers, args.chunk, args.rounds))
