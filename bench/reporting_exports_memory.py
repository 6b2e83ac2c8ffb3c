"""Peak Python memory of a streamed register export: the same at 10,500 and 42,000 rows.

    .venv/bin/python -m bench.reporting_exports_memory 10500 xlsx

Feeds synthetic register rows in batches of 2,000 (as the server-side cursor does) through the
CSV or XLSX stream of ``services/reporting/adapters/exports.py`` and prints the bytes written,
the CPU seconds and the peak memory traced by ``tracemalloc``. No database: the figure is the
renderer's; the cursor holds one batch at a time.
"""

from __future__ import annotations

import asyncio
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.reporting.adapters import exports
from services.reporting.entrypoints.http import NC_COLUMNS

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def row(i: int) -> dict[str, Any]:
    return {
        "detected_at": datetime(2025, 3, 1, tzinfo=UTC),
        "dossier_code": f"000.00.13.H13-250301-{i:06d}",
        "agency_name": "Sở Tư pháp",
        "agency_code": "000.00.13.H13",
        "procedure_name": "Cấp bản sao trích lục hộ tịch",
        "procedure_code": "1.004845",
        "code": "LATE",
        "clause": "8.7",
        "status": "open",
        "corrective_action": None,
        "detail": f"giải quyết quá hạn, hồ sơ {i}",
    }


async def export(n: int, fmt: str) -> int:
    """Bytes of the CSV or XLSX export of ``n`` rows."""

    async def batches() -> AsyncIterator[list[dict[str, Any]]]:
        for i in range(0, n, 2000):
            yield [row(j) for j in range(i, min(n, i + 2000))]

    size = 0
    stream = (
        exports.table_csv_stream(NC_COLUMNS, batches(), TZ)
        if fmt == "csv"
        else exports.table_xlsx_stream("Sổ theo dõi sự không phù hợp", "", NC_COLUMNS, batches(), TZ)
    )
    async for chunk in stream:
        size += len(chunk)
    return size


async def measure(n: int, fmt: str) -> None:
    """CPU time of one export, then its peak memory in a second, traced run (tracing slows it)."""
    cpu = time.process_time()
    size = await export(n, fmt)
    cpu = time.process_time() - cpu
    tracemalloc.start()
    await export(n, fmt)
    peak = tracemalloc.get_traced_memory()[1]
    print(f"{fmt} {n:,} rows: {size:,} bytes, {cpu:.2f} s CPU, peak {peak / 2**20:.1f} MiB")


if __name__ == "__main__":
    asyncio.run(measure(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "xlsx"))
