"""``tthc simulate``: set up the province, generate the stream, write the truth, send the events.

Events go out in occurred order. ``speedup`` N replays the simulated clock N times faster than
real time (the quiet nights and weekends included, which is why it is usually large); ``rate``
caps the events per second; neither: as fast as the sink takes them.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson
from tqdm import tqdm

from services.simulator.adapters.registry_setup import put_province
from services.simulator.adapters.sinks import HttpSink, KafkaSink, Sink
from services.simulator.domain.province import Province, build_province
from services.simulator.domain.scenario import Rules, Scenario, ScenarioConfig, SimulatedDossier, stream
from shared.kafka import TopicSpec, ensure_topics
from shared.settings import CommonSettings


@dataclass
class Options:
    dossiers: int = 1_000
    seed: int = 1
    rate: float | None = None  # events/s cap
    speedup: float | None = None  # simulated seconds per real second
    violation_rate: float = 0.3
    via: str = "kafka"  # kafka | http
    truth: Path | None = None
    reference: datetime | None = None  # default: the start of today, local time
    duplicate_rate: float = 0.01
    ingest_url: str | None = None
    api_key: str | None = None
    progress: bool = True


@dataclass
class Summary:
    dossiers: int
    events: int
    sent: int
    seconds: float  # the whole command: registry set-up, generation, truth file, sending
    registry_writes: int
    reference: datetime
    truth: Path | None
    send_seconds: float = 0.0  # sending only: the interval the progress bar measures

    @property
    def rate(self) -> float:
        """Events sent per second while sending: the figure the progress bar shows at its end."""
        return self.sent / self.send_seconds if self.send_seconds > 0 else 0.0

    def render(self) -> str:
        return (
            f"simulated {self.dossiers:,} dossiers → {self.events:,} events; sent {self.sent:,} "
            f"(with duplicates) in {self.send_seconds:.1f} s ({self.rate:,.0f} events/s); "
            f"{self.seconds:.1f} s in all with {self.registry_writes} registry writes and the generation; "
            f"reference {self.reference.isoformat()}"
            + (f"; ground truth in {self.truth}" if self.truth else "")
        )


def rules_of(settings: CommonSettings) -> Rules:
    return Rules(
        in_person_cutoff=settings.in_person_cutoff,
        supplement_window_working_days=settings.supplement_window_working_days,
        apology_lead_working_days=settings.apology_lead_working_days,
        apology_resets_allowed=settings.apology_resets_allowed,
    )


def start_of_today(settings: CommonSettings) -> datetime:
    calendar = settings.calendar()
    return datetime.now(calendar.tz).replace(hour=0, minute=0, second=0, microsecond=0)


def generate(
    settings: CommonSettings,
    options: Options,
    province: Province | None = None,
    *,
    numbers: dict[tuple[str, date], int] | None = None,
    code_tag: int | None = None,
) -> tuple[datetime, list[SimulatedDossier]]:
    """The dossiers of the seeded stream (pure but for the default reference: today).

    A live feed passes one ``numbers`` dict to every batch and a fixed ``code_tag``: dossier codes
    then stay unique across its batches."""
    reference = options.reference or start_of_today(settings)
    scenario = Scenario(
        province or build_province(),
        settings.calendar(),
        rules_of(settings),
        ScenarioConfig(
            dossiers=options.dossiers,
            seed=options.seed,
            reference=reference,
            violation_rate=options.violation_rate,
            duplicate_rate=options.duplicate_rate,
            code_tag=code_tag,
        ),
        numbers=numbers,
    )
    return reference, list(scenario.dossiers())


def encoded(
    dossiers: list[SimulatedDossier], options: Options
) -> list[tuple[datetime, bytes, bytes, dict[str, Any]]]:
    """(moment, key, JSON bytes, event) in sending order: the stream, byte for byte."""
    return [
        (moment, code.encode(), orjson.dumps(event), event)
        for moment, code, event in stream(dossiers, options.seed, options.duplicate_rate)
    ]


def write_truth(path: Path, dossiers: list[SimulatedDossier]) -> None:
    with path.open("wb") as out:
        for d in dossiers:
            out.write(orjson.dumps(d.truth(), option=orjson.OPT_SORT_KEYS) + b"\n")


def read_truth(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def make_sink(settings: CommonSettings, options: Options) -> Sink:
    if options.via == "http":
        if not options.api_key:
            raise ValueError(
                "--via http needs an emitter key bound to '*' (`tthc keys create simulator --agency '*'`)"
            )
        url = options.ingest_url or f"http://127.0.0.1:{settings.processing_port}"
        return HttpSink(url, options.api_key)
    if not settings.kafka_bootstrap_servers:
        raise ValueError(
            "KAFKA_BOOTSTRAP_SERVERS is empty: set it to the broker `tthc up` started (it prints it)"
        )
    return KafkaSink(settings.kafka_bootstrap_servers, settings.topics.dossier_events)


async def send(
    sink: Sink,
    items: list[tuple[datetime, bytes, bytes, dict[str, Any]]],
    options: Options,
    stop: asyncio.Event | None = None,
) -> int:
    """Send ``items`` paced by ``rate`` and ``speedup``; returns how many went out."""
    # smoothing=0: the bar shows the average rate since sending began, the summary's figure,
    # not the burst of the last half second
    bar: tqdm[None] = tqdm(
        total=len(items),
        desc="simulate",
        unit=" events",
        disable=not options.progress,
        mininterval=0.5,
        smoothing=0,
    )
    sent = 0
    wall0 = time.monotonic()
    sim0 = items[0][0] if items else None
    try:
        async with sink:
            for moment, key, body, event in items:
                if stop is not None and stop.is_set():
                    break
                due = 0.0
                if options.rate:
                    due = sent / options.rate
                if options.speedup and sim0 is not None:
                    due = max(due, (moment - sim0).total_seconds() / options.speedup)
                wait = wall0 + due - time.monotonic()
                if wait > 0:
                    await sink.flush()
                    await asyncio.sleep(wait)
                await sink.send(key, body, event)
                sent += 1
                bar.update(1)
    finally:
        bar.close()
    return sent


async def simulate(
    settings: CommonSettings,
    options: Options,
    registry_url: str | None,
    token: str | None,
    stop: asyncio.Event | None = None,
) -> Summary:
    """The whole command: registry (unless ``registry_url`` is None), truth file, events."""
    started = time.perf_counter()
    province = build_province()
    writes = await put_province(registry_url, token, province) if registry_url else 0
    reference, dossiers = generate(settings, options, province)
    if options.truth is not None:
        write_truth(options.truth, dossiers)
    items = encoded(dossiers, options)
    if options.via == "kafka":
        await ensure_topics(settings, [TopicSpec(settings.topics.dossier_events, settings.kafka_partitions)])
    sending = time.perf_counter()
    sent = await send(make_sink(settings, options), items, options, stop)
    send_seconds = time.perf_counter() - sending
    return Summary(
        dossiers=len(dossiers),
        events=sum(len(d.events) for d in dossiers),
        sent=sent,
        seconds=time.perf_counter() - started,
        registry_writes=writes,
        reference=reference,
        truth=options.truth,
        send_seconds=send_seconds,
    )
