"""Production requires tokens everywhere: the settings' default and the compose file agree."""

from __future__ import annotations

from pathlib import Path

import yaml

from services.reporting.settings import ReportingSettings

ROOT = Path(__file__).resolve().parents[2]


def test_reporting_requires_a_token_unless_told_otherwise() -> None:
    assert ReportingSettings(database_url="postgresql://x/y").reporting_require_token is True


def test_the_production_compose_file_requires_tokens_for_reporting() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    env = compose["services"]["reporting"]["environment"]
    assert str(env["TTHC_REPORTING_REQUIRE_TOKEN"]).lower() == "true"
