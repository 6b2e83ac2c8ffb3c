"""Keeps the demo dashboard alive: ``run_live`` for ``tthc up`` (``make run``).

Sets up the simulated province once, then, until ``stop_event`` is set, sends one seeded batch
of dossiers after another at a gentle rate — each batch built for the moment it starts, so the
dashboard's "today" keeps moving. Runs in a thread of the supervisor (its own event loop).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import date

from services.simulator.adapters.registry_setup import put_province
from services.simulator.domain.province import build_province
from services.simulator.simulate import Options, encoded, generate, make_sink, send, start_of_today
from shared.settings import CommonSettings

log = logging.getLogger("tthc.simulator.live")


def run_live(
    registry_url: str,
    settings: CommonSettings,
    token: str,
    stop_event: threading.Event,
    *,
    batch_dossiers: int = 200,
    rate: float = 20.0,
    first_seed: int | None = None,
) -> None:
    """Blocking: feed the system until ``stop_event`` is set (call it in a daemon thread).

    Each run starts from a seed of its own (the clock's seconds unless given), so a restarted feed
    never re-sends an earlier run's event ids with other contents; its batches share one numbering
    and one code tag, so their dossier codes do not repeat within the run."""

    async def main() -> None:
        stop = asyncio.Event()

        finished = threading.Event()

        def wait_for_stop() -> None:
            while not stop_event.wait(0.5):
                if finished.is_set():
                    return

        async def watch() -> None:
            await asyncio.to_thread(wait_for_stop)
            stop.set()

        watcher = asyncio.create_task(watch())
        try:
            province = build_province()
            await put_province(registry_url, token, province)
            seed = int(time.time()) if first_seed is None else first_seed
            code_tag = seed % 100
            numbers: dict[tuple[str, date], int] = {}
            while not stop.is_set():
                options = Options(
                    dossiers=batch_dossiers,
                    seed=seed,
                    rate=rate,
                    progress=False,
                    reference=start_of_today(settings),
                )
                _, dossiers = generate(settings, options, province, numbers=numbers, code_tag=code_tag)
                await send(make_sink(settings, options), encoded(dossiers, options), options, stop)
                seed += 1
        finally:
            finished.set()
            watcher.cancel()

    try:
        asyncio.run(main())
    except Exception:  # the demo feed must never take the supervisor down
        log.exception("live simulation stopped")
