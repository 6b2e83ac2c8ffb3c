"""The Decision 766 facts read (``adapters/index766.measures_by_agency``) over a province's year.

Fills ``reporting.index766_facts`` with set-based SQL (what the dossier-events consumer would have
stored): ``--dossiers`` dossiers accepted over one year, spread over ``--agencies`` agencies, each
resolved a few days later, a tenth paying a fee, 60 % rated, and the daily counters from them. Then times the per-agency measures of
a month and of the year (p50 / p95 of ``--repeat`` reads) and prints them.

    .venv/bin/python -m bench.reporting_index766 --dossiers 1000000

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from services.reporting.adapters.index766 import measures_by_agency
from shared.db import create_pool, migrate_all
from shared.devstack import LocalPostgres

FILL = """
INSERT INTO reporting.index766_facts
SELECT 'D' || i, 'A' || lpad((i % $2)::text, 4, '0'),
       acc, (i % 10) < 7,
       acc + make_interval(days => 1 + i % 12), (i % 10) < 8,
       CASE WHEN i % 10 = 0 THEN acc + interval '2 days' END, CASE WHEN i % 10 = 0 THEN i % 20 = 0 END,
       CASE WHEN i % 5 < 3 THEN acc + make_interval(days => 3 + i % 12) END,
       CASE WHEN i % 5 < 3 THEN 1 + i % 5 END
FROM (SELECT i, timestamptz '2025-01-01 00:00+07' + make_interval(secs => (i::bigint * 31536000 / $1)) AS acc
      FROM generate_series(0, $1 - 1) AS i) s
"""
# the daily counters the consumer keeps beside the facts, each fact on its event's local day
DAILY = """
INSERT INTO reporting.index766_daily
SELECT agency_code, day, sum(a)::int, sum(ad)::int, sum(r)::int, sum(rd)::int, sum(f)::int, sum(fo)::int,
       sum(s1)::int, sum(s2)::int, sum(s3)::int, sum(s4)::int, sum(s5)::int
FROM (
    SELECT agency_code, (accepted_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date AS day, 1 AS a, digitized::int AS ad,
           0 AS r, 0 AS rd, 0 AS f, 0 AS fo, 0 AS s1, 0 AS s2, 0 AS s3, 0 AS s4, 0 AS s5
    FROM reporting.index766_facts
    UNION ALL
    SELECT agency_code, (resolved_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date, 0, 0, 1, result_digitized::int, 0, 0,
           0, 0, 0, 0, 0
    FROM reporting.index766_facts
    UNION ALL
    SELECT agency_code, (fee_paid_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date, 0, 0, 0, 0, 1, fee_online::int,
           0, 0, 0, 0, 0
    FROM reporting.index766_facts WHERE fee_paid_at IS NOT NULL
    UNION ALL
    SELECT agency_code, (rated_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date, 0, 0, 0, 0, 0, 0,
           (satisfaction = 1)::int, (satisfaction = 2)::int, (satisfaction = 3)::int, (satisfaction = 4)::int,
           (satisfaction = 5)::int
    FROM reporting.index766_facts WHERE rated_at IS NOT NULL
) x
GROUP BY agency_code, day
"""


async def main(args: argparse.Namespace) -> None:
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="tthc-bench-766-", dir="/tmp"))
    pg = LocalPostgres(work / "pg", fsync=False).start()
    try:
        await migrate_all(pg.dsn)
        pool = await create_pool(pg.dsn)
        async with pool.acquire() as conn:
            await conn.execute(FILL, args.dossiers, args.agencies)
            await conn.execute(DAILY)
            await conn.execute("VACUUM ANALYZE reporting.index766_facts")
            await conn.execute("VACUUM ANALYZE reporting.index766_daily")
        print(f"filled {args.dossiers:,} dossiers in {time.monotonic() - started:.1f} s", flush=True)
        windows = {
            "month 2025-05": (date(2025, 5, 1), date(2025, 6, 1)),
            "year 2025": (date(2025, 1, 1), date(2026, 1, 1)),
        }
        for name, (start, end) in windows.items():
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                async with pool.acquire() as conn:
                    rows = await measures_by_agency(conn, start, end, None, 4)
                times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            p95 = times[max(0, round(0.95 * len(times)) - 1)]
            print(f"{name}: {len(rows)} agencies, p50 {statistics.median(times):.0f} ms, p95 {p95:.0f} ms")
        await pool.close()
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


def run() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dossiers", type=int, default=1_000_000)
    p.add_argument("--agencies", type=int, default=150)
    p.add_argument("--repeat", type=int, default=7)
    asyncio.run(main(p.parse_args()))


if __name__ == "__main__":
    run()
