"""No traceback for a user's mistake: every ``tthc`` command with wrong input or no system.

Each case runs the real command (click's runner, in process) and asserts a non-zero exit, a
one-line ``Error:`` naming what was wrong, and no exception escaping the command — which, run from
a shell, is exactly "no Traceback". Half the cases have no running system at all; the other half
talk to the real PostgreSQL and broker of the test session.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from services.cli import main
from shared.devstack import free_port
from tests.conftest import Infra, create_database
from tests.unit.test_replay_mapping import MAPPING, XES

pytestmark = pytest.mark.integration

#: Everything the CLI could pick up from the caller's shell or a running `tthc up`.
SYSTEM_VARIABLES = (
    "DATABASE_URL",
    "TTHC_DATABASE_URL",
    "KAFKA_BOOTSTRAP_SERVERS",
    "TTHC_KAFKA_BOOTSTRAP_SERVERS",
    "TTHC_ADMIN_TOKEN",
    "TTHC_REGISTRY_TOKEN",
    "TTHC_INGEST_KEY",
    "TTHC_REGISTRY_PORT",
    "TTHC_PROCESSING_PORT",
    "TTHC_REPORTING_PORT",
)


@pytest.fixture(autouse=True)
def no_system(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No variable exported and no `tthc up` to find (an empty data folder)."""
    for name in SYSTEM_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TTHC_DATA_DIR", str(tmp_path / "no-system"))
    for service in ("REGISTRY", "PROCESSING", "REPORTING"):
        monkeypatch.setenv(f"TTHC_{service}_PORT", str(free_port()))  # nothing listens there


@pytest.fixture
def files(tmp_path: Path) -> Iterator[dict[str, str]]:
    log, mapping, bad_mapping, text = (tmp_path / n for n in ("log.xes", "m.toml", "bad.toml", "log.txt"))
    log.write_text(XES, encoding="utf-8")
    mapping.write_text(MAPPING, encoding="utf-8")
    bad_mapping.write_text(MAPPING.replace("[log]", "[log]\ncase_idd = 'x'", 1), encoding="utf-8")
    text.write_text(XES, encoding="utf-8")
    yield {"log": str(log), "mapping": str(mapping), "bad_mapping": str(bad_mapping), "text": str(text)}


def run(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, args, env=env)


def assert_refused(result: Result, code: int, *words: str) -> None:
    shown = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"an exception escaped (a traceback for the user): {result.exception!r}\n{shown}"
    )
    assert "Traceback" not in shown
    assert result.exit_code == code, f"exit {result.exit_code}, want {code}:\n{shown}"
    assert "Error" in shown, shown
    for word in words:
        assert word in shown, f"{word!r} not in:\n{shown}"


NO_SYSTEM_CASES = [
    (["seed", "cantho-2021"], "DATABASE_URL"),
    (["migrate"], "DATABASE_URL"),
    (["topics"], "KAFKA_BOOTSTRAP_SERVERS"),
    (["dlq", "list"], "KAFKA_BOOTSTRAP_SERVERS"),
    (["dlq", "redrive", "--all"], "KAFKA_BOOTSTRAP_SERVERS"),
    (["keys", "list"], "DATABASE_URL"),
    (["keys", "create", "k", "--agency", "*"], "DATABASE_URL"),
    (["keys", "revoke", "k"], "DATABASE_URL"),
    (["token", "--subject", "a@b", "--role", "admin"], "DATABASE_URL"),
    (["status"], "tthc up"),
    (["simulate", "--dossiers", "5", "--no-progress", "--no-registry"], "KAFKA_BOOTSTRAP_SERVERS"),
    (["simulate", "--dossiers", "5", "--no-progress"], "KAFKA_BOOTSTRAP_SERVERS"),
]


@pytest.mark.parametrize(
    ("args", "word"), NO_SYSTEM_CASES, ids=lambda a: " ".join(a) if isinstance(a, list) else ""
)
def test_without_a_running_system_each_command_says_how_to_get_one(args: list[str], word: str) -> None:
    assert_refused(run(args), 1, word)


def test_replay_without_a_running_system(files: dict[str, str]) -> None:
    assert_refused(run(["replay", files["log"], "--mapping", files["mapping"]]), 1, "KAFKA_BOOTSTRAP_SERVERS")


def test_an_invalid_setting_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTHC_REGISTRY_PORT", "abc")
    result = run(["status"])
    assert_refused(result, 2, "TTHC_REGISTRY_PORT: 'abc'")
    assert "ValidationError" not in result.output and "pydantic" not in result.output


def test_up_with_a_short_token_stops_before_anything_starts(tmp_path: Path) -> None:
    """Run as an operator does: a real process, whose children would outlive a refused start."""
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k not in SYSTEM_VARIABLES}
    env["TTHC_ADMIN_TOKEN"] = "short"
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "services.cli", "up", "--data-dir", str(data)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert "TTHC_ADMIN_TOKEN: 5 characters; a token needs at least 24" in output
    assert "Traceback" not in output
    assert not data.exists(), "nothing may start: no data folder, no PostgreSQL, no broker"
    assert "PostgreSQL" not in output and "broker" not in output.replace("KAFKA", "")
    assert time.monotonic() - started < 30


@pytest.fixture
def system_env(infra: Infra) -> Iterator[dict[str, str]]:
    import asyncio

    yield {
        "DATABASE_URL": asyncio.run(create_database(infra)),
        "KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap_servers,
    }


def test_with_a_system_wrong_input_is_refused_in_one_line(
    system_env: dict[str, str], files: dict[str, str], infra: Infra
) -> None:
    token = ["token", "--subject", "a@b"]
    down = f"http://127.0.0.1:{free_port()}"
    cases: list[tuple[list[str], int, str]] = [
        ([*token, "--role", "officer"], 2, "--agency"),
        ([*token, "--role", "officer", "--agency", "NOPE.123"], 1, "no agency NOPE.123"),
        ([*token, "--role", "admin", "--agency", "000.00.13.H13"], 2, "only officer tokens"),
        ([*token, "--role", "god"], 2, "god"),
        (["keys", "create", "k", "--agency", "ZZZ"], 1, "no agency ZZZ"),
        (["keys", "create", "k"], 2, "--agency"),
        (["keys", "revoke", "nobody"], 1, "no active key named 'nobody'"),
        (["seed", "nope"], 2, "cantho-2021"),
        (["dlq", "list", "--topic", "no-such-topic.dlq"], 1, "no-such-topic.dlq"),
        (["dlq", "redrive", "--offsets", "abc"], 2, "PARTITION:OFFSET"),
        (["dlq", "redrive"], 2, "--all"),
        (["replay", files["log"] + ".missing", "--mapping", files["mapping"]], 2, "does not exist"),
        (["replay", files["log"], "--mapping", files["bad_mapping"], "--no-registry"], 1, "case_idd"),
        (["replay", files["text"], "--mapping", files["mapping"], "--no-registry"], 1, "log.txt"),
        (["replay", files["log"], "--mapping", files["mapping"], "--speed", "fast"], 2, "--speed"),
        (["replay", files["log"], "--mapping", files["mapping"], "--registry-url", down], 1, down),
        (["simulate", "--dossiers", "5", "--registry-url", down, "--no-progress"], 1, down),
        (["simulate", "--dossiers", "5", "--via", "http", "--no-registry"], 1, "emitter key"),
        (["simulate", "--reference", "yesterday"], 2, "ISO 8601"),
        (["simulate", "--dossiers", "0"], 2, "--dossiers"),
    ]
    for args, code, word in cases:
        assert_refused(run(args, env=system_env), code, word)


def test_a_database_that_does_not_exist_or_is_not_migrated(infra: Infra) -> None:
    import asyncio

    missing = infra.dsn("no_such_database")
    assert_refused(run(["keys", "list"], env={"DATABASE_URL": missing}), 1, "no_such_database")
    empty = asyncio.run(create_database(infra, migrated=False))
    assert_refused(run(["keys", "list"], env={"DATABASE_URL": empty}), 1, "tthc migrate")
