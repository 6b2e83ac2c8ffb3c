"""Free loopback ports."""

from __future__ import annotations

import random
import socket
import time

# Below Linux's ephemeral range (32768–60999): a port picked there could be taken, before we
# listen on it, by the source port of some outgoing connection (a Kafka or PostgreSQL client).
_LOW, _HIGH = 20_000, 32_000


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now, outside the ephemeral range."""
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randint(_LOW, _HIGH)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between {_LOW} and {_HIGH} on {host}")


def wait_port(host: str, port: int, timeout: float) -> bool:
    """True once something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False
