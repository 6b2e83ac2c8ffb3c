"""The body of ``tthc replay`` (the click command itself is in services/cli/__init__.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from services.replay.adapters.registry_client import RegistryClient, RegistryError
from services.replay.adapters.xes import UnreadableLog
from services.replay.domain.mapping import MappingError
from services.replay.replay import load_mapping, replay
from shared.runtime import tune_gc
from shared.settings import CommonSettings


def parse_speed(text: str) -> float | None:
    """``full`` → None; ``N`` → N (> 0)."""
    if text.strip().lower() == "full":
        return None
    try:
        value = float(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: use 'full' or a number such as 3600", param_hint="--speed"
        ) from None
    if value <= 0:
        raise click.BadParameter("must be 'full' or a number above 0", param_hint="--speed")
    return value


def run_replay_command(
    file: Path,
    mapping_file: Path,
    speed_text: str,
    registry_url: str | None,
    token: str | None,
    *,
    no_registry: bool,
    fmt: str | None,
    progress: bool,
) -> str:
    """Run a replay and return the summary to print; user errors become ClickExceptions."""
    speed = parse_speed(speed_text)
    settings = CommonSettings()
    tune_gc(settings.gc_young_threshold)  # the reader allocates an object graph per case; workers inherit it
    if not settings.kafka_bootstrap_servers:
        raise click.ClickException(
            "KAFKA_BOOTSTRAP_SERVERS is empty: set it to the broker `tthc up` started (it prints the address)"
        )
    try:
        mapping = load_mapping(mapping_file)
    except MappingError as exc:
        raise click.ClickException(str(exc)) from exc

    async def run() -> str:
        registry = None
        if not no_registry:
            url = registry_url or f"http://127.0.0.1:{settings.registry_port}"
            registry = RegistryClient(url, token)
        try:
            summary = await replay(
                file, mapping, settings, speed=speed, registry=registry, progress=progress, fmt=fmt
            )
        finally:
            if registry is not None:
                await registry.aclose()
        return summary.render()

    try:
        return asyncio.run(run())
    except (RegistryError, UnreadableLog) as exc:
        raise click.ClickException(str(exc)) from exc
