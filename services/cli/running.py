"""How a ``tthc`` command finds the running system: its environment first, then ``run.json``.

``tthc up`` records where its parts are (:mod:`shared.runstate`); :func:`adopt` copies what the
environment does not already say into it, so every command and every settings class reads the
same addresses without the user copying a DSN out of the ``up`` output. The environment wins.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from urllib.parse import urlsplit

import click

from shared import runstate

NO_SYSTEM = "no running system found: start one with `make run` (or `tthc up`) in this folder"


def adopt(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Fill the unset variables from the running ``tthc up``; returns the names filled."""
    env = os.environ if environ is None else environ
    state = runstate.load()
    if state is None:
        return []
    wanted = {
        "DATABASE_URL": state.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": state.kafka_bootstrap_servers,
        "TTHC_ADMIN_TOKEN": state.admin_token,
    }
    for service, url in state.services.items():
        port = urlsplit(url).port
        if port:
            wanted[f"TTHC_{service.upper()}_PORT"] = str(port)
    aliases = {
        "DATABASE_URL": "TTHC_DATABASE_URL",
        "KAFKA_BOOTSTRAP_SERVERS": "TTHC_KAFKA_BOOTSTRAP_SERVERS",
    }
    filled = []
    for name, value in wanted.items():
        if not value or env.get(name) or env.get(aliases.get(name, name)):
            continue
        env[name] = value
        filled.append(name)
    return filled


def forget(names: list[str], environ: MutableMapping[str, str] | None = None) -> None:
    """Undo :func:`adopt` (the command is over; an embedding process keeps its own environment)."""
    env = os.environ if environ is None else environ
    for name in names:
        env.pop(name, None)


def database_url(value: str) -> str:
    """``value`` (the settings' DSN), or a one-line error saying how to get a running system."""
    if not value:
        raise click.ClickException(f"DATABASE_URL is not set and {NO_SYSTEM}, or set DATABASE_URL")
    return value


def bootstrap_servers(value: str) -> str:
    """``value`` (the settings' broker list), or a one-line error saying how to get one."""
    if not value:
        raise click.ClickException(
            f"KAFKA_BOOTSTRAP_SERVERS is not set and {NO_SYSTEM}, or set KAFKA_BOOTSTRAP_SERVERS"
        )
    return value
