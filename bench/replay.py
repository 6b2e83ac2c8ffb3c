"""Replay time of the real receipt log: ``tthc replay`` at full speed until processing stored everything.

On a private PostgreSQL and broker, starts registry and processing as processes, replays
../shared/data/receipt.xes.gz with services/replay/mappings/receipt.toml (the registry
entries through the registry's HTTP API), and measures the wall time from the start of the
replay until processing has stored every event and assessed and published every dossier.
Also prints the outcome counts (statutory view) and the early / on time / late counts against
the log's own deadline, computed from what processing stored.

    .venv/bin/python -m bench.replay --write
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import asyncpg
import orjson

from bench.common import ROOT, git_commit, private_stack, start_service, write_section
from services.replay.adapters.registry_client import RegistryClient
from services.replay.domain.mapping import Mapping
from services.replay.replay import Summary, load_mapping, replay
from shared.calendar import WorkingCalendar
from shared.db import migrate_all
from shared.devstack import free_port
from shared.kafka import ensure_topics
from shared.settings import CommonSettings

LOG = ROOT.parent / "shared" / "data" / "receipt.xes.gz"
MAPPING = ROOT / "services" / "replay" / "mappings" / "receipt.toml"
TOKEN = "tthc_bench-replay-admin-token-0123456789"
TITLE = "Replay: receipt log"


def day_rule(done: datetime, due: datetime, calendar: WorkingCalendar) -> str:
    if done.astimezone(calendar.tz).date() < due.astimezone(calendar.tz).date():
        return "early"
    return "on_time" if done <= due else "late"


async def run(
    settings: CommonSettings, mapping: Mapping, registry_url: str
) -> tuple[Summary, float, dict[str, Counter[str]]]:
    client = RegistryClient(registry_url, TOKEN)
    conn = await asyncpg.connect(settings.database_url)
    try:
        started = time.perf_counter()
        summary = await replay(LOG, mapping, settings, registry=client)
        while True:
            stored = await conn.fetchval("SELECT count(*) FROM processing.events")
            assessed = await conn.fetchval(
                "SELECT count(*) FROM processing.dossiers WHERE published_revision = revision "
                "AND (outcome IS NOT NULL OR resolved_at < accepted_at)"  # impossible orders have no outcome
            )
            if stored >= summary.events and assessed >= summary.dossiers:
                break
            await asyncio.sleep(0.05)
        seconds = time.perf_counter() - started
        rows = await conn.fetch(
            "SELECT d.outcome, d.resolved_at, e.body::text AS body FROM processing.dossiers d "
            "JOIN processing.events e ON e.dossier_code = d.dossier_code AND e.event_type = 'dossier.accepted'"
        )
    finally:
        await conn.close()
        await client.aclose()
    calendar = settings.calendar()
    deadline_view: Counter[str] = Counter()
    for r in rows:
        appointed = orjson.loads(r["body"])["payload"].get("appointed_return_at")
        if r["resolved_at"] is None or appointed is None:
            deadline_view["open"] += 1
        else:
            deadline_view[day_rule(r["resolved_at"], datetime.fromisoformat(appointed), calendar)] += 1
    return summary, seconds, {"statutory": Counter(r["outcome"] for r in rows), "deadline": deadline_view}


def counts(c: Counter[str]) -> str:
    order = ["early", "on_time", "late", "pending_within", "pending_overdue", "open_at_end_of_log", "open"]
    return ", ".join(f"{k} {c[k]:,}" for k in order if c[k]) + "".join(
        f", {k} {v:,}" for k, v in c.items() if k not in order
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--write", action="store_true", help="write the result into docs/benchmarks.md")
    ap.add_argument(
        "--no-step-rules",
        dest="step_rules",
        action="store_false",
        help="drop the mapping's QMS record, so processing applies no ISO step rule",
    )
    args = ap.parse_args()
    if not LOG.exists():
        raise SystemExit(f"the receipt log is not at {LOG}")
    mapping = load_mapping(MAPPING)
    if not args.step_rules:
        mapping = mapping.model_copy(update={"registry": mapping.registry.model_copy(update={"qms": None})})
    with private_stack() as (pg, kafka, work):
        settings = CommonSettings(database_url=pg.dsn, kafka_bootstrap_servers=kafka.bootstrap_servers)
        asyncio.run(migrate_all(pg.dsn))
        asyncio.run(ensure_topics(settings))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TTHC_")},
            "DATABASE_URL": pg.dsn,
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "TTHC_ADMIN_TOKEN": TOKEN,
            "TTHC_LOG_LEVEL": "WARNING",
        }
        registry_port = free_port()
        children = []
        with (work / "services.log").open("wb") as log:
            try:
                children.append(start_service("registry", env, registry_port, log))
                children.append(start_service("processing", env, free_port(), log))
                summary, seconds, views = asyncio.run(
                    run(settings, mapping, f"http://127.0.0.1:{registry_port}")
                )
            finally:
                for child in children:
                    child.terminate()
                    child.wait(30)
    print(summary.render())
    rate = summary.events / seconds
    print(f"until stored and assessed: {seconds:.1f} s ({rate:,.0f} events/s)")
    print(f"statutory view: {counts(views['statutory'])}")
    print(f"deadline view:  {counts(views['deadline'])}")
    if args.write:
        write_section(
            TITLE,
            f"- Command: `.venv/bin/python -m bench.replay --write` (commit {git_commit()})\n"
            f"- Log: `{Path('../shared/data') / LOG.name}`, {summary.cases:,} cases → {summary.events:,} events "
            f"(mapping `services/replay/mappings/receipt.toml`"
            f"{'' if args.step_rules else ' without its QMS record, so no step rules'}); registry and processing "
            "as processes, PostgreSQL with fsync on, full speed\n"
            f"- **{seconds:.1f} s** from the start of `replay` (registry entries created over HTTP, log parsed, "
            f"every event validated and acknowledged by the broker in {summary.seconds:.1f} s) until processing had "
            f"stored every event and assessed and published every dossier ({rate:,.0f} events/s end to end)\n"
            f"- Outcomes (statutory 56 calendar days): {counts(views['statutory'])}\n"
            f"- Against the log's own deadline: {counts(views['deadline'])}\n",
        )


if __name__ == "__main__":
    main()
