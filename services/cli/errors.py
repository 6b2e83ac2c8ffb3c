"""No traceback for a user's mistake: the errors a user can meet, as one line saying what to do.

:class:`TthcGroup` runs every ``tthc`` command and turns the failures that come from the
environment — a wrong setting, a database, broker or service that is not running, a refused
request, a missing file — into a :class:`click.ClickException` (exit 1; 2 for settings). Anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

from typing import Any

import click
from pydantic import ValidationError

SETTINGS_EXIT_CODE = 2


class SettingsError(click.ClickException):
    """Invalid settings: every problem on its own line; exit code 2."""

    exit_code = SETTINGS_EXIT_CODE


def settings_classes() -> list[type[Any]]:
    from services.processing.settings import ProcessingSettings
    from services.registry.settings import RegistrySettings
    from services.reporting.settings import ReportingSettings
    from shared.settings import CommonSettings, Topics

    return [CommonSettings, RegistrySettings, ProcessingSettings, ReportingSettings, Topics]


def settings_error(exc: ValidationError, full_check: bool) -> SettingsError | None:
    """``exc`` as a settings error (None when ``exc`` is not about settings)."""
    from shared import preflight

    classes = settings_classes()
    if exc.title not in {c.__name__ for c in classes}:
        return None
    if full_check:
        problems = preflight.check(classes) or preflight.problems_of(exc, classes)
        return SettingsError(preflight.report(problems))
    return SettingsError(preflight.report(preflight.problems_of(exc, classes), "this command can run"))


def up_preflight() -> int | None:
    """For ``tthc up``: print every settings problem and return exit code 2, or None when all is well."""
    from shared import preflight

    problems = preflight.check(settings_classes())
    if not problems:
        return None
    click.echo(f"[tthc up] {preflight.report(problems)}", err=True)
    return SETTINGS_EXIT_CODE


def _text(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__


def translate(exc: Exception, command: str | None) -> click.ClickException | None:
    """The one-line error for ``exc`` met while running ``command``, or None for a bug."""
    import asyncpg
    import httpx
    from aiokafka.errors import KafkaConnectionError, KafkaError

    from services.registry.handlers import Conflict, Invalid, NotFound

    hint = "is `tthc up` running? (`tthc status` shows what runs)"
    if isinstance(exc, ValidationError):
        return settings_error(exc, full_check=command == "up")
    if isinstance(exc, Invalid | NotFound | Conflict):
        return click.ClickException(_text(exc))
    if isinstance(exc, asyncpg.InvalidCatalogNameError | asyncpg.InvalidPasswordError):
        return click.ClickException(f"the database refused the connection: {_text(exc)}; check DATABASE_URL")
    if isinstance(exc, asyncpg.UndefinedTableError):
        return click.ClickException(f"{_text(exc)}: the database is not migrated; run `tthc migrate`")
    if isinstance(exc, KafkaConnectionError | KafkaError):
        return click.ClickException(f"cannot reach the broker ({_text(exc)}): {hint}")
    if isinstance(exc, httpx.ConnectError | httpx.TimeoutException):
        where = exc.request.url if _has_request(exc) else "the service"
        return click.ClickException(f"cannot reach {where} ({_text(exc)}): {hint}")
    if isinstance(exc, httpx.HTTPStatusError):
        return click.ClickException(
            f"{exc.request.method} {exc.request.url} answered {exc.response.status_code}: "
            f"{exc.response.text[:300]}"
        )
    if isinstance(exc, LookupError) and not isinstance(exc, KeyError):
        return click.ClickException(_text(exc))  # e.g. a dead-letter topic that does not exist
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
        return click.ClickException(_text(exc))
    if isinstance(exc, ConnectionError | TimeoutError | OSError):
        return click.ClickException(f"cannot connect ({_text(exc)}): {hint}")
    return None


def _has_request(exc: Any) -> bool:
    try:
        exc.request  # noqa: B018 — httpx raises RuntimeError when the error carries no request
    except RuntimeError:
        return False
    return True


class TthcGroup(click.Group):
    """A click group whose commands never show a traceback for an error a user can fix."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            raise click.Abort() from None
        except Exception as exc:
            translated = translate(exc, ctx.invoked_subcommand)
            if translated is None:
                raise
            raise translated from None
