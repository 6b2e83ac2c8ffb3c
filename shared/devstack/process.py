"""Child processes that die with their parent."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
from collections.abc import Callable
from typing import Any

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Runs in the child after setuid (CPython applies user= before preexec_fn), so the
    # parent-death signal survives; a SIGKILLed supervisor then leaves no orphan behind.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start ``args`` in its own process group, terminated if this process dies."""
    preexec: Callable[[], None] | None = _die_with_parent if os.name == "posix" else None
    return subprocess.Popen(args, preexec_fn=preexec, start_new_session=True, **kwargs)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
    """Signal ``proc``, wait up to ``timeout`` s, then kill it. Returns its exit code."""
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()
