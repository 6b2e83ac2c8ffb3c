"""``shared.preflight``: every wrong setting named at once, with its problem and its fix."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from services.cli.errors import settings_classes
from shared import preflight
from shared.devstack import free_port
from shared.settings import CommonSettings

ADJUSTED = (
    "TTHC_ADMIN_TOKEN",
    "TTHC_OFFICE_HOURS",
    "TTHC_TIMEZONE",
    "DATABASE_URL",
    "TTHC_DATABASE_URL",
    "KAFKA_BOOTSTRAP_SERVERS",
    "TTHC_KAFKA_BOOTSTRAP_SERVERS",
    "TTHC_REGISTRY_PORT",
    "TTHC_PROCESSING_PORT",
    "TTHC_REPORTING_PORT",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Free ports for the three services, nothing else set (whatever the caller's shell had)."""
    for name in ADJUSTED:
        monkeypatch.delenv(name, raising=False)
    for service in ("REGISTRY", "PROCESSING", "REPORTING"):
        monkeypatch.setenv(f"TTHC_{service}_PORT", str(free_port()))


@pytest.fixture
def listening() -> Iterator[int]:
    """A port something listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def by_variable(problems: list[preflight.Problem]) -> dict[str, preflight.Problem]:
    names = [p.variable for p in problems]
    assert len(names) == len(set(names)), f"a variable reported twice: {names}"
    return {p.variable: p for p in problems}


def test_good_settings_have_no_problem() -> None:
    assert preflight.check(settings_classes()) == []


def test_every_problem_is_reported_at_once(monkeypatch: pytest.MonkeyPatch, listening: int) -> None:
    nothing_there = free_port()
    monkeypatch.setenv("TTHC_ADMIN_TOKEN", "short")
    monkeypatch.setenv("TTHC_OFFICE_HOURS", "7h30-11h30")
    monkeypatch.setenv("TTHC_TIMEZONE", "Asia/Hanoi_City")
    monkeypatch.setenv("TTHC_PROCESSING_PORT", str(listening))
    monkeypatch.setenv("DATABASE_URL", f"postgresql://tthc:secret@127.0.0.1:{nothing_there}/tthc")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{nothing_there}")
    found = by_variable(preflight.check(settings_classes()))
    assert set(found) == {
        "TTHC_ADMIN_TOKEN",
        "TTHC_OFFICE_HOURS",
        "TTHC_TIMEZONE",
        "TTHC_PROCESSING_PORT",
        "DATABASE_URL",
        "KAFKA_BOOTSTRAP_SERVERS",
    }
    assert "5 characters" in found["TTHC_ADMIN_TOKEN"].problem and "24" in found["TTHC_ADMIN_TOKEN"].problem
    assert "HH:MM-HH:MM" in found["TTHC_OFFICE_HOURS"].render()
    assert "Asia/Ho_Chi_Minh" in found["TTHC_TIMEZONE"].render()
    assert str(listening) in found["TTHC_PROCESSING_PORT"].problem
    assert "secret" not in found["DATABASE_URL"].render(), "the password must not be printed"
    assert "unset DATABASE_URL" in found["DATABASE_URL"].fix
    message = preflight.report(list(found.values()))
    assert message.startswith("6 setting(s) must be fixed")
    assert all(f"  - {name}: " in message for name in found)


def test_an_invalid_value_is_named_by_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTHC_REGISTRY_PORT", "abc")
    monkeypatch.setenv("TTHC_ADMIN_TOKEN", "x" * 10)
    found = by_variable(preflight.check(settings_classes()))
    assert set(found) == {"TTHC_REGISTRY_PORT", "TTHC_ADMIN_TOKEN"}
    assert "'abc'" in found["TTHC_REGISTRY_PORT"].problem
    assert "8001" in found["TTHC_REGISTRY_PORT"].fix  # the default, read from the settings


def test_two_services_on_one_port_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv("TTHC_REGISTRY_PORT", str(port))
    monkeypatch.setenv("TTHC_REPORTING_PORT", str(port))
    found = by_variable(preflight.check(settings_classes()))
    assert list(found) == ["TTHC_REPORTING_PORT"]
    assert "TTHC_REGISTRY_PORT" in found["TTHC_REPORTING_PORT"].problem


def test_the_variable_a_user_set_is_the_one_named(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (
        preflight.env_name(CommonSettings, "database_url", {"TTHC_DATABASE_URL": "x"}) == "TTHC_DATABASE_URL"
    )
    assert preflight.env_name(CommonSettings, "database_url", {}) == "DATABASE_URL"
    assert preflight.env_name(CommonSettings, "in_person_cutoff", {}) == "TTHC_IN_PERSON_CUTOFF"
