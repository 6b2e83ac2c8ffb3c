"""Validate-and-produce workers of a full-speed replay: the second core's share of the work.

The replay process reads the log, translates it and encodes each event (orjson); it hands the
encoded events over in batches of whole cases, round-robin, to worker processes that validate
each event against the ingress contract and produce it. A case — one dossier — lies in one batch,
so its events go through one producer in their order. Each worker reports how many events it
produced after every batch (the progress bar) and, at the end, its tally: events produced,
invalid events with their first problems (tagged with the case's place in the log, so the
summary lists them in the order a single process would have), and the latest moment produced.

Workers are forked (they inherit the contract limits and the loaded modules: no start-up import
cost); where ``fork`` is not available the replay stays in one process.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

import orjson
from pydantic import ValidationError

from services.replay.adapters.producer import EventProducer
from services.replay.domain.translate import Problem
from shared.contracts.events import parse_dossier_event

PROBLEMS_KEPT = 20

# One case as handed over: (its place in the log, case id, dossier code as the key, encoded events)
HandedCase = tuple[int, str, bytes, list[bytes]]
# A problem's place: (case's place in the log, 0 = translation / 1 = validation, index in the case)
ProblemKey = tuple[int, int, int]


@dataclass
class Tally:
    """What one worker did."""

    events: int = 0
    invalid: int = 0
    problems: list[tuple[ProblemKey, Problem]] = field(default_factory=list)
    log_end: datetime | None = None


def reason_of(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())


def fork_available() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


class Workers:
    """``n`` forked workers producing to ``topic`` (each with its own ``producer(servers, topic)``, an
    async context manager with ``send``); ``hand_over`` a batch, ``finish`` for the tallies."""

    def __init__(
        self, n: int, bootstrap_servers: str, topic: str, producer: Callable[..., Any] = EventProducer
    ) -> None:
        context = multiprocessing.get_context("fork")
        self._conns: list[Connection] = []
        self._processes: list[Any] = []
        for _ in range(n):
            mine, theirs = context.Pipe(duplex=True)
            process = context.Process(
                target=_work, args=(theirs, bootstrap_servers, topic, producer), daemon=True
            )
            process.start()
            theirs.close()
            self._conns.append(mine)
            self._processes.append(process)
        self._next = 0
        self.tallies: list[Tally | None] = [None] * n

    def hand_over(self, batch: list[HandedCase]) -> int:
        """Send one batch to the next worker; return the events produced since the last call."""
        conn = self._conns[self._next]
        self._next = (self._next + 1) % len(self._conns)
        conn.send(batch)
        return self.produced()

    def produced(self, wait: bool = False) -> int:
        """Events the workers reported produced since the last call (``wait``: until all are done)."""
        done = 0
        for i, conn in enumerate(self._conns):
            while self.tallies[i] is None and (wait or conn.poll()):
                try:
                    kind, value = conn.recv()
                except EOFError:
                    raise RuntimeError("a replay worker stopped before reporting what it produced") from None
                if kind == "produced":
                    done += value
                elif kind == "done":
                    self.tallies[i] = value
                else:
                    raise RuntimeError(f"a replay worker failed:\n{value}")
        return done

    def finish(self, progress: Any) -> list[Tally]:
        """Tell the workers the log is over, follow their progress until they are done."""
        for conn in self._conns:
            conn.send(None)
        progress(self.produced(wait=True))
        self.close()
        return [t for t in self.tallies if t is not None]

    def close(self) -> None:
        for conn in self._conns:
            conn.close()
        for process in self._processes:
            process.join(30)
            if process.is_alive():
                process.kill()
                process.join()


def _work(conn: Connection, bootstrap_servers: str, topic: str, producer: Callable[..., Any]) -> None:
    try:
        tally = asyncio.run(_produce(conn, bootstrap_servers, topic, producer))
    except BaseException:  # reported to the replay process, which raises it
        try:
            conn.send(("failed", traceback.format_exc()))
        except OSError:
            pass  # the replay process stopped first (its own error is the one shown)
        finally:
            conn.close()
        return
    conn.send(("done", tally))
    conn.close()


async def _produce(conn: Connection, bootstrap_servers: str, topic: str, make: Callable[..., Any]) -> Tally:
    loop = asyncio.get_running_loop()
    tally = Tally()
    async with make(bootstrap_servers, topic) as producer:
        append = getattr(producer, "append", None)  # EventProducer's: no await while a batch has room
        while (batch := await loop.run_in_executor(None, conn.recv)) is not None:
            before = tally.events
            for seq, case_id, key, bodies in batch:
                for i, body in enumerate(bodies):
                    try:
                        valid = parse_dossier_event(body)
                    except ValidationError as exc:
                        tally.invalid += 1
                        if len(tally.problems) < PROBLEMS_KEPT:
                            event_id = orjson.loads(body).get("event_id")
                            tally.problems.append(
                                ((seq, 1, i), Problem(case_id, f"event {event_id}", reason_of(exc)))
                            )
                        continue
                    tally.events += 1
                    if tally.log_end is None or valid.occurred_at > tally.log_end:
                        tally.log_end = valid.occurred_at
                    if append is None or not append(key, body):  # a full batch is handed over
                        await producer.send(key, body)
            conn.send(("produced", tally.events - before))
    return tally
