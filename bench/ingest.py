"""HTTP ingest throughput: accepted events/s over loopback, batches of 500.

Starts a private PostgreSQL and broker, one processing process (whose consumer drains the topic
at the same time, as in production), creates an emitter key, then sends N events with a few
concurrent senders through the typed client (``shared.ingest_client``). An event counts once the
answer says ``accepted``: it is recorded and kept in PostgreSQL's ingress outbox, from where the
relay publishes it. Also measured: the time until processing has stored every event.

    .venv/bin/python -m bench.ingest --events 140000 --write
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
from typing import Any

import asyncpg
import httpx
from tqdm import tqdm

from bench.common import git_commit, private_stack, write_section
from bench.processing import AGENCIES, dossier
from services.processing.adapters import emitter_keys
from shared.db import migrate_all
from shared.devstack import free_port
from shared.ingest_client import IngestClient
from shared.kafka import ensure_topics
from shared.settings import CommonSettings


def make_events(n: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    out: list[dict[str, Any]] = []
    i = 0
    while len(out) < n:
        out += dossier(i, rng)
        i += 1
    return out[:n]


async def send_all(
    url: str, key: str, events: list[dict[str, Any]], batch: int, senders: int
) -> dict[str, float]:
    batches = [events[i : i + batch] for i in range(0, len(events), batch)]
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for b in batches:
        queue.put_nowait(b)
    bar = tqdm(total=len(events), desc="ingest over HTTP", unit="event", file=sys.stdout, mininterval=1)
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0, "retries": 0}
    latencies: list[float] = []

    async def sender() -> None:
        async with IngestClient(url, key) as client:
            while not queue.empty():
                b = queue.get_nowait()
                started = time.perf_counter()
                answer = await client.send_events(b)
                latencies.append(time.perf_counter() - started)
                totals["accepted"] += answer["accepted"]
                totals["duplicates"] += answer["duplicates"]
                totals["rejected"] += answer["rejected"]
                bar.update(len(b))
            totals["retries"] += client.retries

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(senders)))
    seconds = time.perf_counter() - started
    bar.close()
    latencies.sort()
    return {
        **totals,
        "seconds": seconds,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p95_ms": 1000 * latencies[int(len(latencies) * 0.95)],
    }


async def stored_after(dsn: str, n: int, timeout: float = 600) -> float:
    """Seconds from now until processing has stored ``n`` events."""
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        while await conn.fetchval("SELECT count(*) FROM processing.events") < n:
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"processing did not store {n} events within {timeout:.0f} s")
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=140_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--senders", type=int, default=4, help="concurrent HTTP senders")
    ap.add_argument("--write", action="store_true", help="write the result into docs/benchmarks.md")
    args = ap.parse_args()
    events = make_events(args.events)
    with private_stack() as (pg, kafka, work):
        settings = CommonSettings(database_url=pg.dsn, kafka_bootstrap_servers=kafka.bootstrap_servers)
        asyncio.run(migrate_all(pg.dsn))
        asyncio.run(ensure_topics(settings))

        async def new_key() -> str:
            conn = await asyncpg.connect(pg.dsn)
            try:
                return await emitter_keys.create_key(conn, "bench", AGENCIES)
            finally:
                await conn.close()

        key = asyncio.run(new_key())
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": pg.dsn,
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "TTHC_PROCESSING_PORT": str(port),
            "TTHC_LOG_LEVEL": "WARNING",
        }
        log = open(work / "processing.log", "wb")
        child = subprocess.Popen(
            [sys.executable, "-m", "services.processing"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            result = asyncio.run(send_all(url, key, events, args.batch, args.senders))
            result["stored_s"] = asyncio.run(stored_after(pg.dsn, len(events))) + result["seconds"]
        finally:
            child.terminate()
            child.wait(30)
            log.close()
    rate = result["accepted"] / result["seconds"]
    print(
        f"{result['accepted']:,.0f} events accepted in {result['seconds']:.1f} s → {rate:,.0f} events/s "
        f"(batches of {args.batch}, {args.senders} senders; per-batch latency p50 {result['p50_ms']:.0f} ms, "
        f"p95 {result['p95_ms']:.0f} ms; {result['retries']:.0f} retries, {result['rejected']:.0f} rejected); "
        f"all stored by processing {result['stored_s']:.1f} s after the first send "
        f"({result['accepted'] / result['stored_s']:,.0f} events/s end to end)"
    )
    if args.write:
        write_section(
            "Ingress: HTTP events/s",
            f"- Command: `.venv/bin/python -m bench.ingest --events {args.events} --batch {args.batch} "
            f"--senders {args.senders} --write` (commit {git_commit()})\n"
            f"- {result['accepted']:,.0f} events in batches of {args.batch}, {args.senders} concurrent senders "
            "(`shared.ingest_client`) over loopback to one processing process, whose consumer drains the topic "
            "into PostgreSQL (fsync on) at the same time; an event counts when its answer is `accepted` "
            "(its id and bytes committed to PostgreSQL's ingress outbox, from where the relay publishes it)\n"
            f"- **{rate:,.0f} accepted events/s**; per-batch latency p50 {result['p50_ms']:.0f} ms, "
            f"p95 {result['p95_ms']:.0f} ms; {result['retries']:.0f} retries, {result['rejected']:.0f} rejected\n"
            f"- every event stored by processing {result['stored_s']:.1f} s after the first send "
            f"(**{result['accepted'] / result['stored_s']:,.0f} events/s end to end**)\n",
        )


if __name__ == "__main__":
    main()
