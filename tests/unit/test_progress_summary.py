"""The progress bars of ``tthc simulate`` and ``tthc replay`` end on the rate their summaries print.

Both commands spend time before they send (registry writes, generation); the bar measures the
sending only, so the summary must report the sending rate too — not events over the whole run.
The sinks are fakes that take a fixed time per event, and the set-up is made slow on purpose.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from types import TracebackType
from typing import Any

import pytest

from services.replay import replay as replay_module
from services.replay.replay import load_mapping, replay
from services.simulator import simulate as simulate_module
from services.simulator.simulate import Options, simulate
from shared.settings import CommonSettings
from tests.conftest import ROOT, SHARED_DATA

SETUP_SECONDS = 0.6
PER_EVENT_SECONDS = 0.0002
REFERENCE = datetime.fromisoformat("2025-06-16T00:00:00+07:00")


class SlowSink:
    """Accepts events at a fixed pace; both the simulator's and the replay's sink shape."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.count = 0

    async def __aenter__(self) -> SlowSink:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.flush()

    async def send(self, *args: Any) -> None:
        self.count += 1
        if self.count % 50 == 0:
            await asyncio.sleep(50 * PER_EVENT_SECONDS)

    async def flush(self) -> None:
        await asyncio.sleep(0.01)


async def _no_topics(*args: Any, **kwargs: Any) -> list[str]:
    return []


def bar_rate(stderr: str, desc: str) -> float:
    """The events/s on the bar's last drawing."""
    drawings = [d for d in re.split(r"[\r\n]", stderr) if d.startswith(desc)]
    match = re.search(r"([\d.]+) events/s", drawings[-1])
    assert match, drawings[-1]
    return float(match.group(1))


def summary_rate(text: str) -> float:
    match = re.search(r"\(([\d,]+) events/s\)", text)
    assert match, text
    return float(match.group(1).replace(",", ""))


def test_the_simulator_bar_and_summary_give_the_same_rate(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def slow_registry(*args: Any) -> int:
        await asyncio.sleep(SETUP_SECONDS)
        return 7

    monkeypatch.setattr(simulate_module, "put_province", slow_registry)
    monkeypatch.setattr(simulate_module, "make_sink", lambda settings, options: SlowSink())
    monkeypatch.setattr(simulate_module, "ensure_topics", _no_topics)
    options = Options(dossiers=300, seed=3, reference=REFERENCE, progress=True)
    summary = asyncio.run(simulate(CommonSettings(), options, "http://registry.invalid", "token"))
    text = summary.render()
    bar = bar_rate(capsys.readouterr().err, "simulate")
    assert summary.seconds > summary.send_seconds + SETUP_SECONDS * 0.9  # the set-up was slow...
    assert summary_rate(text) == pytest.approx(bar, rel=0.05)  # ...yet both say the same rate
    # and that rate is the sending one: sent events over sending time, computed here
    assert bar == pytest.approx(summary.sent / summary.send_seconds, rel=0.05)


class SlowRegistry:
    async def ensure(self, mapping: Any, observed_until: Any = None) -> dict[str, str]:
        await asyncio.sleep(SETUP_SECONDS)
        return {"procedures": "1 created"}

    async def record_log_end(self, mapping: Any, end: Any) -> dict[str, str]:
        return {}

    async def aclose(self) -> None:
        return None


def test_the_replay_bar_and_summary_give_the_same_rate(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    log = SHARED_DATA / "receipt.xes.gz"
    if not log.exists():
        pytest.skip(f"the real receipt log is not at {log} (../shared/data/receipt.xes.gz)")
    monkeypatch.setattr(replay_module, "EventProducer", SlowSink)
    monkeypatch.setattr(replay_module, "ensure_topics", _no_topics)
    mapping = load_mapping(ROOT / "services" / "replay" / "mappings" / "receipt.toml")
    summary = asyncio.run(
        replay(log, mapping, CommonSettings(), registry=SlowRegistry(), progress=True)  # type: ignore[arg-type]
    )
    text = summary.render()
    bar = bar_rate(capsys.readouterr().err, "replay")
    assert summary.events > 1_000
    assert summary.seconds > summary.send_seconds + SETUP_SECONDS * 0.9
    assert summary_rate(text) == pytest.approx(bar, rel=0.05)
    assert bar == pytest.approx(summary.events / summary.send_seconds, rel=0.05)
