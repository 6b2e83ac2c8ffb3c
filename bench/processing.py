"""Processing throughput: events/s from the broker to durable state in PostgreSQL.

Generates N dossiers (~7 events each) onto the dossier-events topic first, then starts the
processing service and measures how fast it drains the topic into PostgreSQL (events
stored, every dossier assessed and its assessment published). Peak RSS is sampled.

    .venv/bin/python -m bench.processing --dossiers 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import psutil
from aiokafka import AIOKafkaProducer
from tqdm import tqdm

from bench.common import git_commit, private_stack, write_section
from shared.db import migrate_all
from shared.devstack import free_port
from shared.kafka import ensure_topics
from shared.settings import CommonSettings

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
AGENCIES = [f"000.{i:02d}.13.H13" for i in range(20)]
PROCEDURES = [("1.004845", 2), ("1.013314", 2), ("3.000495", 5), ("1.013842", 15), ("2.001804", 18)]


def dossier(i: int, rng: random.Random) -> list[dict[str, object]]:
    agency = AGENCIES[i % len(AGENCIES)]
    code, days = PROCEDURES[i % len(PROCEDURES)]
    accepted = datetime(2025, 1, 2, 8, tzinfo=TZ) + timedelta(minutes=5 * i)
    d = f"{agency}-{accepted:%y%m%d}-{i:06d}"
    base = {"source": "bench", "dossier_code": d, "agency_code": agency, "procedure_code": code}
    t = accepted
    out: list[dict[str, object]] = [
        {
            **base,
            "event_id": f"{i}-0",
            "event_type": "dossier.submitted",
            "occurred_at": (t - timedelta(hours=1)).isoformat(),
            "payload": {"channel": 2},
        },
        {
            **base,
            "event_id": f"{i}-1",
            "event_type": "dossier.accepted",
            "occurred_at": t.isoformat(),
            "payload": {"channel": 1 + i % 3},
        },
    ]
    for s, unit in enumerate(("MC", "CV", "LD")):
        t += timedelta(hours=rng.uniform(1, days * 8))
        out.append(
            {
                **base,
                "event_id": f"{i}-s{s}",
                "event_type": "dossier.step_completed",
                "occurred_at": t.isoformat(),
                "payload": {"step_code": f"B{s + 1}", "from_unit": unit, "to_unit": "X"},
            }
        )
    t += timedelta(hours=rng.uniform(1, 24))
    out.append(
        {
            **base,
            "event_id": f"{i}-r",
            "event_type": "dossier.resolved",
            "occurred_at": t.isoformat(),
            "payload": {},
        }
    )
    out.append(
        {
            **base,
            "event_id": f"{i}-t",
            "event_type": "dossier.result_returned",
            "occurred_at": (t + timedelta(hours=2)).isoformat(),
            "payload": {},
        }
    )
    return out


def stream(dossiers: int, spread: bool = False) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) of every event of ``dossiers`` dossiers, the same on every run.

    ``spread``: the same events in rounds (every dossier's first event, then every dossier's
    second, …), as events come in a live system where a dossier's events are days apart: each
    batch then touches dossiers it has seen before, which it continues or folds again.
    """
    rounds = range(7) if spread else [None]
    for k in rounds:
        rng = random.Random(42)
        for i in range(dossiers):
            events = dossier(i, rng)
            for e in events if k is None else events[k : k + 1]:
                yield str(e["dossier_code"]).encode(), json.dumps(e).encode()


async def publish_all(
    producer: AIOKafkaProducer, topic: str, messages: Iterable[tuple[bytes, bytes]], total: int
) -> int:
    """Send ``messages`` (acknowledged in windows of 20,000), with a progress bar; returns how many."""
    sent = 0
    futures = []
    for key, value in tqdm(
        messages, total=total, desc="publishing", unit="event", file=sys.stdout, mininterval=2
    ):
        futures.append(await producer.send(topic, value, key=key))
        sent += 1
        if len(futures) > 20_000:
            await asyncio.gather(*futures)
            futures.clear()
    await asyncio.gather(*futures)
    return sent


def new_producer(servers: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=servers, linger_ms=20, max_batch_size=512 * 1024)


async def load_stream(settings: CommonSettings, dossiers: int, spread: bool = False) -> int:
    producer = new_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        for code, days in PROCEDURES:
            change = procedure_change(code, days)
            await producer.send_and_wait(
                settings.topics.registry, json.dumps(change).encode(), key=f"procedure:{code}".encode()
            )
        return await publish_all(
            producer, settings.topics.dossier_events, stream(dossiers, spread), dossiers * 7
        )
    finally:
        await producer.stop()


def procedure_change(code: str, days: int, field: str | None = None) -> dict[str, object]:
    """The registry change that creates one of the stream's procedures (``field``: its 766 field)."""
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


def cpu_seconds(procs: list[psutil.Process], with_children: bool = False) -> float:
    """User + system CPU seconds of ``procs`` (and their children) so far."""
    total = 0.0
    for proc in procs:
        for p in [proc, *proc.children(recursive=True)] if with_children else [proc]:
            try:
                t = p.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system
    return total


async def drain(
    dsn: str, total: int, dossiers: int, procs: list[psutil.Process], db: list[psutil.Process]
) -> dict[str, float]:
    conn = await asyncpg.connect(dsn)
    peak_rss = 0
    first_at = None
    last_empty = time.perf_counter()  # the clock starts at the last look that found nothing stored yet
    cpu_empty = cpu_start = (cpu_seconds(procs), cpu_seconds(db, with_children=True))
    bar = tqdm(total=total, desc="processing", unit="event", file=sys.stdout, mininterval=2)
    try:
        done = 0
        while True:
            done = await conn.fetchval("SELECT count(*) FROM processing.events")
            published = await conn.fetchval(
                "SELECT count(*) FROM processing.dossiers WHERE published_revision = revision"
            )
            for proc in procs:
                if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
                    raise SystemExit("processing exited during the benchmark; see its log")
                peak_rss = max(peak_rss, proc.memory_info().rss)
            if not done:
                last_empty = time.perf_counter()
                cpu_empty = (cpu_seconds(procs), cpu_seconds(db, with_children=True))
            elif first_at is None:
                first_at, cpu_start = last_empty, cpu_empty
            bar.update(done - bar.n)
            if done >= total and published >= dossiers:
                break
            await asyncio.sleep(0.25)
        end = time.perf_counter()
        cpu_end = (cpu_seconds(procs), cpu_seconds(db, with_children=True))
    finally:
        bar.close()
        await conn.close()
    assert first_at is not None
    return {
        "seconds": end - first_at,
        "peak_rss_mib": peak_rss / 2**20,
        "service_cpu_us": (cpu_end[0] - cpu_start[0]) / total * 1e6,
        "db_cpu_us": (cpu_end[1] - cpu_start[1]) / total * 1e6,
    }


def fold_counts(ports: list[int]) -> dict[str, float]:
    """``tthc_dossier_folds_total`` by ``how``, summed over the processing processes' /metrics."""
    counts: dict[str, float] = {}
    for port in ports:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
                text = answer.read().decode()
        except OSError:
            continue
        for how, value in re.findall(r'^tthc_dossier_folds_total\{how="(\w+)"\} ([\d.e+]+)$', text, re.M):
            counts[how] = counts.get(how, 0.0) + float(value)
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dossiers", type=int, default=100_000)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--replicas", type=int, default=1, help="processing processes in one consumer group")
    ap.add_argument(
        "--spread", action="store_true", help="events in rounds: a dossier's events in different batches"
    )
    ap.add_argument("--write", action="store_true", help="write the result into docs/benchmarks.md")
    args = ap.parse_args()
    ports = [free_port() for _ in range(args.replicas)]
    folds: dict[str, float] = {}
    with private_stack() as (pg, kafka, work):
        settings = CommonSettings(
            database_url=pg.dsn,
            kafka_bootstrap_servers=kafka.bootstrap_servers,
            kafka_partitions=args.partitions,
        )
        asyncio.run(migrate_all(pg.dsn))
        asyncio.run(ensure_topics(settings))
        total = asyncio.run(load_stream(settings, args.dossiers, args.spread))
        env = {
            **os.environ,
            "DATABASE_URL": pg.dsn,
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "TTHC_KAFKA_SESSION_TIMEOUT_MS": "6000",
            "TTHC_LOG_LEVEL": "WARNING",
        }
        log = open(work / "processing.log", "wb")
        children = [
            subprocess.Popen(
                [sys.executable, "-m", "services.processing"],
                env=env | {"TTHC_PROCESSING_PORT": str(port)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            for port in ports
        ]
        child = children[0]
        if os.environ.get("BENCH_PYSPY"):
            subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "-o",
                    os.environ["BENCH_PYSPY"],
                    "-d",
                    "25",
                    "-f",
                    "raw",
                    "-p",
                    str(child.pid),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        try:
            result = asyncio.run(
                drain(
                    pg.dsn,
                    total,
                    args.dossiers,
                    [psutil.Process(c.pid) for c in children],
                    [psutil.Process(pg.proc.pid)] if pg.proc is not None else [],
                )
            )
            folds = fold_counts(ports)
        finally:
            for c in children:
                c.terminate()
            for c in children:
                c.wait(30)
            log.close()
    rate = total / result["seconds"]
    how = (
        f"{folds.get('continued', 0):,.0f} dossier folds continued, {folds.get('refolded', 0):,.0f} folded again "
        "from their stored events"
    )
    print(
        f"{total:,} events, {args.dossiers:,} dossiers in {result['seconds']:.1f} s → {rate:,.0f} events/s; "
        f"processing peak RSS {result['peak_rss_mib']:.0f} MiB; {how}; CPU per event: processing "
        f"{result['service_cpu_us']:.1f} µs, PostgreSQL {result['db_cpu_us']:.1f} µs"
    )
    if args.write:
        spread = " --spread" if args.spread else ""
        write_section(
            f"Processing: broker → durable state in PostgreSQL, {args.replicas} process(es)"
            + (", events spread" if args.spread else ""),
            f"- Command: `.venv/bin/python -m bench.processing --dossiers {args.dossiers} --replicas {args.replicas}"
            f"{spread} --write` (commit {git_commit()})\n"
            f"- Stream: {args.dossiers:,} dossiers, {total:,} events, {args.partitions} partitions, "
            f"{args.replicas} processing process(es) in one consumer group; "
            "PostgreSQL with fsync on"
            + (
                "; events in rounds (every dossier's 1st event, then every 2nd, …): a dossier's events in 7 batches\n"
                if args.spread
                else "; a dossier's 7 events one after the other\n"
            )
            + f"- Folds: {how} (`tthc_dossier_folds_total`)\n"
            f"- **{rate:,.0f} events/s** sustained ({result['seconds']:.1f} s from the last look, every 0.25 s, that "
            "found no event stored until every dossier was assessed and published); target 50,000 events/s\n"
            f"- Processing peak RSS: {result['peak_rss_mib']:.0f} MiB (per process)\n"
            f"- CPU per event over the same interval: **processing {result['service_cpu_us']:.1f} µs** (all its "
            f"processes), PostgreSQL {result['db_cpu_us']:.1f} µs (server processes, including this benchmark's "
            "count every 0.25 s) — steadier than events/s on a machine shared with other work\n"
            "- What limits it: CPU. Validating, assessing and storing an event costs 55–70 µs of CPU even with "
            'nothing else done ("what bounds it" section: a ceiling below 50,000 events/s on this machine); the '
            "service adds the consumer, the assessment's storage, its nonconformity bookkeeping and its publication, "
            "and shares the 2 cores with PostgreSQL and the broker. More partitions × replicas scale it out on "
            "machines with more cores (the 2-process figure above)"
            + (
                ". Spread, every batch assesses each dossier it touches again: about one engine run per event "
                "instead of one per dossier.\n"
                if args.spread
                else ".\n"
            ),
        )


if __name__ == "__main__":
    main()
