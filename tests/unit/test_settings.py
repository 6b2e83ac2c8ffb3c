from __future__ import annotations

from datetime import time

import pytest

from shared.settings import CommonSettings


def test_plain_database_and_kafka_variables_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://a@db/x")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    s = CommonSettings()
    assert s.database_url == "postgresql://a@db/x"
    assert s.kafka_bootstrap_servers == "k1:9092,k2:9092"


def test_prefixed_variables_win_and_legal_numbers_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://plain@db/x")
    monkeypatch.setenv("TTHC_DATABASE_URL", "postgresql://prefixed@db/x")
    monkeypatch.setenv("TTHC_IN_PERSON_CUTOFF", "16:30")
    monkeypatch.setenv("TTHC_REPORTING_PORT", "9903")
    s = CommonSettings()
    assert s.database_url == "postgresql://prefixed@db/x"
    assert s.in_person_cutoff == time(16, 30)
    assert s.port_of("reporting") == 9903


def test_default_ports() -> None:
    s = CommonSettings()
    assert [s.port_of(n) for n in ("registry", "processing", "reporting")] == [8001, 8002, 8003]


def test_office_hours_setting_drives_the_calendar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTHC_OFFICE_HOURS", "07:00-11:00,13:00-17:00")
    assert CommonSettings().calendar().office_hours.hours_per_day == 8
    monkeypatch.setenv("TTHC_OFFICE_HOURS", "08:00-12:00")
    assert CommonSettings().calendar().office_hours.hours_per_day == 4
