"""What bounds processing on this machine: the CPU each stage costs an event, measured alone.

The same stream as ``bench.processing`` (N dossiers, 7 events each), each stage run on its
own and timed in CPU seconds — this process's and, for the stages that involve them, the
broker's and PostgreSQL's processes too:

1. consume: read every record of the topic with aiokafka (what FastStream does underneath);
2. validate: ``parse_dossier_event`` on every message (the contract's pydantic model);
3. assess: the pure engine on every dossier's whole history (``evaluate``) and its JSON;
4. store: ``insert_events`` (known ids looked up, the new rows by ``COPY``) in batches of 5,000,
   fsync on.

Their sum is the CPU one event needs even with no other overhead at all (no assessment
stored, nothing published, no locks, no metrics); the machine's cores divided by it is the
ceiling no implementation of this design reaches on this machine.

What issue #16 changed is measured beside them, the same way: the store as it was (one
``INSERT … SELECT unnest … ON CONFLICT DO NOTHING``); the re-read a batch paid before for each
stored event of a dossier it touched again (``load_histories``: read back and parsed again),
against continuing the dossier's kept fold with the new event (``fold_more``).

    .venv/bin/python -m bench.processing_floor --dossiers 40000 --write
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import asyncpg
import psutil
from aiokafka import AIOKafkaConsumer
from tqdm import tqdm

from bench.common import as_the_services_collect, git_commit, private_stack, write_section
from bench.processing import PROCEDURES, new_producer, publish_all, stream
from services.processing.adapters.repository import insert_events, load_histories, stored_json
from services.processing.domain.engine import ClockRules, ProcedureTerms, ProcessContext, evaluate
from services.processing.domain.history import Fold, fold_more
from shared.contracts.events import DossierEvent, occurred_order, parse_dossier_event
from shared.contracts.registry import ProcedureRecord
from shared.db import migrate_all
from shared.kafka import TopicSpec, ensure_topics
from shared.settings import CommonSettings

TOPIC = "bench.floor.events"


class CpuMeter:
    """CPU seconds of this process plus the given other processes (and their children)."""

    def __init__(self, others: list[int]) -> None:
        self.others = [psutil.Process(pid) for pid in others]

    def _now(self) -> float:
        total = time.process_time()
        for proc in self.others:
            for p in [proc, *proc.children(recursive=True)]:
                try:
                    t = p.cpu_times()
                    total += t.user + t.system
                except psutil.Error:
                    pass
        return total

    @contextmanager
    def measure(self, into: dict[str, float], name: str) -> Iterator[None]:
        cpu, wall = self._now(), time.perf_counter()
        yield
        into[name] = self._now() - cpu
        into[f"{name}_wall"] = time.perf_counter() - wall


async def publish(servers: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = new_producer(servers)
    await producer.start()
    try:
        await publish_all(producer, TOPIC, messages, len(messages))
    finally:
        await producer.stop()


async def consume(servers: str, total: int) -> int:
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=servers,
        group_id="floor",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=100,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    await consumer.start()
    seen = 0
    try:
        while seen < total:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            seen += sum(len(records) for records in batch.values())
    finally:
        await consumer.stop()
    return seen


def assess(histories: dict[str, list[DossierEvent]], now: datetime) -> int:
    settings = CommonSettings()
    calendar = settings.calendar([])
    rules = ClockRules.from_settings(settings)
    terms = {
        code: ProcedureTerms.from_record(
            ProcedureRecord.model_validate(
                {"code": code, "name": code, "statutory_time": {"value": str(days), "unit": "working_days"}}
            )
        )
        for code, days in PROCEDURES
    }
    size = 0
    for events in histories.values():
        head = events[0]
        process = ProcessContext.from_registry(None, (), head.procedure_code)
        evaluation = evaluate(events, terms[head.procedure_code], calendar, rules, now, process)
        size += len(stored_json(evaluation.assessment))
    return size


async def insert_events_unnest(
    conn: asyncpg.Connection, events: list[DossierEvent], bodies: list[str]
) -> None:
    """The event store before issue #16 (for the comparison): one unnest INSERT, conflicts skipped."""
    await conn.execute(
        """
        INSERT INTO processing.events (event_id, dossier_code, event_type, occurred_at, body)
        SELECT e, d, t, o, b::jsonb FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[])
            AS u(e, d, t, o, b)
        ON CONFLICT (event_id) DO NOTHING
        """,
        [e.event_id for e in events],
        [e.dossier_code for e in events],
        [e.event_type.value for e in events],
        [e.occurred_at for e in events],
        bodies,
    )


async def store(
    dsn: str, events: list[DossierEvent], bodies: list[str], meter: CpuMeter, cpu: dict[str, float]
) -> None:
    conn = await asyncpg.connect(dsn)  # before the measurement: its server process must exist at both ends
    try:
        with meter.measure(cpu, "store_unnest"):
            for i in tqdm(
                range(0, len(events), 5000), desc="storing (unnest)", unit="batch", file=sys.stdout
            ):
                async with conn.transaction():
                    await insert_events_unnest(conn, events[i : i + 5000], bodies[i : i + 5000])
        await conn.execute("TRUNCATE processing.events")
        await conn.execute("CHECKPOINT")
        with meter.measure(cpu, "store"):
            for i in tqdm(range(0, len(events), 5000), desc="storing (COPY)", unit="batch", file=sys.stdout):
                async with conn.transaction():
                    await insert_events(conn, events[i : i + 5000], bodies[i : i + 5000])
        codes = sorted({e.dossier_code for e in events})
        with meter.measure(cpu, "reread"):
            for i in tqdm(range(0, len(codes), 700), desc="re-reading", unit="batch", file=sys.stdout):
                await load_histories(conn, codes[i : i + 700])
    finally:
        await conn.close()


def fold_memory(histories: dict[str, list[DossierEvent]], sample: int = 2_000) -> float:
    """Bytes of memory a kept fold holds per event (tracemalloc, over ``sample`` dossiers)."""
    chosen = list(histories.values())[:sample]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    # each kept fold holds its own parsed events, as a fold kept by the service does
    kept = [fold_more(None, [parse_dossier_event(e.model_dump_json()) for e in events]) for events in chosen]
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return held / sum(len(k or ()) for k in kept)


def continue_folds(histories: dict[str, list[DossierEvent]]) -> int:
    """Each dossier folded one event at a time, each continuing the fold kept from the last."""
    folded = 0
    for events in histories.values():
        kept: Fold | None = None
        for e in sorted(events, key=occurred_order):
            kept = fold_more(kept, (e,))
            folded += 1
    return folded


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dossiers", type=int, default=40_000)
    ap.add_argument("--write", action="store_true", help="write the result into docs/benchmarks.md")
    args = ap.parse_args()
    as_the_services_collect()
    raw = list(stream(args.dossiers))
    n = len(raw)
    cpu: dict[str, float] = {}
    with private_stack() as (pg, kafka, _):
        assert pg.proc is not None and kafka.proc is not None
        meter = CpuMeter([pg.proc.pid, kafka.proc.pid])
        settings = CommonSettings(database_url=pg.dsn, kafka_bootstrap_servers=kafka.bootstrap_servers)
        asyncio.run(migrate_all(pg.dsn))
        asyncio.run(ensure_topics(settings, [TopicSpec(TOPIC, 6, {})]))
        asyncio.run(publish(kafka.bootstrap_servers, raw))
        with meter.measure(cpu, "consume"):
            assert asyncio.run(consume(kafka.bootstrap_servers, n)) == n
        with meter.measure(cpu, "validate"):
            events = [parse_dossier_event(value) for _, value in raw]
        histories: dict[str, list[DossierEvent]] = {}
        for e in events:
            histories.setdefault(e.dossier_code, []).append(e)
        with meter.measure(cpu, "assess"):
            assess(histories, datetime(2026, 1, 1, tzinfo=UTC))
        with meter.measure(cpu, "continue"):
            continue_folds(histories)
        per_kept_event = fold_memory(histories)
        bodies = [value.decode() for _, value in raw]
        asyncio.run(store(pg.dsn, events, bodies, meter, cpu))
    stages: list[tuple[str, str]] = [
        ("consume", "aiokafka reads the records (client + broker CPU)"),
        ("validate", "pydantic validates each event against the contract"),
        ("assess", "the pure engine folds each dossier's 7 events, JSON of the assessment"),
        ("store", "events stored in PostgreSQL by COPY, fsync on (client + server CPU)"),
    ]
    changed: list[tuple[str, str]] = [
        ("store_unnest", "before: events stored by one unnest INSERT … ON CONFLICT DO NOTHING"),
        ("reread", "before: a stored event read back and parsed again by a batch touching its dossier"),
        ("continue", "after: the new event folded onto the dossier's kept fold instead"),
    ]
    per_event = {name: cpu[name] / n * 1e6 for name, _ in stages + changed}
    total_us = sum(per_event[name] for name, _ in stages)
    cores = os.cpu_count() or 1
    ceiling = cores / (total_us / 1e6)
    for name, _ in stages:
        print(f"{name:9s} {per_event[name]:6.1f} µs CPU/event  ({cpu[f'{name}_wall']:.1f} s wall)")
    print(f"sum {total_us:.1f} µs CPU/event → ceiling {ceiling:,.0f} events/s on {cores} cores")
    for name, what in changed:
        print(f"{name:12s} {per_event[name]:6.1f} µs CPU/event  ({what})")
    print(f"a kept fold holds {per_kept_event:,.0f} bytes of memory per event")
    if args.write:
        rows = "\n".join(
            f"| {name} | {what} | {per_event[name]:.1f} | {n / cpu[name]:,.0f} |" for name, what in stages
        )
        write_section(
            "Processing: what bounds it on this machine",
            f"- Command: `.venv/bin/python -m bench.processing_floor --dossiers {args.dossiers} --write` "
            f"(commit {git_commit()})\n"
            f"- Stream: the `bench.processing` stream, {args.dossiers:,} dossiers, {n:,} events; each stage run "
            "alone, CPU seconds of this process plus the broker's and PostgreSQL's processes\n\n"
            "| stage | what | CPU µs / event | events/s per core |\n|---|---|---|---|\n"
            f"{rows}\n"
            f"| **sum** | the least CPU an event needs, with nothing stored but the event | **{total_us:.1f}** | "
            f"{1e6 / total_us:,.0f} |\n\n"
            f"- **Ceiling on this machine: {cores} cores / {total_us:.1f} µs = {ceiling:,.0f} events/s**, before "
            "storing and publishing assessments, nonconformity bookkeeping, locks, offsets and metrics"
            + (
                " — below the 50,000 events/s target however the work is arranged or spread over processes.\n"
                if ceiling < 50_000
                else " — above the 50,000 events/s target: what the service loses beyond it is its own overhead.\n"
            )
            + "\nWhat issue #16 changed, measured in the same run (not in the sum):\n\n"
            "| stage | what | CPU µs / event |\n|---|---|---|\n"
            + "".join(f"| {name} | {what} | {per_event[name]:.1f} |\n" for name, what in changed)
            + f"\n- A fold kept between batches holds {per_kept_event:,.0f} bytes of memory per event (its parsed "
            "events, tracemalloc over 2,000 dossiers): the bound `TTHC_FOLD_STORE_EVENTS` × this is what the "
            "fold store may add to processing's RSS.\n",
        )


if __name__ == "__main__":
    main()
