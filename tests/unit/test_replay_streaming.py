"""The XES reader streams: its memory does not grow with the number of events (a property, not a timing)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

from services.replay.adapters.xes import read_xes

EVENTS_PER_CASE = 10


def write_log(path: Path, cases: int) -> int:
    """An XES log of ``cases`` cases of 10 events each; returns its size in bytes."""

    def chunks() -> Iterator[str]:
        yield '<?xml version="1.0" encoding="UTF-8" ?>\n<log xes.version="1.0" xmlns="http://www.xes-standard.org/">\n'
        for c in range(cases):
            yield f'<trace><string key="concept:name" value="case-{c}"/><string key="channel" value="Internet"/>'
            for e in range(EVENTS_PER_CASE):
                yield f'<event><date key="time:timestamp" value="2011-10-11T13:{e:02d}:40.276+02:00"/></event>'

            yield "</trace>\n"
        yield "</log>\n"

    with path.open("w", encoding="utf-8") as out:
        out.writelines(chunks())
    return path.stat().st_size


def peak_while_reading(path: Path) -> tuple[int, int]:
    """(events read, peak traced bytes) over a full pass of the reader."""
    tracemalloc.start()
    try:
        events = sum(len(case.events) for case in read_xes(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return events, peak


def test_reading_200k_events_needs_no_more_memory_than_reading_2k(tmp_path: Path) -> None:
    small, large = tmp_path / "small.xes", tmp_path / "large.xes"
    write_log(small, 200)
    size = write_log(large, 20_000)
    small_events, small_peak = peak_while_reading(small)
    large_events, large_peak = peak_while_reading(large)
    assert (small_events, large_events) == (2_000, 200_000)
    # The 200k-event file is ~17 MB; holding even its parsed events would take far more than this.
    assert size > 15_000_000
    assert large_peak < 1_000_000, f"peak {large_peak} bytes"
    assert large_peak < small_peak + 200_000, f"{small_peak} → {large_peak} bytes for 100× the events"
