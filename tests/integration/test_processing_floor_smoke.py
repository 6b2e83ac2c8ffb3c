"""The processing-floor benchmark runs end to end at a tiny scale (its figures are not checked here,
only that every stage ran over the whole stream and was measured)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def test_the_floor_benchmark_measures_every_stage() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.processing_floor", "--dossiers", "300"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for stage in ("consume", "validate", "assess", "store"):
        found = re.search(rf"^{stage}\s+([\d.]+) µs CPU/event", done.stdout, re.M)
        assert found, f"no figure for {stage}:\n{done.stdout[-2000:]}"
        assert float(found.group(1)) > 0
    assert re.search(r"ceiling [\d,]+ events/s on \d+ cores", done.stdout)
