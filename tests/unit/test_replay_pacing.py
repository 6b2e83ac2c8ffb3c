"""Scaled-time replay: events leave in timestamp order across cases, spaced by log time / speed."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.replay.replay import Pacer

TZ = ZoneInfo("Europe/Amsterdam")
T0 = datetime(2011, 10, 11, 9, 0, tzinfo=TZ)


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, float]] = []
        self.flushes = 0

    async def send(self, key: bytes, value: bytes) -> None:
        self.sent.append((value, time.monotonic()))

    async def flush(self) -> None:
        self.flushes += 1


class Bar:
    def update(self, n: int) -> None:
        pass


async def test_events_of_overlapping_cases_leave_in_timestamp_order_at_the_scaled_pace() -> None:
    sink = Recorder()
    pacer = Pacer(sink, speed=3600 * 10)  # one log hour = 0.1 s
    # case A starts first and runs long; case B starts an hour later and ends early
    case_a = [(T0, b"a0"), (T0 + timedelta(hours=3), b"a1")]
    case_b = [(T0 + timedelta(hours=1), b"b0"), (T0 + timedelta(hours=2), b"b1")]
    for moment, body in case_a + case_b:  # read case by case, as the log lists them
        pacer.push(moment, b"A" if body.startswith(b"a") else b"B", body)
    await pacer.release(Bar())
    assert [body for body, _ in sink.sent] == [b"a0", b"b0", b"b1", b"a1"]
    start = sink.sent[0][1]
    offsets = [at - start for _, at in sink.sent]
    expected = [0.0, 0.1, 0.2, 0.3]  # log hours after a0, at 0.1 s per hour
    # never early; late only by scheduling noise (offsets are from the start, so delays do not add up)
    assert all(e - 0.01 <= o < e + 1.0 for o, e in zip(offsets, expected, strict=True)), offsets
    assert sink.flushes >= 3  # what was due went out before each wait


async def test_a_case_listed_after_a_later_one_still_goes_out_first() -> None:
    sink = Recorder()
    pacer = Pacer(sink, speed=1e9)
    pacer.push(T0 + timedelta(days=300), b"K", b"listed-first-but-later")
    pacer.push(T0, b"K", b"listed-after-but-earlier")  # the receipt log lists cases like this
    await pacer.release(Bar())
    assert [body for body, _ in sink.sent] == [b"listed-after-but-earlier", b"listed-first-but-later"]
