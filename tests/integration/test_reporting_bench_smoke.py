"""The Biểu 06 benchmark script runs end to end at a tiny scale (its timings are not checked here)."""

from __future__ import annotations

import pytest

from bench.reporting_form06 import main, parse_args
from tests.conftest import Infra, create_database

pytestmark = pytest.mark.integration


async def test_benchmark_script_runs_at_tiny_scale(infra: Infra, capsys: pytest.CaptureFixture[str]) -> None:
    dsn = await create_database(infra, migrated=False)
    args = parse_args(
        [
            "--dossiers",
            "3000",
            "--agencies",
            "4",
            "--fields",
            "2",
            "--years",
            "2",
            "--repeat",
            "2",
            "--dsn",
            dsn,
            "--no-write",
        ]
    )
    assert await main(args) == 0
    out = capsys.readouterr().out
    assert "/api/v1/reports/form06?period=2024: p50" in out
    assert "target (whole province, whole year, p95 < 100 ms)" in out
