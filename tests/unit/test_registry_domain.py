"""The registry's domain rules, without a database: budgets, lifecycle, flags, access, imports, seeds."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.registry.domain.access import write_refusal
from services.registry.domain.agencies import (
    agency_problems,
    default_obligation,
    parse_dossier_code,
    successor_chain,
)
from services.registry.domain.catalog import NO_TIME, read_catalog
from services.registry.domain.imports import parse_agencies, parse_procedures, parse_processes
from services.registry.domain.iso_process import (
    capacity_hours,
    in_force,
    min_working_days_in,
    process_problems,
)
from services.registry.domain.qms import add_months, qms_flags, qms_problems
from services.registry.seeds.cantho import cantho_2021, cantho_2025
from shared.auth import Principal
from shared.calendar import DurationUnit
from shared.contracts.registry import (
    AgencyLevel,
    AgencyRecord,
    IsoObligation,
    IsoProcessRecord,
    QmsRecord,
    Role,
    StatutoryTime,
)

H = Decimal(8)


def st_time(value: str, unit: str) -> StatutoryTime:
    return StatutoryTime(value=Decimal(value), unit=DurationUnit(unit))


def process(
    *hours: float, optional_last: bool = False, version: int = 1, effective: str = "2024-01-01"
) -> IsoProcessRecord:
    return IsoProcessRecord.model_validate(
        {
            "agency_code": "A",
            "procedure_code": "P",
            "version": version,
            "effective_from": effective,
            "steps": [
                {
                    "code": f"B{i}",
                    "name": "x",
                    "responsible_unit": "U",
                    "budget": {"value": str(h), "unit": "working_hours"},
                    "optional": optional_last and i == len(hours),
                }
                for i, h in enumerate(hours, 1)
            ],
        }
    )


# --- ISO process budgets ------------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=400))
def test_min_working_days_is_the_worst_week_alignment(days: int) -> None:
    monday = date(2024, 1, 1)
    brute = min(sum((monday + timedelta(start + i)).weekday() < 5 for i in range(days)) for start in range(7))
    assert min_working_days_in(Decimal(days)) == brute


@pytest.mark.parametrize(
    ("value", "unit", "hours"),
    [
        ("3", "working_days", 24),
        ("20", "working_hours", 20),
        ("10", "calendar_days", 48),
        ("30", "calendar_days", 160),
        ("1", "months", 160),
    ],
)
def test_capacity_in_working_hours(value: str, unit: str, hours: int) -> None:
    assert capacity_hours(st_time(value, unit), H) == hours


def test_required_budgets_must_fit_and_optional_steps_do_not_count() -> None:
    assert process_problems(process(2, 16, 4, 2), st_time("3", "working_days"), H) == []
    problems = process_problems(process(4, 16, 4, 2), st_time("3", "working_days"), H)
    assert (
        problems[0][0] == "steps"
        and "26 working hours" in problems[0][1]
        and "(3 working days)" in problems[0][1]
    )
    assert process_problems(process(4, 16, 4, 2, optional_last=True), st_time("3", "working_days"), H) == []


def test_step_codes_are_unique() -> None:
    twice = process(1, 1).model_copy(update={"steps": process(1, 1).steps[:1] * 2})
    assert "repeated: B1" in process_problems(twice, st_time("1", "working_days"), H)[0][1]


def test_the_version_in_force_is_the_latest_effective_on_the_day() -> None:
    v1, v2 = process(1, version=1, effective="2024-01-01"), process(1, version=2, effective="2025-07-01")
    assert in_force([v1, v2], date(2025, 6, 30)) == v1
    assert in_force([v2, v1], date(2025, 7, 1)) == v2
    assert in_force([v1, v2], date(2023, 12, 31)) is None


# --- QMS ------------------------------------------------------------------------------------------


def qms(**over: Any) -> QmsRecord:
    data: dict[str, Any] = {
        "agency_code": "A",
        "state": "announced",
        "transitions": [
            {"state": "building", "on": "2019-01-01"},
            {"state": "announced", "on": "2019-12-01", "document": "1/QĐ"},
        ],
        "scope": ["P"],
    }
    data.update(over)
    return QmsRecord.model_validate(data)


def test_add_months_clamps_to_the_month_end() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2024, 11, 30), 3) == date(2025, 2, 28)
    assert add_months(date(2024, 5, 15), 12) == date(2025, 5, 15)


def test_lifecycle_goes_forward_and_may_cycle_between_updating_and_reannounced() -> None:
    assert qms_problems(qms()) == []
    cycle = qms(
        state="updating",
        transitions=[
            {"state": "announced", "on": "2019-12-01", "document": "1"},
            {"state": "updating", "on": "2021-01-05"},
            {"state": "reannounced", "on": "2021-05-05", "document": "2"},
            {"state": "updating", "on": "2023-01-05"},
        ],
    )
    assert qms_problems(cycle) == []
    back = qms(
        state="applying",
        transitions=[
            {"state": "announced", "on": "2019-12-01", "document": "1"},
            {"state": "applying", "on": "2020-01-01"},
        ],
    )
    assert [f for f, _ in qms_problems(back)] == ["transitions.1.state"]
    unordered = qms(
        transitions=[
            {"state": "building", "on": "2020-01-01"},
            {"state": "announced", "on": "2019-12-01", "document": "1"},
        ]
    )
    assert [f for f, _ in qms_problems(unordered)] == ["transitions.1.on"]
    assert [f for f, _ in qms_problems(qms(state="updating"))] == ["state"]
    no_doc = qms(transitions=[{"state": "announced", "on": "2019-12-01"}])
    assert [f for f, _ in qms_problems(no_doc)] == ["transitions.0.document"]


def flags(
    record: QmsRecord, as_of: str, changed: date | None = None, processes: tuple[str, ...] = ("2019-06-01",)
) -> Any:
    return qms_flags(
        record,
        as_of=date.fromisoformat(as_of),
        legal_basis_changed_on={"P": changed},
        process_effective_dates={"P": [date.fromisoformat(d) for d in processes]},
        audit_interval_months=12,
        update_months=3,
    )


def test_audit_and_review_are_due_every_12_months_from_the_last_or_the_announcement() -> None:
    never = qms()
    assert not flags(never, "2020-12-01").internal_audit_overdue
    assert flags(never, "2020-12-02").internal_audit_overdue
    audited = qms(reviews=[{"kind": "internal_audit", "held_on": "2020-11-01"}])
    f = flags(audited, "2021-06-01")
    assert not f.internal_audit_overdue and f.management_review_overdue
    building = qms(state="building", transitions=[{"state": "building", "on": "2015-01-01"}])
    assert not flags(building, "2021-06-01").any


def test_a_legal_change_needs_an_update_within_3_months() -> None:
    record = qms(
        reviews=[
            {"kind": "internal_audit", "held_on": "2021-01-01"},
            {"kind": "management_review", "held_on": "2021-01-01"},
        ]
    )
    changed = date(2021, 2, 1)
    assert flags(record, "2021-05-01", changed).update_overdue == ()
    assert flags(record, "2021-05-02", changed).update_overdue == ("P",)
    assert flags(record, "2021-05-02", changed, ("2019-06-01", "2021-04-01")).update_overdue == ()
    reannounced = record.model_copy(
        update={
            "transitions": (
                *record.transitions,
                *qms(transitions=[{"state": "reannounced", "on": "2021-03-01", "document": "2"}]).transitions,
            )
        }
    )
    assert flags(reannounced, "2021-06-01", changed).update_overdue == ()


def test_scope_without_process_is_flagged() -> None:
    assert flags(qms(), "2020-01-01", processes=()).scope_without_process == ("P",)


# --- agencies and access --------------------------------------------------------------------------


def agency(**over: Any) -> AgencyRecord:
    data: dict[str, Any] = {
        "code": "000.00.31.H13",
        "name": "UBND quận",
        "level": "district",
        "iso_obligation": "mandatory",
    }
    data.update(over)
    return AgencyRecord.model_validate(data)


@pytest.mark.parametrize(
    ("level", "obligation"),
    [
        (AgencyLevel.PROVINCE, IsoObligation.MANDATORY),
        (AgencyLevel.DEPARTMENT, IsoObligation.MANDATORY),
        (AgencyLevel.DISTRICT, IsoObligation.MANDATORY),
        (AgencyLevel.COMMUNE, IsoObligation.ENCOURAGED),
        (AgencyLevel.PUBLIC_SERVICE_UNIT, IsoObligation.ENCOURAGED),
        (AgencyLevel.OTHER, IsoObligation.ENCOURAGED),
    ],
)
def test_decision_19_obligation_by_level(level: AgencyLevel, obligation: IsoObligation) -> None:
    assert default_obligation(level) is obligation


def test_districts_end_with_the_district_level() -> None:
    end = date(2025, 7, 1)
    assert agency_problems(agency(valid_to=date(2025, 6, 30)), end) == []
    assert [f for f, _ in agency_problems(agency(valid_to=date(2025, 7, 1)), end)] == ["valid_to"]
    assert [f for f, _ in agency_problems(agency(valid_from=date(2025, 8, 1)), end)] == ["valid_from"]
    assert [f for f, _ in agency_problems(agency(parent_code="000.00.31.H13"), end)] == ["parent_code"]


def test_dossier_codes_name_agency_and_day() -> None:
    parts = parse_dossier_code("000.00.13.H13-250310-0001")
    assert (parts.agency_code, parts.received_on) == ("000.00.13.H13", date(2025, 3, 10))
    for bad in ("000.00.13.H13-251310-0001", "no-code", "000.00.13.H13-2503-1"):
        with pytest.raises(ValueError, match=r"YYMMDD|dossier code"):
            parse_dossier_code(bad)


def test_successor_chains_stop_at_loops() -> None:
    a, b = agency(code="A1", successor_code="B1"), agency(code="B1", successor_code="A1")
    assert successor_chain(a, {"A1": a, "B1": b}) == ["B1"]


def test_write_rules_by_role() -> None:
    admin = Principal("a", Role.ADMIN, None, "x")
    officer = Principal("o", Role.OFFICER, "D", "x")
    viewer = Principal("v", Role.VIEWER, None, "x")
    subtree = {"D", "W"}
    assert write_refusal(admin, "agency", None, set()) is None
    assert write_refusal(officer, "qms", "W", subtree) is None
    assert write_refusal(officer, "iso_process", "D", subtree) is None
    assert "not of X" in (write_refusal(officer, "qms", "X", subtree) or "")
    assert "only an admin" in (write_refusal(officer, "procedure", None, subtree) or "")
    assert "viewer" in (write_refusal(viewer, "qms", "W", subtree) or "")


# --- import rows -----------------------------------------------------------------------------------


def rows(*dicts: dict[str, str]) -> list[tuple[int, dict[str, str]]]:
    return list(enumerate(dicts, start=2))


def test_agency_rows_default_the_obligation_and_report_each_bad_cell() -> None:
    parsed = parse_agencies(
        ["code", "name", "level"],
        rows(
            {"code": "000.00.05.H13", "name": "Sở", "level": "department"},
            {"code": "bad code", "name": "X", "level": "commune"},
            {"code": "000.00.06.H13", "name": "Y", "level": "county"},
        ),
    )
    assert [a.iso_obligation for _, a in parsed.items] == [IsoObligation.MANDATORY]
    assert [(e.row, e.column) for e in parsed.errors] == [(3, "code"), (4, "level")]


def test_procedure_rows_read_times_like_the_catalogue() -> None:
    parsed = parse_procedures(
        ["code", "name", "statutory_time", "online_time"],
        rows(
            {
                "code": "1.1",
                "name": "A",
                "statutory_time": "15 Ngày | 10 ngày làm việc",
                "online_time": "24 giờ",
            },
            {"code": "1.2", "name": "B", "statutory_time": "3 năm"},
        ),
    )
    ((_, p),) = parsed.items
    assert (p.statutory_time.value, p.statutory_time.unit) == (15, DurationUnit.CALENDAR_DAYS)
    assert (
        p.channel_times[0].channel == 2
        and p.channel_times[0].statutory_time.unit is DurationUnit.WORKING_HOURS
    )
    assert [(e.row, e.column) for e in parsed.errors] == [(3, "statutory_time")]


def test_process_rows_group_by_version_and_keep_step_order() -> None:
    header = [
        "agency_code",
        "procedure_code",
        "version",
        "effective_from",
        "step_code",
        "step_name",
        "responsible_unit",
        "budget_value",
        "budget_unit",
        "optional",
    ]
    base = {
        "agency_code": "A",
        "procedure_code": "P",
        "version": "1",
        "effective_from": "2024-01-01",
        "responsible_unit": "U",
        "budget_value": "1,5",
        "budget_unit": "giờ làm việc",
        "optional": "",
    }
    parsed = parse_processes(
        header,
        rows(
            {**base, "step_code": "B1", "step_name": "Tiếp nhận"},
            {
                **base,
                "step_code": "B2",
                "step_name": "Xử lý",
                "budget_unit": "working_days",
                "optional": "có",
            },
            {**base, "version": "2", "step_code": "B1", "step_name": "Tiếp nhận"},
            {**base, "step_code": "B3", "step_name": "Trả", "effective_from": "2024-02-01"},
            {**base, "version": "2", "step_code": "B2", "step_name": "", "budget_unit": "phút"},
        ),
    )
    versions = {p.version: p for _, p in parsed.items}
    assert [s.code for s in versions[1].steps] == ["B1", "B2"]
    assert versions[1].steps[0].budget.value == Decimal("1.5") and versions[1].steps[1].optional
    assert [(e.row, e.column) for e in parsed.errors] == [(5, "effective_from"), (6, "budget_unit")]


def test_catalogue_rows_without_a_readable_time_are_listed_not_guessed() -> None:
    def row(code: str, time: str) -> dict[str, str]:
        return {
            "ma_thu_tuc": code,
            "ten_thu_tuc": "Thủ  tục\nthử",
            "cap_thuc_hien": "Cấp xã",
            "linh_vuc": "Hộ tịch",
            "so_quyet_dinh": "1/QĐ",
            "thoi_han_all": time,
        }

    result = read_catalog(
        rows(row("1.1", "8 Ngày làm việc"), row("1.2", ""), row("1.3", "Theo quy định"), row("1.1", "1 ngày"))
    )
    assert [p.name for _, p in result.procedures] == ["Thủ tục thử"]
    assert (result.rows_total, result.rows_with_time, result.rows_parsed) == (4, 3, 2)
    assert result.other_skips[0].reason == NO_TIME and result.time_failures[0].row == 4
    assert "already in row 2" in result.other_skips[1].reason


# --- seeds -----------------------------------------------------------------------------------------


def test_seed_processes_fit_their_statutory_times_and_parents_come_first() -> None:
    for scenario in (cantho_2021(), cantho_2025()):
        procedures = {p.code: p for p in scenario.procedures}
        for p in scenario.processes:
            assert process_problems(p, procedures[p.procedure_code].statutory_time, H) == []
        seen: set[str] = set()
        for a in scenario.agencies:
            assert a.parent_code is None or a.parent_code in seen, a.code
            seen.add(a.code)
        assert len(seen) == len(scenario.agencies)
        assert all(qms_problems(q) == [] for q in scenario.qms)
