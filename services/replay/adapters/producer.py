"""Publishes replayed events on the dossier-events topic (key = dossier code)."""

from __future__ import annotations

from shared.kafka import WindowedProducer


class EventProducer(WindowedProducer):
    """``async with EventProducer(servers, topic) as p: await p.send(key, value)``."""

    def __init__(self, bootstrap_servers: str, topic: str, window: int = 5_000) -> None:
        super().__init__(bootstrap_servers, topic, client_id="tthc-replay", window=window)
