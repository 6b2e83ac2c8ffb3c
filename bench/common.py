"""What every benchmark shares: a private stack, the machine description, the results file."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import psutil

from shared.devstack import LocalKafka, LocalPostgres

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "benchmarks.md"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = psutil.virtual_memory().total / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Python {platform.python_version()}, {platform.system()}"


@contextmanager
def private_stack(fsync: bool = True) -> Iterator[tuple[LocalPostgres, LocalKafka, Path]]:
    """PostgreSQL and the broker of this benchmark only, removed afterwards."""
    work = Path(tempfile.mkdtemp(prefix="tthc-bench-", dir="/tmp"))
    pg = LocalPostgres(work / "pg", fsync=fsync).start()
    kafka = LocalKafka(log_file=work / "broker.log").start()
    try:
        yield pg, kafka, work
    finally:
        kafka.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


def write_section(title: str, body: str) -> None:
    """Replace (or add) the ``## title`` section of docs/benchmarks.md."""
    RESULTS.parent.mkdir(exist_ok=True)
    text = (
        RESULTS.read_text(encoding="utf-8")
        if RESULTS.exists()
        else (
            "# Benchmarks\n\nWritten by `make bench` (each part rewrites its own section). Targets are checked here, "
            "never by timed unit tests.\n"
        )
    )
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = f"## {title}\n\n- Machine: {machine()}\n- Date: {stamp}\n{body.rstrip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(section + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    RESULTS.write_text(text, encoding="utf-8")


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def start_service(service: str, env: dict[str, str], port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """``python -m services.<service>`` on ``port``; returns once its /healthz answers 200."""
    import sys
    import time

    import httpx

    child = subprocess.Popen(
        [sys.executable, "-m", f"services.{service}"],
        env=env | {f"TTHC_{service.upper()}_PORT": str(port)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemExit(f"{service} exited with {child.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return child
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{service} not healthy within 60 s")


def as_the_services_collect() -> None:
    """Python's garbage collector set as a service sets it (``TTHC_GC_YOUNG_THRESHOLD``), so an
    in-process benchmark of a handler measures what the service pays. A checkout from before the
    setting keeps Python's defaults, as its services did."""
    try:
        from shared.runtime import tune_gc
    except ImportError:
        return
    from shared.settings import CommonSettings

    threshold = getattr(CommonSettings(), "gc_young_threshold", 0)
    tune_gc(threshold)

