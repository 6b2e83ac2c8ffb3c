"""Shutdown of background tasks: it must end, even when a task swallows a cancellation."""

from __future__ import annotations

import asyncio
import logging

import pytest

from shared.runtime import stop_tasks


async def test_a_task_that_swallows_the_first_cancel_is_still_stopped() -> None:
    # what asyncio.wait_for does in Python 3.11 when its inner future completes as the cancel arrives
    cancels_seen = 0

    async def stubborn() -> None:
        nonlocal cancels_seen
        while True:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancels_seen += 1
                if cancels_seen > 1:
                    raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await stop_tasks([task], patience=5)
    assert task.done() and task.cancelled()
    assert cancels_seen == 2


async def test_a_task_that_never_stops_is_logged_and_left_after_the_patience(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = False

    async def deaf() -> None:
        while not release:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(deaf(), name="deaf-loop")
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with caplog.at_level(logging.ERROR, logger="shared.runtime"):
        await stop_tasks([task], patience=0.3)
    assert loop.time() - started < 5
    assert not task.done()
    assert "deaf-loop" in caplog.text
    release = True  # let the test end cleanly
    task.cancel()
    await asyncio.wait([task], timeout=5)
    assert task.done()
