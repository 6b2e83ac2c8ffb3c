"""Bulk imports (CSV, XLSX, the national catalogue) through the registry's HTTP API:
all rows or none, every row error listed, dry runs that count exactly."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from openpyxl import Workbook

from tests.conftest import SHARED_DATA, Infra
from tests.integration.test_registry_harness import Registry, running_registry

pytestmark = pytest.mark.integration

CATALOG = SHARED_DATA / "tthc_catalog.csv"

AGENCIES_CSV = """code,name,level,parent_code,iso_obligation,valid_from,valid_to,predecessor_codes,successor_code,reorganisation_basis
000.01.31.H97,UBND Phường Cái Khế,commune,000.00.31.H97,,,,,,
000.00.31.H97,UBND Quận Ninh Kiều,district,000.00.00.H97,,,2025-06-30,,000.00.61.H97,Luật Tổ chức chính quyền địa phương 2025
000.00.00.H97,UBND thành phố Cần Thơ,province,,,,,,,
000.00.61.H97,UBND Phường Ninh Kiều,commune,000.00.00.H97,,2025-07-01,,000.00.31.H97;000.01.31.H97,,
"""

PROCEDURE_HEADER = ["code", "name", "field", "level", "statutory_time", "online_time", "legal_basis"]
PROCEDURE_ROWS = [
    [
        "1.004837",
        "Thủ tục đăng ký giám hộ",
        "Hộ tịch",
        "Cấp xã",
        "3 Ngày làm việc",
        "2 ngày làm việc",
        "163/QĐ-BTP",
    ],
    [
        "1.004845",
        "Thủ tục đăng ký chấm dứt giám hộ",
        "Hộ tịch",
        "Cấp xã",
        "2 Ngày làm việc",
        "",
        "163/QĐ-BTP",
    ],
    [
        "1.012812",
        "Hòa giải tranh chấp đất đai",
        "Đất đai",
        "Cấp xã",
        "30 Ngày | 40 Ngày",
        "",
        "2304/QĐ-BNNMT",
    ],
]

PROCESS_CSV = """agency_code,procedure_code,version,effective_from,step_code,step_name,responsible_unit,budget_value,budget_unit,optional
000.01.31.H97,1.004837,1,2024-01-01,B1,Tiếp nhận hồ sơ,BPMC,2,giờ làm việc,
000.01.31.H97,1.004837,1,2024-01-01,B2,Thẩm định,TP-HT,2,ngày làm việc,
000.01.31.H97,1.004837,1,2024-01-01,B3,Ký duyệt,LD-UBND,4,working_hours,
000.01.31.H97,1.004837,1,2024-01-01,B4,Trả kết quả,BPMC,2,working_hours,x
000.01.31.H97,1.004845,1,2024-01-01,B1,Tiếp nhận và giải quyết,TP-HT,2,working_days,
"""


def xlsx(header: list[str], rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def upload(
    registry: Registry, kind: str, name: str, data: bytes, *, dry_run: bool = False, token: str | None = None
) -> Any:
    return await registry.client.post(
        f"/api/v1/imports/{kind}",
        params={"dry_run": str(dry_run).lower()},
        files={"file": (name, data)},
        headers=registry.as_(token) if token else registry.admin,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def registry(infra: Infra) -> AsyncIterator[Registry]:
    async with running_registry(infra) as r:
        yield r


async def test_agencies_csv_dry_run_counts_then_applies_parents_first(registry: Registry) -> None:
    dry = await upload(registry, "agencies", "agencies.csv", AGENCIES_CSV.encode(), dry_run=True)
    assert dry.status_code == 200, dry.text
    assert dry.json() | {"kind": "agencies"} == dry.json()
    assert (dry.json()["created"], dry.json()["applied"]) == (4, False)
    assert (await registry.get("/agencies/000.00.00.H97")).status_code == 404  # nothing applied

    real = (await upload(registry, "agencies", "agencies.csv", AGENCIES_CSV.encode())).json()
    assert (real["created"], real["updated"], real["unchanged"], real["applied"]) == (4, 0, 0, True)
    ward = (await registry.get("/agencies/000.01.31.H97")).json()
    assert ward["iso_obligation"] == "encouraged" and ward["parent_code"] == "000.00.31.H97"
    new = (await registry.get("/agencies/000.00.61.H97")).json()
    assert new["predecessor_codes"] == ["000.00.31.H97", "000.01.31.H97"]
    again = (await upload(registry, "agencies", "agencies.csv", AGENCIES_CSV.encode())).json()
    assert (again["created"], again["unchanged"]) == (0, 4)
    audit = (await registry.get("/audit", entity="agency", entity_id="000.00.00.H97")).json()["items"]
    assert [a["via"] for a in audit] == ["import"]


async def test_every_row_error_is_listed_and_nothing_is_applied(registry: Registry) -> None:
    bad = (
        "code,name,level,parent_code\n"
        "000.00.05.H96,Sở Tài chính,department,\n"  # fine on its own
        "000.00.06.H96,,department,\n"  # row 3: no name
        "000.00.07.H96,Sở Y tế,ministry,\n"  # row 4: unknown level
        "000.00.08.H96,Sở Xây dựng,department,000.00.00.H00\n"  # row 5: unknown parent
        "000.00.05.H96,Sở Tài chính (lặp),department,\n"  # row 6: duplicate code
    )
    r = await upload(registry, "agencies", "bad.csv", bad.encode())
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    errors = {(e["row"], e["column"]) for e in r.json()["errors"]}
    assert errors == {(3, "name"), (4, "level"), (5, "parent_code"), (6, "code")}
    assert all(e["reason"] for e in r.json()["errors"])
    assert (await registry.get("/agencies/000.00.05.H96")).status_code == 404


async def test_unknown_and_missing_columns_are_row_1_errors(registry: Registry) -> None:
    r = await upload(registry, "agencies", "a.csv", b"code,name,levle\n000.00.05.H96,X,department\n")
    assert r.status_code == 422
    assert {(e["row"], e["column"]) for e in r.json()["errors"]} == {(1, "level"), (1, "levle")}


async def test_procedures_from_xlsx_with_parsed_times(registry: Registry) -> None:
    data = xlsx(PROCEDURE_HEADER, PROCEDURE_ROWS)
    r = await upload(registry, "procedures", "procedures.xlsx", data)
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 3
    guardianship = (await registry.get("/procedures/1.004837")).json()
    assert guardianship["statutory_time"] == {"value": "3", "unit": "working_days"}
    assert guardianship["channel_times"] == [
        {"channel": 2, "statutory_time": {"value": "2", "unit": "working_days"}}
    ]
    mediation = (await registry.get("/procedures/1.012812")).json()
    assert mediation["statutory_time"] == {"value": "30", "unit": "calendar_days"}


async def test_an_unreadable_time_in_xlsx_is_a_row_error(registry: Registry) -> None:
    rows = [
        *PROCEDURE_ROWS,
        ["2.000908", "Cấp bản sao từ sổ gốc", "Chứng thực", "Cấp xã", "ngay khi nhận", "", ""],
    ]
    r = await upload(registry, "procedures", "procedures.xlsx", xlsx(PROCEDURE_HEADER, rows))
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {
            "row": 5,
            "column": "statutory_time",
            "reason": "no number followed by a time unit (ngày làm việc, ngày, giờ, tháng)",
        }
    ]


async def test_processes_one_row_per_step_checked_against_the_statutory_time(registry: Registry) -> None:
    await upload(registry, "agencies", "agencies.csv", AGENCIES_CSV.encode())
    await upload(registry, "procedures", "procedures.xlsx", xlsx(PROCEDURE_HEADER, PROCEDURE_ROWS))
    r = await upload(registry, "iso-processes", "processes.csv", PROCESS_CSV.encode())
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 2
    got = (await registry.get("/iso-processes/000.01.31.H97/1.004837/1")).json()
    assert [s["code"] for s in got["steps"]] == ["B1", "B2", "B3", "B4"]
    assert got["steps"][1]["budget"] == {"value": "2", "unit": "working_days"}
    assert got["steps"][3]["optional"] is True

    too_long = PROCESS_CSV.replace("B2,Thẩm định,TP-HT,2,ngày làm việc", "B2,Thẩm định,TP-HT,3,ngày làm việc")
    too_long = too_long.replace(",1,2024-01-01,", ",2,2025-01-01,")
    r = await upload(registry, "iso-processes", "processes.csv", too_long.encode())
    assert r.status_code == 422
    assert [(e["row"], e["column"]) for e in r.json()["errors"]] == [(2, "steps")]
    assert "30 working hours" in r.json()["errors"][0]["reason"]

    bad_unit = PROCESS_CSV.replace("4,working_hours,", "4,ngày,")
    r = await upload(registry, "iso-processes", "processes.csv", bad_unit.encode())
    assert [(e["row"], e["column"]) for e in r.json()["errors"]] == [(4, "budget_unit")]


async def test_an_officer_may_import_processes_of_its_subtree_only(registry: Registry) -> None:
    await upload(registry, "agencies", "agencies.csv", AGENCIES_CSV.encode())
    await upload(registry, "procedures", "procedures.xlsx", xlsx(PROCEDURE_HEADER, PROCEDURE_ROWS))
    elsewhere = await registry.token("officer", "000.00.61.H97")
    r = await upload(registry, "iso-processes", "p.csv", PROCESS_CSV.encode(), token=elsewhere)
    assert r.status_code == 403 and "row 2" in r.json()["detail"]
    own = await registry.token("officer", "000.00.31.H97")
    r = await upload(registry, "iso-processes", "p.csv", PROCESS_CSV.encode(), token=own, dry_run=True)
    assert r.status_code == 200, r.text
    assert (await upload(registry, "agencies", "a.csv", AGENCIES_CSV.encode(), token=own)).status_code == 403


async def test_garbage_is_refused_with_a_readable_reason(registry: Registry) -> None:
    r = await upload(registry, "agencies", "a.xlsx", b"PK\x03\x04 not really a workbook")
    assert r.status_code == 422 and ".xlsx" in r.json()["detail"]
    r = await upload(registry, "agencies", "a.csv", "code,name\n".encode("utf-16"))
    assert r.status_code == 422 and "UTF-8" in r.json()["detail"]
    assert (await upload(registry, "people", "a.csv", b"x\n")).status_code == 404


@pytest.mark.skipif(not CATALOG.exists(), reason=f"the national catalogue is not at {CATALOG}")
async def test_the_real_catalogue_imports_with_at_least_95_percent_of_times_read(registry: Registry) -> None:
    data = await asyncio.to_thread(CATALOG.read_bytes)
    started = time.perf_counter()
    r = await registry.client.post(
        "/api/v1/imports/catalog", files={"file": ("tthc_catalog.csv", data)}, headers=registry.admin
    )
    took = time.perf_counter() - started
    assert r.status_code == 200, r.text
    report = r.json()
    print(
        f"catalogue: {report['rows']} rows, {report['rows_with_time']} with a time, "
        f"{report['rows_time_parsed']} read ({report['time_parsed_share']:.2%}), "
        f"{report['records']} procedures imported in {took:.1f} s"
    )
    assert report["rows"] == 2642
    assert report["rows_time_parsed"] / report["rows_with_time"] >= 0.95
    assert report["records"] == report["created"] + report["updated"] + report["unchanged"]
    # every row is accounted for: imported, or skipped with a reason
    assert report["records"] + len(report["skipped"]) == report["rows"]
    assert all(s["reason"] for s in report["skipped"])
    unreadable = [
        s
        for s in report["skipped"]
        if s["column"] == "thoi_han_all" and "no processing time" not in s["reason"]
    ]
    assert len(unreadable) == report["rows_with_time"] - report["rows_time_parsed"]
    # a row of the catalogue, as imported
    p = (await registry.get("/procedures/1.000236")).json()
    assert p["name"] == "Đăng ký tài khoản điện tử"
    assert p["statutory_time"] == {"value": "3", "unit": "working_days"}
    # importing it again changes nothing
    again = (
        await registry.client.post(
            "/api/v1/imports/catalog",
            params={"dry_run": "true"},
            files={"file": ("tthc_catalog.csv", data)},
            headers=registry.admin,
        )
    ).json()
    assert again["unchanged"] == report["records"]
