"""``tthc replay``: an event log through Kafka into the system, at full speed or scaled time.

Reads the log one case at a time, translates each case with the mapping, validates every
event against the ingress contract (``parse_dossier_event``) and publishes the validated
bytes on the dossier-events topic. Before that, it creates the registry entries the mapping
declares (through the registry's HTTP API).

Scaled time (``speed`` N): events go out in timestamp order across all cases, N times faster
than they happened. Logs are not necessarily listed by case start (the receipt log is not),
so a scaled replay first reads the whole log into a heap of validated events — memory grows
with the events (a few hundred bytes each) — and then releases them on the log's clock. A
full-speed replay streams in constant memory and sends case by case; processing orders by
``occurred_at`` anyway. At full speed a forked worker process validates and produces while this
one reads, translates and encodes (``services/replay/workers.py``), so two cores work.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
from pydantic import ValidationError
from tqdm import tqdm

from services.replay.adapters.csv_log import read_csv
from services.replay.adapters.producer import EventProducer
from services.replay.adapters.registry_client import RegistryClient
from services.replay.adapters.xes import UnreadableLog, read_xes
from services.replay.domain.log import LogCase
from services.replay.domain.mapping import Mapping, MappingError, parse_mapping
from services.replay.domain.translate import Problem, Translator
from services.replay.workers import PROBLEMS_KEPT, HandedCase, ProblemKey, Workers, fork_available, reason_of
from shared.contracts.events import parse_dossier_event
from shared.kafka import TopicSpec, ensure_topics
from shared.settings import CommonSettings

WORKERS = (
    1  # validate-and-produce processes of a full-speed replay (docs/decisions.md, "Replay in two processes")
)
HAND_OVER_EVENTS = 2_000  # events a batch handed to a worker holds (whole cases)


@dataclass
class Summary:
    """What a replay did; ``render`` is what the command prints."""

    file: str
    cases: int = 0
    dossiers: int = 0
    events: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    invalid: int = 0
    problems: list[Problem] = field(default_factory=list)
    registry: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0  # the whole command, registry entries included
    send_seconds: float = 0.0  # reading and producing: the interval the progress bar measures
    log_end: datetime | None = None  # the latest moment of the log (its end, for a censored log)
    end: dict[str, str] = field(default_factory=dict)  # what recording the end did in the registry

    @property
    def rate(self) -> float:
        """Events produced per second while producing: the figure the progress bar shows at its end."""
        return self.events / self.send_seconds if self.send_seconds > 0 else 0.0

    def note(self, problem: Problem) -> None:
        self.invalid += 1
        if len(self.problems) < PROBLEMS_KEPT:
            self.problems.append(problem)

    def render(self) -> str:
        lines = [
            f"replayed {self.file}: {self.cases:,} cases → {self.dossiers:,} dossiers, "
            f"{self.events:,} events produced in {self.send_seconds:.1f} s ({self.rate:,.0f} events/s); "
            f"{self.seconds:.1f} s in all with the registry entries",
        ]
        lines += [f"  registry: {what} {done}" for what, done in self.registry.items()]
        lines += [f"  end of log: {what} {done}" for what, done in self.end.items()]
        total_skipped = sum(self.skipped.values())
        lines.append(f"  skipped activities: {total_skipped:,}" + (":" if total_skipped else ""))
        lines += [
            f"    {n:>7,}  {name}" for name, n in sorted(self.skipped.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        lines.append(f"  invalid (not produced): {self.invalid:,}" + (":" if self.invalid else ""))
        lines += [f"    case {p.case_id}, {p.where}: {p.reason}" for p in self.problems]
        if self.invalid > len(self.problems):
            lines.append(f"    … and {self.invalid - len(self.problems):,} more")
        return "\n".join(lines)


def load_mapping(path: Path) -> Mapping:
    """The mapping file at ``path`` (raises MappingError with the reason)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(f"cannot read the mapping {path}: {exc}") from exc
    return parse_mapping(text, str(path))


def log_format(path: Path) -> str:
    """``xes`` or ``csv`` from the file name (``.xes``, ``.xes.gz``, ``.csv``, ``.csv.gz``)."""
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".xes"):
        return "xes"
    if name.endswith(".csv"):
        return "csv"
    raise UnreadableLog(f"{path}: cannot tell the format from the name; use .xes, .xes.gz, .csv or .csv.gz")


def read_cases(path: Path, mapping: Mapping, fmt: str | None = None) -> Iterator[LogCase]:
    """The log's cases, streamed."""
    if (fmt or log_format(path)) == "xes":
        return read_xes(path, mapping.log.case_id)
    return read_csv(path, mapping.log.case_id, mapping.log.csv_delimiter)


class Sink(Protocol):
    """Where released events go (the Kafka producer, or a list in tests)."""

    async def send(self, key: bytes, value: bytes) -> None: ...

    async def flush(self) -> None: ...


@dataclass(order=True)
class _Queued:
    moment: datetime
    seq: int
    key: bytes = field(compare=False)
    body: bytes = field(compare=False)


class Pacer:
    """Holds events and releases them in timestamp order at ``speed`` times the log's pace."""

    def __init__(self, producer: Sink, speed: float) -> None:
        self.producer = producer
        self.speed = speed
        self.heap: list[_Queued] = []
        self.origin: tuple[datetime, float] | None = None
        self.seq = 0

    def push(self, moment: datetime, key: bytes, body: bytes) -> None:
        heapq.heappush(self.heap, _Queued(moment, self.seq, key, body))
        self.seq += 1

    async def release(self, bar: Any) -> None:
        """Send everything pushed, in timestamp order, on the scaled clock."""
        while self.heap:
            item = heapq.heappop(self.heap)
            if self.origin is None:
                self.origin = (item.moment, time.monotonic())
            log_start, wall_start = self.origin
            wait = wall_start + (item.moment - log_start).total_seconds() / self.speed - time.monotonic()
            if wait > 0:
                await self.producer.flush()  # what is due now is on the broker before we sleep
                await asyncio.sleep(wait)
            await self.producer.send(item.key, item.body)
            bar.update(1)


async def replay(
    path: Path,
    mapping: Mapping,
    settings: CommonSettings,
    *,
    speed: float | None = None,
    registry: RegistryClient | None = None,
    progress: bool = True,
    fmt: str | None = None,
    workers: int | None = None,
) -> Summary:
    """Replay the log at ``path``; ``speed`` None = as fast as possible, N = N× the log's pace.

    At full speed, ``workers`` processes (default :data:`WORKERS`; 0 = none) validate and produce
    what this process reads, translates and encodes (services/replay/workers.py)."""
    if speed is not None and speed <= 0:
        raise ValueError("speed must be positive (or None for full speed)")
    summary = Summary(file=path.name)
    started = time.perf_counter()
    if registry is not None:
        summary.registry = await registry.ensure(mapping, mapping.log.end_at)
    topic = settings.topics.dossier_events
    await ensure_topics(settings, [TopicSpec(topic, settings.kafka_partitions)])
    translator = Translator(mapping)
    n_workers = (workers if workers is not None else WORKERS) if speed is None and fork_available() else 0
    # smoothing=0: the bar's rate is the average since producing began, the summary's figure
    sending = time.perf_counter()
    if n_workers:
        # forked before the bar exists (tqdm may start a monitor thread)
        pool = Workers(n_workers, settings.kafka_bootstrap_servers, topic, EventProducer)
    bar: tqdm[None] = tqdm(desc="replay", unit=" events", disable=not progress, mininterval=0.5, smoothing=0)
    try:
        if n_workers:
            _hand_over(pool, read_cases(path, mapping, fmt), translator, summary, bar, progress)
        else:
            await _produce_here(
                settings, topic, read_cases(path, mapping, fmt), translator, summary, bar, speed
            )
    finally:
        bar.close()
        if n_workers:
            pool.close()
    summary.send_seconds = time.perf_counter() - sending
    if registry is not None and mapping.log.end == "censored":
        # Cases still open at the log's end are censored from then on ("open at end of log").
        end = mapping.log.end_at or summary.log_end
        if end is not None:
            summary.end = await registry.record_log_end(mapping, end)
    summary.seconds = time.perf_counter() - started
    return summary


def _hand_over(
    pool: Workers,
    cases: Iterator[LogCase],
    translator: Translator,
    summary: Summary,
    bar: Any,
    progress: bool,
) -> None:
    """Read, translate and encode here; the workers validate and produce. The summary comes out as
    one process would have made it: problems in log order, counts exact."""
    keyed: list[tuple[ProblemKey, Problem]] = []  # this process's first problems, with their place
    invalid = 0
    batch: list[HandedCase] = []
    in_batch = 0
    dumps = orjson.dumps
    for seq, case in enumerate(cases):
        result = translator.translate(case)
        if result.skipped:
            summary.skipped.update(result.skipped)
        if result.problems:
            invalid += len(result.problems)
            keyed += [((seq, 0, i), p) for i, p in enumerate(result.problems)][: PROBLEMS_KEPT - len(keyed)]
        if result.dossier_code is not None:
            summary.dossiers += 1
            bodies = [dumps(event) for event in result.events]
            batch.append((seq, case.case_id, result.dossier_code.encode(), bodies))
            in_batch += len(bodies)
            if in_batch >= HAND_OVER_EVENTS:
                bar.update(pool.hand_over(batch))
                if progress:
                    bar.set_postfix(cases=seq + 1, refresh=False)
                batch, in_batch = [], 0
        summary.cases = seq + 1
    if batch:
        bar.update(pool.hand_over(batch))
    tallies = pool.finish(bar.update)
    summary.events = sum(t.events for t in tallies)
    summary.invalid = invalid + sum(t.invalid for t in tallies)
    keyed += [kp for t in tallies for kp in t.problems]
    summary.problems = [p for _, p in sorted(keyed, key=lambda kp: kp[0])[:PROBLEMS_KEPT]]
    ends = [t.log_end for t in tallies if t.log_end is not None]
    summary.log_end = max(ends) if ends else None


async def _produce_here(
    settings: CommonSettings,
    topic: str,
    cases: Iterator[LogCase],
    translator: Translator,
    summary: Summary,
    bar: Any,
    speed: float | None,
) -> None:
    """Everything in this process: the scaled-time replay, and full speed without workers."""
    async with EventProducer(settings.kafka_bootstrap_servers, topic) as producer:
        pacer = Pacer(producer, speed) if speed is not None else None
        for case in cases:
            summary.cases += 1
            result = translator.translate(case)
            summary.skipped.update(result.skipped)
            for problem in result.problems:
                summary.note(problem)
            if result.dossier_code is None:
                continue
            summary.dossiers += 1
            key = result.dossier_code.encode()
            for event in result.events:
                body = orjson.dumps(event)
                try:
                    valid = parse_dossier_event(body)
                except ValidationError as exc:
                    summary.note(Problem(case.case_id, f"event {event['event_id']}", reason_of(exc)))
                    continue
                summary.events += 1
                if summary.log_end is None or valid.occurred_at > summary.log_end:
                    summary.log_end = valid.occurred_at
                if pacer is None:
                    await producer.send(key, body)
                    bar.update(1)
                else:
                    pacer.push(valid.occurred_at, key, body)
            if not bar.disable:
                bar.set_postfix(cases=summary.cases, refresh=False)
        if pacer is not None:
            await pacer.release(bar)
