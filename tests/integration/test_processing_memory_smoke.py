"""The processing-memory benchmark runs end to end at a tiny scale (its RSS figures are not checked
here, only that every dossier it fed stayed open, each checkpoint was measured and tracemalloc ran)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def test_the_memory_benchmark_keeps_every_dossier_open_and_measures_each_checkpoint() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.processing_memory",
            "--dossiers",
            "1200",
            "--batch",
            "1000",
            "--trace-last",
            "200",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    marks = re.findall(r"^\s*([\d,]+) open dossiers: RSS (\d+) MiB", done.stdout, re.M)
    assert [m[0] for m in marks] == ["1,200"], done.stdout[-2000:]  # no checkpoint of 10,000+ below 1,200
    assert int(marks[0][1]) > 0
    assert "open dossiers in processing.dossiers: 1,200, with a timer: 1,200" in done.stdout
    assert re.search(r"traced since 1,000 open dossiers, still held: [\d.]+ MiB", done.stdout)
