"""Processing's memory as open dossiers grow: RSS at 10k … 1 M open dossiers (issue #16 target).

In process, like ``bench.processing_handler``: ``handle_event_batch`` with real PostgreSQL (fsync
on), no broker. Each dossier gets two events (``dossier.submitted`` then ``dossier.accepted``) and,
with ``--events-per-dossier N``, N − 2 ``dossier.step_completed`` after them, and nothing more, so every
dossier stays open; batches of ``--batch`` events (a dossier's events in the same batch, dossiers in
order). The process RSS (psutil, after a full garbage collection) is
recorded at each checkpoint, and ``tracemalloc`` runs from the second-to-last checkpoint to the end,
so its top allocators are what the last stretch of open dossiers left behind in memory.

    .venv/bin/python -m bench.processing_memory --dossiers 1000000 [--events-per-dossier 2] [--write]

The event bytes are made from a template (no pydantic, no json.dumps), so generating them costs
little beside the handler.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psutil

from bench.common import as_the_services_collect, git_commit, write_section
from bench.processing import AGENCIES, PROCEDURES
from bench.processing_handler import _cpu, in_process_context
from services.processing.adapters.folds import FoldStore
from services.processing.handlers import (
    RawMessage,
    handle_event_batch,
)
from services.processing.settings import ProcessingSettings
from shared.db import create_pool, migrate_all
from shared.devstack import LocalPostgres

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
CHECKPOINTS = (10_000, 100_000, 250_000, 500_000, 1_000_000)
START = datetime(2025, 1, 2, 8, tzinfo=TZ)
_TEMPLATE = (
    '{"event_id":"%s-%d","event_type":"%s","occurred_at":"%s","source":"bench",'
    '"dossier_code":"%s","agency_code":"%s","procedure_code":"%s","payload":{"channel":%d}}'
)


_STEP = (
    '{"event_id":"%s-%d","event_type":"dossier.step_completed","occurred_at":"%s","source":"bench",'
    '"dossier_code":"%s","agency_code":"%s","procedure_code":"%s",'
    '"payload":{"step_code":"B%d","from_unit":"%s"}}'
)


def events(first: int, last: int, per_dossier: int = 2) -> list[RawMessage]:
    """The events of dossiers ``first`` … ``last - 1``: submitted, accepted, then
    ``per_dossier - 2`` steps a minute apart."""
    out: list[RawMessage] = []
    for i in range(first, last):
        agency = AGENCIES[i % len(AGENCIES)]
        code, _ = PROCEDURES[i % len(PROCEDURES)]
        accepted = START + timedelta(seconds=20 * i)  # 1 M dossiers over 231 days of 2025
        # the pattern allows 6 digits after the date: the date tells apart dossiers 1 M apart
        d = f"{agency}-{accepted:%y%m%d}-{i % 1_000_000:06d}"
        key = d.encode()
        sub = (accepted - timedelta(hours=1)).isoformat()
        out.append(
            RawMessage(
                key,
                (_TEMPLATE % (i, 0, "dossier.submitted", sub, d, agency, code, 2)).encode(),
                "e",
                0,
                2 * i,
            )
        )
        out.append(
            RawMessage(
                key,
                (
                    _TEMPLATE % (i, 1, "dossier.accepted", accepted.isoformat(), d, agency, code, 1 + i % 3)
                ).encode(),
                "e",
                0,
                2 * i + 1,
            )
        )
        for k in range(2, per_dossier):
            when = (accepted + timedelta(minutes=k)).isoformat()
            out.append(
                RawMessage(
                    key, (_STEP % (i, k, when, d, agency, code, k, agency)).encode(), "e", 0, 2 * i + k
                )
            )
    return out


def rss_mib(proc: psutil.Process) -> float:
    gc.collect()
    return proc.memory_info().rss / 2**20


async def run(
    dsn: str,
    dossiers: int,
    batch: int,
    checkpoints: Sequence[int],
    db: psutil.Process,
    trace_last: int,
    per_dossier: int = 2,
) -> dict[str, object]:
    await migrate_all(dsn)
    pool = await create_pool(dsn)
    published = 0
    done = 0

    async def publish_many(topic: str, messages: Sequence[tuple[bytes, bytes]]) -> None:
        nonlocal published
        published += len(messages)

    settings = ProcessingSettings()
    # "now" moves with the stream, as live
    ctx = await in_process_context(pool, publish_many, lambda: START + timedelta(seconds=20 * done), settings)
    ctx.folds = FoldStore(settings.fold_store_events)  # as the service sets it (TTHC_FOLD_STORE_EVENTS)
    me = psutil.Process()
    rows: list[dict[str, float]] = []
    baseline = rss_mib(me)
    trace_from = max(0, dossiers - trace_last)
    per_dossier_batch = max(1, batch // per_dossier)
    cpu0, db0, wall0 = time.process_time(), _cpu(db), time.perf_counter()
    try:
        for mark in checkpoints:
            while done < mark:
                if done == trace_from and trace_last:
                    gc.collect()
                    tracemalloc.start(1)
                upto = min(mark, done + per_dossier_batch, trace_from if done < trace_from else mark)
                await handle_event_batch(ctx, events(done, upto, per_dossier))
                done = upto
            rows.append(
                {
                    "open": done,
                    "rss": rss_mib(me),
                    "folds": len(ctx.folds),
                    "fold_events": ctx.folds.events,
                    "cpu_us": (time.process_time() - cpu0) / (per_dossier * done) * 1e6,
                    "db_cpu_us": (_cpu(db) - db0) / (per_dossier * done) * 1e6,
                    "wall": time.perf_counter() - wall0,
                }
            )
            r = rows[-1]
            print(
                f"{done:>9,} open dossiers: RSS {r['rss']:.0f} MiB, folds kept {r['folds']:,.0f} "
                f"({r['fold_events']:,.0f} events), "
                f"handler {r['cpu_us']:.1f} µs CPU/event, {r['wall']:.0f} s",
                flush=True,
            )
        gc.collect()
        top: list[str] = []
        if tracemalloc.is_tracing():
            snap = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen *>")]
            )
            traced_total = sum(s.size for s in snap.statistics("filename")) / 2**20
            top.append(f"traced since {trace_from:,} open dossiers, still held: {traced_total:.1f} MiB")
            for stat in snap.statistics("lineno")[:12]:
                frame = stat.traceback[0]
                where = _short(frame.filename)
                top.append(f"{stat.size / 2**20:8.2f} MiB {stat.count:>9,} blocks  {where}:{frame.lineno}")
            tracemalloc.stop()
        async with pool.acquire() as conn:
            open_rows = await conn.fetchval(
                "SELECT count(*) FROM processing.dossiers WHERE outcome IS NULL OR outcome LIKE 'pending%'"
            )
            timers = await conn.fetchval(
                "SELECT count(*) FROM processing.dossiers WHERE next_deadline IS NOT NULL"
            )
    finally:
        await pool.close()
    return {
        "baseline": baseline,
        "rows": rows,
        "top": top,
        "published": published,
        "open_rows": open_rows,
        "timers": timers,
        "fold_budget": ctx.folds.max_events,
    }


def _short(filename: str) -> str:
    for root in (str(Path(__file__).resolve().parents[1]) + "/", sys.prefix + "/"):
        if filename.startswith(root):
            return filename[len(root) :]
    return filename


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dossiers", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=10_000, help="events per handler batch")
    ap.add_argument(
        "--events-per-dossier", type=int, default=2, help="submitted, accepted, then steps (2 or more)"
    )
    ap.add_argument(
        "--trace-last", type=int, default=50_000, help="tracemalloc over the last N dossiers (0: not at all)"
    )
    ap.add_argument("--write", action="store_true", help="write the result into docs/benchmarks.md")
    args = ap.parse_args()
    as_the_services_collect()
    checkpoints = [c for c in CHECKPOINTS if c < args.dossiers] + [args.dossiers]
    work = Path(tempfile.mkdtemp(prefix="tthc-bench-mem-", dir="/tmp"))
    pg = LocalPostgres(work / "pg", fsync=True).start()
    try:
        assert pg.proc is not None
        res = asyncio.run(
            run(
                pg.dsn,
                args.dossiers,
                args.batch,
                checkpoints,
                psutil.Process(pg.proc.pid),
                args.trace_last,
                max(2, args.events_per_dossier),
            )
        )
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    rows = res["rows"]
    assert isinstance(rows, list)
    print(f"baseline RSS (after migrations and registry set-up): {res['baseline']:.0f} MiB")
    print(f"open dossiers in processing.dossiers: {res['open_rows']:,}, with a timer: {res['timers']:,}")
    print("\n".join(res["top"]))  # type: ignore[arg-type]
    if args.write:
        write_section("Processing: memory as open dossiers grow (issue #16)", _body(args, res))


def _body(args: argparse.Namespace, res: dict[str, object]) -> str:
    rows = res["rows"]
    assert isinstance(rows, list)
    table = "\n".join(
        f"| {r['open']:,} | {r['rss']:.0f} | {r['folds']:,.0f} ({r['fold_events']:,.0f} events) | {r['cpu_us']:.1f} | {r['db_cpu_us']:.1f} | {r['wall']:.0f} |"
        for r in rows
    )
    last = rows[-1]["rss"]
    verdict = "met" if last < 1024 else "**NOT met**"
    top = "\n".join(f"    {line}" for line in res["top"])  # type: ignore[union-attr]
    return (
        f"- Command: `.venv/bin/python -m bench.processing_memory --dossiers {args.dossiers} --write` "
        f"(commit {git_commit()}); load average {os.getloadavg()[0]:.1f} at the end\n"
        f"- In process: `handle_event_batch` with PostgreSQL (fsync on), no broker; each dossier gets "
        f"`dossier.submitted`, `dossier.accepted` (and steps) and nothing else, so it stays open (and gets a timer); "
        f"{max(2, args.events_per_dossier)} events a dossier; batches of {args.batch:,} events; fold store "
        f"budget `TTHC_FOLD_STORE_EVENTS` = {res['fold_budget']:,} events\n"
        f"- Baseline RSS (migrations and registry set-up done): {res['baseline']:.0f} MiB\n\n"
        "| open dossiers | RSS MiB (after gc) | folds kept | handler CPU µs / event (cumulative) "
        "| PostgreSQL CPU µs / event | wall s |\n|---|---|---|---|---|---|\n"
        f"{table}\n\n"
        f"- **1 M open dossiers < 1 GiB: {verdict}** ({last:.0f} MiB)"
        + (
            f"; the last row is measured with tracemalloc on over the last {args.trace_last:,} dossiers, "
            "whose own traces raise RSS (the checkpoints before it are without)\n"
            if args.trace_last
            else "\n"
        )
        + (f"- tracemalloc, top allocators still held at the end:\n\n{top}\n" if args.trace_last else "")
        + "- What holds the memory: the fold store, until its budget is full, then nothing more per open "
        "dossier (tracemalloc over the last dossiers, `--trace-last`: the parsed events kept in folds and the "
        "folds themselves, ≈ 1.9 KB an event). Timers are rows in PostgreSQL, the registry copy and the "
        "Prometheus label sets do not grow with dossiers. Not measured here: the service's broker client and "
        "HTTP buffers (its peak RSS is in `bench.processing`).\n"
    )


if __name__ == "__main__":
    main()
