"""The body of ``tthc simulate`` (the click command itself is in services/cli/__init__.py)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import click

from services.simulator.adapters.registry_setup import RegistrySetupError
from services.simulator.adapters.sinks import IngestError
from services.simulator.simulate import Options, simulate
from shared.ingest_client import IngestRefused, IngestUnavailable
from shared.settings import CommonSettings


def run_simulate_command(
    options: Options, registry_url: str | None, token: str | None, *, no_registry: bool, reference: str | None
) -> str:
    """Run a simulation and return the summary to print; user errors become ClickExceptions."""
    settings = CommonSettings()
    if reference:
        try:
            moment = datetime.fromisoformat(reference)
        except ValueError:
            raise click.BadParameter(
                f"{reference!r}: use ISO 8601, e.g. 2025-03-10", param_hint="--reference"
            ) from None
        tz = settings.calendar().tz
        options.reference = moment.replace(tzinfo=tz) if moment.tzinfo is None else moment
    url = None if no_registry else registry_url or f"http://127.0.0.1:{settings.registry_port}"
    try:
        return asyncio.run(simulate(settings, options, url, token)).render()
    except (RegistrySetupError, IngestError, IngestRefused, IngestUnavailable, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
