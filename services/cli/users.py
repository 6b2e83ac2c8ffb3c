"""``tthc user …``: dashboard users (name + password) in the registry's database.

The password is never an argument (a command line is visible to every user of the machine
and lands in shell history): it is asked twice at a terminal, or read as the first line of
standard input when that is not a terminal (``printf '%s\\n' "$PW" | tthc user add …``).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from services.registry import handlers
from services.registry.adapters.repository import Actor
from services.registry.settings import RegistrySettings
from shared.contracts.registry import Role
from shared.db import Conn, create_pool

T = TypeVar("T")
_ACTOR = Actor("tthc user (cli)", Role.ADMIN.value, None, "cli")


def read_password(prompt: str = "Password") -> str:
    """Twice at a terminal; else the first line of stdin (without its line break)."""
    if sys.stdin.isatty():
        return str(click.prompt(prompt, hide_input=True, confirmation_prompt=True))
    line = sys.stdin.readline()
    if not line:
        raise click.UsageError("no password on standard input: pipe it in, e.g. printf '%s\\n' \"$PW\" | tthc …")
    return line.rstrip("\r\n")


def _run(dsn: str, work: Callable[[Conn], Awaitable[T]]) -> T:
    async def go() -> T:
        pool = await create_pool(dsn, min_size=1, max_size=1)
        try:
            async with pool.acquire() as conn:
                return await work(conn)
        finally:
            await pool.close()

    try:
        return asyncio.run(go())
    except handlers.Invalid as exc:
        raise click.ClickException("; ".join(f"{e['field']}: {e['reason']}" for e in exc.errors)) from None
    except handlers.NotFound as exc:
        raise click.ClickException(f"{exc}: `tthc user add NAME …` creates one") from None


def add(dsn: str, name: str, role: str, agency_code: str | None, password: str) -> None:
    policy = handlers.login_policy(RegistrySettings())

    async def work(conn: Conn) -> None:
        await handlers.add_user(
            conn, _ACTOR, policy, name=name, password=password, role=Role(role), agency_code=agency_code
        )

    _run(dsn, work)


def change_password(dsn: str, name: str, password: str) -> int:
    policy = handlers.login_policy(RegistrySettings())

    async def work(conn: Conn) -> int:
        return await handlers.set_password(conn, _ACTOR, policy, name, password)

    return _run(dsn, work)


def disable(dsn: str, name: str, disabled: bool) -> None:
    async def work(conn: Conn) -> None:
        await handlers.set_disabled(conn, _ACTOR, name, disabled)

    _run(dsn, work)
