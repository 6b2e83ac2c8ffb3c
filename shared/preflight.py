"""Every setting that can be wrong, checked before anything starts (``tthc up``, issue #13).

:func:`check` returns all the problems at once — each names the variable, what is wrong with its
value and how to fix it — so an operator fixes them in one go instead of meeting them one by one,
after PostgreSQL and the broker have already started.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import AliasChoices, ValidationError
from pydantic_settings import BaseSettings

from shared.auth import MIN_TOKEN_LENGTH
from shared.settings import CommonSettings, ServiceName

#: How long an unreachable DATABASE_URL or broker may take to say so.
CONNECT_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Problem:
    """One wrong setting: the variable, what is wrong with its value, and the fix."""

    variable: str
    problem: str
    fix: str

    def render(self) -> str:
        return f"{self.variable}: {self.problem} — {self.fix}"


def report(problems: Sequence[Problem], before: str = "the system can start") -> str:
    """One message listing every problem (what ``tthc up`` prints before it exits with 2)."""
    head = f"{len(problems)} setting(s) must be fixed before {before}:"
    return "\n".join([head, *(f"  - {p.render()}" for p in problems)])


# --- pydantic validation errors ------------------------------------------------------------------


def env_name(cls: type[BaseSettings], field: str, environ: Mapping[str, str] | None = None) -> str:
    """The environment variable that sets ``field`` of ``cls`` (the one the user set, when several do)."""
    environ = os.environ if environ is None else environ
    info = cls.model_fields.get(field)
    if info is not None and isinstance(info.validation_alias, AliasChoices):
        names = [c for c in info.validation_alias.choices if isinstance(c, str)]
        return next((n for n in reversed(names) if n in environ), names[-1])
    prefix = str(cls.model_config.get("env_prefix") or "")
    return f"{prefix}{field}".upper()


def validation_problems(
    cls: type[BaseSettings], exc: ValidationError, environ: Mapping[str, str] | None = None
) -> list[Problem]:
    """The errors of ``exc`` (raised by ``cls()``), each named by its environment variable."""
    problems = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        variable = env_name(cls, field, environ) if field else cls.__name__
        info = cls.model_fields.get(field)
        default = info.get_default(call_default_factory=False) if info is not None else None
        fix = "set a valid value" + (
            f" or unset it for the default {default}" if default not in (None, "") else ""
        )
        value = error.get("input")
        message = error["msg"].removeprefix("Value error, ")
        shown = f"{value!r}: " if isinstance(value, str | int | float) and repr(value) not in message else ""
        problems.append(Problem(variable, f"{shown}{message}", fix))
    return problems


def _settings_of(classes: Iterable[type[BaseSettings]], problems: list[Problem]) -> CommonSettings | None:
    """Build each class from the environment, noting validation problems once per variable."""
    common: CommonSettings | None = None
    seen: set[str] = set()
    for cls in classes:
        try:
            built = cls()
        except ValidationError as exc:
            for p in validation_problems(cls, exc):
                if p.variable not in seen:
                    seen.add(p.variable)
                    problems.append(p)
            # the other checks go on with the defaults in place of the invalid values
            bad = {
                str(e["loc"][0]) for e in exc.errors() if e["loc"] and str(e["loc"][0]) in cls.model_fields
            }
            try:
                built = cls(**{f: cls.model_fields[f].get_default(call_default_factory=True) for f in bad})
            except ValidationError:
                continue
        if common is None and isinstance(built, CommonSettings):
            common = built
    return common


# --- the checks of values pydantic cannot judge alone -----------------------------------------------


def _admin_token(environ: Mapping[str, str]) -> list[Problem]:
    token = environ.get("TTHC_ADMIN_TOKEN", "")
    if token and len(token) < MIN_TOKEN_LENGTH:
        return [
            Problem(
                "TTHC_ADMIN_TOKEN",
                f"{len(token)} characters; a token needs at least {MIN_TOKEN_LENGTH}",
                "set a longer one (e.g. `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`) "
                "or unset it and `tthc up` prints a generated one",
            )
        ]
    return []


def port_taken(host: str, port: int) -> bool:
    """True when something on this machine already listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _ports(settings: CommonSettings, services: Sequence[ServiceName]) -> list[Problem]:
    problems = []
    seen: dict[int, str] = {}
    for service in services:
        port = settings.port_of(service)
        variable = f"TTHC_{service.upper()}_PORT"
        if port in seen:
            problems.append(
                Problem(variable, f"{port} is also {seen[port]}", "give each service its own port")
            )
        elif port_taken(settings.http_host, port):
            problems.append(
                Problem(
                    variable,
                    f"port {port} on {settings.http_host} is already in use (another `tthc up`?)",
                    f"stop what listens there or choose a free port, e.g. {variable}={port + 100}",
                )
            )
        seen[port] = variable
    return problems


async def _database(dsn: str) -> str | None:
    import asyncpg

    try:
        conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    await conn.close()
    return None


def _database_problem(dsn: str) -> list[Problem]:
    reason = asyncio.run(_database(dsn))
    if reason is None:
        return []
    return [
        Problem(
            "DATABASE_URL",
            f"cannot connect to {_without_password(dsn)} ({reason})",
            "start that PostgreSQL or correct the DSN, or unset DATABASE_URL and `tthc up` "
            "starts an embedded one",
        )
    ]


def _without_password(dsn: str) -> str:
    head, sep, tail = dsn.rpartition("@")
    if not sep:
        return dsn
    scheme, _, userinfo = head.partition("://")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}@{tail}"


def _broker_problem(servers: str) -> list[Problem]:
    addresses = [a.strip() for a in servers.split(",") if a.strip()]
    reasons = []
    for address in addresses:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            reasons.append(f"{address!r} is not host:port")
            continue
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S):
                return []
        except OSError as exc:
            reasons.append(f"{address}: {exc.strerror or exc}")
    return [
        Problem(
            "KAFKA_BOOTSTRAP_SERVERS",
            "no broker reachable (" + "; ".join(reasons or ["empty list"]) + ")",
            "start the broker or correct the host:port list, or unset KAFKA_BOOTSTRAP_SERVERS and "
            "`tthc up` starts a local one",
        )
    ]


def check(
    classes: Sequence[type[BaseSettings]] = (CommonSettings,),
    *,
    services: Sequence[ServiceName] = ("registry", "processing", "reporting"),
    connect: bool = True,
) -> list[Problem]:
    """Every problem with the settings of ``classes`` as the environment gives them.

    ``services``: whose HTTP ports must be free. ``connect``: also try ``DATABASE_URL`` and
    ``KAFKA_BOOTSTRAP_SERVERS`` when they are set (an empty one means ``tthc up`` starts its own).
    """
    environ = os.environ
    problems: list[Problem] = []
    settings = _settings_of(classes, problems)
    problems += _admin_token(environ)
    if settings is None:
        return problems
    problems += _ports(settings, services)
    if connect and settings.database_url:
        problems += _database_problem(settings.database_url)
    if connect and settings.kafka_bootstrap_servers:
        problems += _broker_problem(settings.kafka_bootstrap_servers)
    first: dict[str, Problem] = {}  # a variable whose value was invalid is not judged again on its default
    for p in problems:
        first.setdefault(p.variable, p)
    return list(first.values())


def problems_of(exc: ValidationError, classes: Sequence[type[Any]]) -> list[Problem]:
    """A settings ``ValidationError`` met outside :func:`check`, named by environment variable."""
    cls = next((c for c in classes if c.__name__ == exc.title), CommonSettings)
    return validation_problems(cls, exc)
