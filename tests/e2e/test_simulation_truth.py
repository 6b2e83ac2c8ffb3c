"""The simulator's ground truth against the running system, end to end.

2,000 simulated dossiers with injected violations of every rule code go through the real broker
into ``tthc up``; then processing's dossier API (outcome and code set of every dossier), both
nonconformity registers (counts per code) and Biểu 06 (per agency, for every month the stream
covers) must equal what the truth file says: precision and recall 100 % per code.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.simulator.domain.scenario import VIOLATION_TEMPLATES
from services.simulator.domain.truth import code_counts, expected_form06
from services.simulator.simulate import Options, read_truth, simulate
from shared.contracts.compliance import DATA_QUALITY_CODES, NonconformityCode
from shared.settings import CommonSettings
from tests.e2e.system import RunningSystem

pytestmark = pytest.mark.e2e

ADMIN_TOKEN = "tthc_e2e-simulation-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}  # every read API takes a token (issue #12)
DOSSIERS = 2_000
# Rule codes the simulator injects: every one but the data-quality codes (impossible orders are
# refused by construction: the simulator only builds possible histories).
CODES = [c.value for c in NonconformityCode if c not in DATA_QUALITY_CODES]


def confusion(truth: list[dict[str, Any]], actual: dict[str, dict[str, Any]]) -> tuple[str, bool]:
    """Per code: true positives, false positives, false negatives; and whether all is exact."""
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    outcome_wrong: list[str] = []
    examples: list[str] = []
    for t in truth:
        got = actual.get(t["dossier_code"])
        codes = set(got["codes"]) if got else set()
        want = set(t["codes"])
        for c in want & codes:
            tp[c] += 1
        for c in codes - want:
            fp[c] += 1
        for c in want - codes:
            fn[c] += 1
        if got is None or got["outcome"] != t["outcome"]:
            outcome_wrong.append(t["dossier_code"])
        if (got is None or codes != want or got["outcome"] != t["outcome"]) and len(examples) < 10:
            examples.append(
                f"  {t['dossier_code']} ({t['template']}): want {t['outcome']} {sorted(want)}, "
                f"got {got['outcome'] if got else None} {sorted(codes)}"
            )
    lines = ["code                  TP    FP    FN  precision  recall"]
    for c in CODES:
        p = tp[c] / (tp[c] + fp[c]) if tp[c] + fp[c] else 1.0
        r = tp[c] / (tp[c] + fn[c]) if tp[c] + fn[c] else 1.0
        lines.append(f"{c:<20} {tp[c]:>4} {fp[c]:>5} {fn[c]:>5}  {p:>8.1%}  {r:>6.1%}")
    lines.append(f"outcome wrong or missing: {len(outcome_wrong)}")
    lines += examples
    exact = not fp and not fn and not outcome_wrong
    return "\n".join(lines), exact


async def fetch_dossiers(base: str, codes: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    limit = asyncio.Semaphore(16)
    async with httpx.AsyncClient(base_url=base, timeout=30, headers=AUTH) as client:

        async def one(code: str) -> None:
            async with limit:
                r = await client.get(f"/api/v1/dossiers/{code}")
            if r.status_code == 200:
                body = r.json()
                out[code] = {
                    "outcome": body["outcome"],
                    "codes": sorted({nc["code"] for nc in body["nonconformities"]}),
                }

        await asyncio.gather(*(one(c) for c in codes))
    return out


def processing_register(base: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    with httpx.Client(base_url=base, timeout=30, headers=AUTH) as client:
        for code in CODES:
            r = client.get("/api/v1/nonconformities", params={"code": code, "limit": 1})
            r.raise_for_status()
            counts[code] = r.json()["total"]
    return +counts


def reporting_register(base: str, years: list[int]) -> Counter[str]:
    counts: Counter[str] = Counter()
    with httpx.Client(base_url=base, timeout=30, headers=AUTH) as client:
        for year in years:
            for code in CODES:
                r = client.get(
                    "/api/v1/reports/nonconformities", params={"period": str(year), "code": code, "limit": 1}
                )
                r.raise_for_status()
                counts[code] += r.json()["total"]
    return +counts


def months(first: date, last: date) -> list[tuple[str, date, date]]:
    out = []
    m = first.replace(day=1)
    while m <= last:
        nxt = (m + timedelta(days=32)).replace(day=1)
        out.append((f"{m:%Y-%m}", m, nxt - timedelta(days=1)))
        m = nxt
    return out


def form06_rows(base: str, period: str) -> dict[str, dict[str, int]]:
    r = httpx.get(f"{base}/api/v1/reports/form06", params={"period": period}, timeout=30, headers=AUTH)
    r.raise_for_status()
    return {
        row["agency_code"]: {k: v for k, v in row.items() if k != "agency_code"} for row in r.json()["rows"]
    }


def test_simulated_stream_matches_its_ground_truth(tmp_path: Path) -> None:
    system = RunningSystem(tmp_path / "data", extra_env={"TTHC_ADMIN_TOKEN": ADMIN_TOKEN})
    try:
        system.wait_for(r"all services healthy", 90)
        settings = CommonSettings(kafka_bootstrap_servers=system.bootstrap_servers)
        truth_file = tmp_path / "truth.jsonl"
        options = Options(dossiers=DOSSIERS, seed=2024, violation_rate=0.5, truth=truth_file, progress=False)
        summary = asyncio.run(simulate(settings, options, system.url("registry"), ADMIN_TOKEN))
        truth = read_truth(truth_file)
        assert len(truth) == DOSSIERS
        expected = code_counts(truth)
        assert set(expected) == set(CODES), f"every rule code must be injected: {expected}"
        assert {t["template"] for t in truth} >= set(VIOLATION_TEMPLATES)

        # wait until processing and reporting have caught up (the registers agree with the truth)
        tz = settings.calendar().tz
        reference = summary.reference.astimezone(tz).date()
        accepted = [date.fromisoformat(t["accepted_at"][:10]) for t in truth if t["accepted_at"]]
        periods = months(min(accepted), reference)
        years = sorted({int(p[0][:4]) for p in periods})
        deadline = time.monotonic() + 75
        while time.monotonic() < deadline:
            system.alive()
            if processing_register(system.url("processing")) == expected and (
                reporting_register(system.url("reporting"), years) == expected
            ):
                break
            time.sleep(1)

        actual = asyncio.run(fetch_dossiers(system.url("processing"), [t["dossier_code"] for t in truth]))
        table, exact = confusion(truth, actual)
        print(table)
        assert exact, f"dossier API differs from the ground truth:\n{table}"
        assert processing_register(system.url("processing")) == expected, table
        assert reporting_register(system.url("reporting"), years) == expected, table

        for period, first, last in periods:
            want = expected_form06(truth, first, min(last, reference - timedelta(days=1)), tz)
            got = {a: r for a, r in form06_rows(system.url("reporting"), period).items() if any(r.values())}
            got = {a: {k: r[k] for k in next(iter(want.values()))} for a, r in got.items()} if want else got
            assert got == want, f"Biểu 06 {period} differs:\nwant {want}\ngot  {got}"
    finally:
        system.stop()
