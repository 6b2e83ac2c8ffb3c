"""Keeps the child processes of ``tthc up`` running: a crashed child is restarted with backoff.

Each child has a ``start`` (spawn the process, return it) and an optional ``after_start`` (wait until
it serves, redo what a restart lost, e.g. topics of a memory broker). The supervisor gives up only
when one child crashes more than ``max_crashes`` times within ``window_s`` seconds. It makes itself
the reaper of its orphaned grandchildren (the backends of a killed postmaster) and reaps them.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

_PR_SET_CHILD_SUBREAPER = 36


class TooManyCrashes(RuntimeError):
    """A child crashed more often than allowed; the supervisor stops everything."""


@dataclass
class Child:
    name: str
    start: Callable[[], subprocess.Popen[bytes]]
    after_start: Callable[[], None] | None = None
    proc: subprocess.Popen[bytes] | None = None
    crashes: deque[float] = field(default_factory=deque)
    restart_at: float | None = None
    restarts: int = 0


def describe_exit(code: int) -> str:
    """'code 3' or 'signal SIGKILL'."""
    if code < 0:
        import signal

        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


def become_subreaper() -> None:
    """Orphans of our children (a killed postmaster's backends) are re-parented to us, not to init."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except OSError:
        pass


def reap_orphans(known: set[int]) -> int:
    """Reap exited children that are not ours to ``poll`` (re-parented orphans); returns how many."""
    reaped = 0
    try:
        tasks = os.listdir(f"/proc/{os.getpid()}/task")
    except OSError:
        return 0
    pids: set[int] = set()
    for task in tasks:
        try:
            with open(f"/proc/{os.getpid()}/task/{task}/children") as f:
                pids.update(int(p) for p in f.read().split())
        except OSError:
            continue
    for pid in pids - known:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] != b"Z":
                    continue  # still running: it is reaped once it exits
        except (OSError, IndexError):
            continue
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        reaped += bool(done)
    return reaped


class Supervisor:
    """Restart crashed children with exponential backoff; see the module's docstring."""

    def __init__(
        self,
        say: Callable[[str], None],
        *,
        max_crashes: int = 5,
        window_s: float = 60.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.say = say
        self.max_crashes = max_crashes
        self.window_s = window_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.clock = clock
        self.children: dict[str, Child] = {}

    def add(self, child: Child, *, started: bool = False) -> Child:
        """Supervise ``child``; starts it unless ``started`` (its ``proc`` already runs)."""
        self.children[child.name] = child
        if not started:
            child.proc = child.start()
            if child.after_start:
                child.after_start()
        return child

    def halt(self, names: list[str], why: str, *, kill: bool = False, grace_s: float = 5.0) -> None:
        """Stop these children (SIGKILL at once, or SIGTERM and SIGKILL after ``grace_s``) for a
        planned restart with :meth:`start_again` — not a crash."""
        chosen = [self.children[n] for n in names if n in self.children]
        self.say(f"restarting {', '.join(c.name for c in chosen)}: {why}")
        for child in chosen:
            if child.proc is not None and child.proc.poll() is None:
                child.proc.kill() if kill else child.proc.terminate()
        for child in chosen:
            if child.proc is not None:
                try:
                    child.proc.wait(grace_s)
                except subprocess.TimeoutExpired:
                    child.proc.kill()
                    child.proc.wait()

    def start_again(self, names: list[str]) -> None:
        """Start halted children at once."""
        for child in (self.children[n] for n in names if n in self.children):
            child.restart_at = None
            child.proc = child.start()
            if child.after_start:
                child.after_start()
            child.restarts += 1

    def restart(self, names: list[str], why: str, *, kill: bool = False) -> None:
        """A planned restart of these children: :meth:`halt`, then :meth:`start_again`."""
        self.halt(names, why, kill=kill)
        self.start_again(names)

    def backoff(self, crashes_in_window: int) -> float:
        return float(min(self.backoff_max_s, self.backoff_initial_s * 2.0 ** max(0, crashes_in_window - 1)))

    def _crashed(self, child: Child, why: str, now: float) -> None:
        child.crashes.append(now)
        while child.crashes and child.crashes[0] < now - self.window_s:
            child.crashes.popleft()
        if len(child.crashes) > self.max_crashes:
            raise TooManyCrashes(
                f"{child.name} {why}: {len(child.crashes)} crashes within {self.window_s:.0f} s "
                f"(more than TTHC_SUPERVISOR_MAX_CRASHES={self.max_crashes}); stopping everything"
            )
        delay = self.backoff(len(child.crashes))
        child.restart_at = now + delay
        self.say(
            f"{child.name} {why}; restarting in {delay:.1f} s (crash {len(child.crashes)} of at most {self.max_crashes} in {self.window_s:.0f} s)"
        )

    def tick(self) -> None:
        """Look at every child once: notice crashes, restart those whose backoff has passed."""
        now = self.clock()
        for child in self.children.values():
            if child.restart_at is None:
                if child.proc is not None and child.proc.poll() is not None:
                    self._crashed(child, f"exited with {describe_exit(child.proc.returncode)}", now)
                continue
            if now < child.restart_at:
                continue
            child.restart_at = None
            if child.proc is not None and child.proc.poll() is None:
                child.proc.kill()  # a half-started earlier attempt
                child.proc.wait()
            try:
                child.proc = child.start()
                if child.after_start:
                    child.after_start()
            except Exception as exc:  # a restart that fails is one more crash
                self._crashed(child, f"did not restart ({exc})", self.clock())
                continue
            child.restarts += 1
            self.say(f"{child.name} restarted (pid {child.proc.pid}, restart {child.restarts})")
        reap_orphans({c.proc.pid for c in self.children.values() if c.proc is not None})
