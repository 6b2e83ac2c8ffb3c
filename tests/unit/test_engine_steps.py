"""The control slip and the ISO process rules: STEP_LATE, STEP_OVERDUE, STEP_SKIPPED, STEP_ORDER,
WRONG_UNIT, and OUT_OF_SCOPE for ISO coverage.

Process used: B1 tiếp nhận (BPMC, 4 h), B2 thẩm định (PTP, 2 WD), B3 phê duyệt (LD, 1 WD),
B4 trả kết quả (BPMC, 4 h). Dossier accepted Mon 3 Mar 2025 08:00 online, 5 WD → due Mon 10 Mar 08:00.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from services.processing.domain.engine import ProcessContext, next_deadline, version_in_force
from shared.contracts.compliance import StepStatus
from shared.contracts.registry import QmsRecord, QmsState
from tests.unit.test_engine_fixtures import (
    CAL,
    PROCEDURE,
    RULES,
    WD,
    WH,
    Dossier,
    at,
    codes,
    in_scope,
    iso_process,
    only,
    step,
    terms,
)

B1 = step("B1", "BPMC", 4, WH)
B2 = step("B2", "PTP", 2, WD)
B3 = step("B3", "LD", 1, WD)
B4 = step("B4", "BPMC", 4, WH)
PROCESS = iso_process(B1, B2, B3, B4)
COVERED = in_scope(PROCESS)


def accepted() -> tuple[Dossier, str]:
    d = Dossier()
    return d, d.accepted(at(2025, 3, 3, 8))


def test_control_slip_rows() -> None:
    d, _ = accepted()
    e1 = d.step(at(2025, 3, 3, 11), "B1", "BPMC", "PTP")
    e2 = d.step(at(2025, 3, 4, 16), "B2", "PTP", "LD")
    e3 = d.step(at(2025, 3, 6, 8), "B3", "LD", "BPMC")
    e4 = d.step(at(2025, 3, 6, 13, 30), "B4", "BPMC")
    d.resolved(at(2025, 3, 6, 14))
    a = d.assess(now=at(2025, 4, 1), process=COVERED)
    rows = [
        (r.event_id, r.step_code, r.unit, r.received_at, r.handed_over_at, r.due_at, r.status)
        for r in a.steps
    ]
    assert rows == [
        # 08:00 + 4 h: 3.5 h to 11:30, 0.5 h after lunch → 13:30; handed over the same day → on time.
        (e1, "B1", "BPMC", at(2025, 3, 3, 8), at(2025, 3, 3, 11), at(2025, 3, 3, 13, 30), StepStatus.ON_TIME),
        # 11:00 + 16 h: 4.5 h Mon, 8 h Tue, 3.5 h Wed → Wed 11:00; handed over Tue → early.
        (e2, "B2", "PTP", at(2025, 3, 3, 11), at(2025, 3, 4, 16), at(2025, 3, 5, 11), StepStatus.EARLY),
        # 16:00 + 8 h: 1 h Tue, 4 h + 3 h Wed → Wed 16:00; handed over Thu 08:00 → late.
        (e3, "B3", "LD", at(2025, 3, 4, 16), at(2025, 3, 6, 8), at(2025, 3, 5, 16), StepStatus.LATE),
        # 08:00 + 4 h → 13:30; handed over exactly then → on time.
        (
            e4,
            "B4",
            "BPMC",
            at(2025, 3, 6, 8),
            at(2025, 3, 6, 13, 30),
            at(2025, 3, 6, 13, 30),
            StepStatus.ON_TIME,
        ),
    ]
    assert a.steps[2].budget == B3.budget and a.steps[0].to_unit == "PTP"
    assert a.iso_process_version == 1
    nc = only(a, "STEP_LATE")
    assert (nc.clause, nc.detected_at, nc.evidence) == ("9.1", at(2025, 3, 6, 8), (e3,))
    assert codes(a) == ["STEP_LATE"]


def test_step_budget_across_tet_2024() -> None:
    # B2 received Wed 7 Feb 2024 15:00: 2 h that day, [8-14 Feb off], 8 h Thu 15, 6 h Fri 16 → 15:00.
    d = Dossier()
    d.accepted(at(2024, 2, 7, 9))
    d.step(at(2024, 2, 7, 15), "B1", "BPMC")
    d.step(at(2024, 2, 16, 15), "B2", "PTP")
    a = d.assess(
        now=at(2024, 3, 1), process=in_scope(iso_process(B1, B2, B3, B4, effective_from=date(2024, 1, 1)))
    )
    assert (a.steps[1].due_at, a.steps[1].status) == (at(2024, 2, 16, 15), StepStatus.ON_TIME)


def test_wrong_unit() -> None:
    d, _ = accepted()
    d.step(at(2025, 3, 3, 11), "B1", "BPMC")
    e2 = d.step(at(2025, 3, 4, 16), "B2", "VP")
    nc = only(d.assess(now=at(2025, 3, 4, 17), process=COVERED), "WRONG_UNIT")
    assert (nc.clause, nc.detected_at, nc.evidence) == ("8.5.1", at(2025, 3, 4, 16), (e2,))
    assert "PTP" in nc.detail


def test_step_out_of_order() -> None:
    d, _ = accepted()
    d.step(at(2025, 3, 3, 11), "B1", "BPMC")
    e3 = d.step(at(2025, 3, 4, 9), "B3", "LD")
    e2 = d.step(at(2025, 3, 4, 10), "B2", "PTP")
    a = d.assess(now=at(2025, 3, 4, 11), process=COVERED)
    nc = only(a, "STEP_ORDER")
    assert (nc.clause, nc.detected_at, nc.evidence) == ("8.5.1", at(2025, 3, 4, 10), (e3, e2))
    assert "STEP_SKIPPED" not in codes(a)  # B2 was done, only late in the order


def test_step_not_in_the_process() -> None:
    d, _ = accepted()
    e9 = d.step(at(2025, 3, 3, 11), "B9", "BPMC")
    a = d.assess(now=at(2025, 3, 3, 12), process=COVERED)
    assert (only(a, "STEP_ORDER").evidence, a.steps[0].status, a.steps[0].budget) == ((e9,), None, None)


def test_skipped_step_is_known_when_a_later_step_is_done() -> None:
    d, _ = accepted()
    d.step(at(2025, 3, 3, 11), "B1", "BPMC")
    e3 = d.step(at(2025, 3, 4, 9), "B3", "LD")
    nc = only(d.assess(now=at(2025, 3, 4, 10), process=COVERED), "STEP_SKIPPED")
    assert (nc.clause, nc.detected_at, nc.evidence) == ("8.5.1", at(2025, 3, 4, 9), (e3,))
    assert "B2" in nc.detail


def test_skipped_step_is_known_at_resolution() -> None:
    d, _ = accepted()
    d.step(at(2025, 3, 3, 11), "B1", "BPMC")
    d.step(at(2025, 3, 4, 16), "B2", "PTP")
    d.step(at(2025, 3, 5, 9), "B3", "LD")
    res = d.resolved(at(2025, 3, 5, 10))
    nc = only(d.assess(now=at(2025, 3, 6), process=COVERED), "STEP_SKIPPED")
    assert (nc.detected_at, nc.evidence) == (at(2025, 3, 5, 10), (res,))
    assert "B4" in nc.detail


def test_optional_step_may_be_left_out() -> None:
    d, _ = accepted()
    d.step(at(2025, 3, 3, 11), "B1", "BPMC")
    d.step(at(2025, 3, 4, 16), "B2", "PTP")
    d.step(at(2025, 3, 5, 9), "B4", "BPMC")
    d.resolved(at(2025, 3, 5, 10))
    process = in_scope(iso_process(B1, B2, step("B3", "LD", 1, WD, optional=True), B4))
    assert d.assess(now=at(2025, 3, 6), process=process).nonconformities == ()


def test_open_step_overdue_by_timer() -> None:
    d, _ = accepted()
    e1 = d.step(at(2025, 3, 3, 11), "B1", "BPMC")  # B2 now open, due Wed 5 Mar 11:00
    before = d.assess(now=at(2025, 3, 5, 10, 59), process=COVERED)
    assert before.nonconformities == ()
    assert next_deadline(d.events, terms(), CAL, RULES, at(2025, 3, 5, 10, 59), COVERED) == at(2025, 3, 5, 11)
    nc = only(d.assess(now=at(2025, 3, 5, 11), process=COVERED), "STEP_OVERDUE")
    assert (nc.clause, nc.detected_at, nc.evidence) == ("9.1", at(2025, 3, 5, 11), (e1,))
    # Once B2 is handed over, the open step is B3 and the late hand-over is a STEP_LATE row instead.
    d.step(at(2025, 3, 5, 14), "B2", "PTP")
    after = d.assess(now=at(2025, 3, 5, 14, 30), process=COVERED)
    assert codes(after) == ["STEP_LATE"]


def test_open_step_allowance_includes_optional_steps_before_it() -> None:
    d, _ = accepted()
    d.step(at(2025, 3, 3, 11), "B1", "BPMC")
    d.step(at(2025, 3, 4, 16), "B2", "PTP")
    process = in_scope(iso_process(B1, B2, step("B3", "LD", 1, WD, optional=True), B4))
    # B4 is the next required step: 8 h (B3) + 4 h (B4) from Tue 16:00 → 1 h, 8 h Wed, 3 h Thu → 10:30.
    assert next_deadline(d.events, terms(), CAL, RULES, at(2025, 3, 5), process) == at(2025, 3, 6, 10, 30)
    assert "STEP_OVERDUE" in codes(d.assess(now=at(2025, 3, 6, 10, 30), process=process))


def test_first_step_is_timed_from_acceptance() -> None:
    d, acc = accepted()
    assert next_deadline(d.events, terms(), CAL, RULES, at(2025, 3, 3, 9), COVERED) == at(2025, 3, 3, 13, 30)
    assert only(d.assess(now=at(2025, 3, 3, 14), process=COVERED), "STEP_OVERDUE").evidence == (acc,)


def test_step_clock_stops_while_waiting_for_a_supplement() -> None:
    d, _ = accepted()
    d.step(at(2025, 3, 3, 11), "B1", "BPMC")
    d.supplement_requested(at(2025, 3, 4, 9))
    assert "STEP_OVERDUE" not in codes(d.assess(now=at(2025, 3, 20), process=COVERED))
    d.supplement_received(at(2025, 3, 6, 9))
    d.step(at(2025, 3, 7, 9), "B2", "PTP")
    a = d.assess(now=at(2025, 3, 7, 10), process=COVERED)
    # B2 due Wed 5 Mar 11:00 + the 16 h wait (Tue 09:00 → Thu 09:00) → Fri 7 Mar 11:00.
    assert (a.steps[1].due_at, a.steps[1].status) == (at(2025, 3, 7, 11), StepStatus.ON_TIME)


def test_no_step_rules_once_the_dossier_is_closed() -> None:
    d, _ = accepted()
    d.withdrawn(at(2025, 3, 3, 9))
    assert d.assess(now=at(2025, 4, 1), process=COVERED).nonconformities == ()


def test_without_iso_data_the_slip_has_no_verdicts() -> None:
    d, _ = accepted()
    d.step(at(2025, 3, 3, 11), "B2", "somebody")
    a = d.assess(now=at(2025, 4, 1))
    assert (a.steps[0].budget, a.steps[0].status, a.in_scope, a.iso_process_version) == (
        None,
        None,
        True,
        None,
    )
    assert "OUT_OF_SCOPE" not in codes(a) and "STEP_OVERDUE" not in codes(a)


# ---- OUT_OF_SCOPE for ISO coverage ---------------------------------------------------------------


def test_procedure_outside_the_announced_iso_scope() -> None:
    d = Dossier()
    sub = d.submitted(at(2025, 3, 3, 7))
    d.accepted(at(2025, 3, 3, 8))
    d.step(at(2025, 3, 3, 11), "B9", "X")
    a = d.assess(now=at(2025, 4, 1), process=ProcessContext(in_iso_scope=False, versions=(PROCESS,)))
    nc = only(a, "OUT_OF_SCOPE")
    assert (nc.clause, nc.detected_at, nc.evidence) == ("8.5.1", at(2025, 3, 3, 7), (sub,))
    assert a.in_scope is False
    assert "STEP_ORDER" not in codes(a)  # no process applies
    assert a.due_at == at(2025, 3, 10, 8)  # the statutory time still applies


def test_no_iso_process_in_force_on_the_acceptance_date() -> None:
    d, acc = accepted()
    later = iso_process(B1, B2, effective_from=date(2025, 3, 4))
    nc = only(d.assess(now=at(2025, 4, 1), process=in_scope(later)), "OUT_OF_SCOPE")
    assert (nc.detected_at, nc.evidence) == (at(2025, 3, 3, 8), (acc,))
    assert "2025-03-03" in nc.detail


def test_the_version_in_force_on_the_acceptance_date_applies() -> None:
    v1 = iso_process(B1, B2, B3, B4, version=1, effective_from=date(2025, 1, 1))
    v2 = iso_process(step("B1", "BPMC", 1, WH), B2, B3, B4, version=2, effective_from=date(2025, 3, 4))
    assert version_in_force((v1, v2), date(2025, 3, 3)) is v1
    assert version_in_force((v1, v2), date(2025, 3, 4)) is v2
    assert version_in_force((v1, v2), date(2024, 12, 31)) is None
    d = Dossier()
    d.accepted(at(2025, 3, 4, 8))  # a v1 dossier would have until 13:30 for B1, v2 gives 1 h
    d.step(at(2025, 3, 4, 11), "B1", "BPMC")
    a = d.assess(now=at(2025, 4, 1), process=in_scope(v1, v2))
    assert (a.iso_process_version, a.steps[0].due_at, a.steps[0].status) == (
        2,
        at(2025, 3, 4, 9),
        StepStatus.LATE,
    )


def test_process_context_from_registry_records() -> None:
    announced = QmsRecord(agency_code="000.00.13.H13", state=QmsState.ANNOUNCED, scope=(PROCEDURE,))
    building = QmsRecord(agency_code="000.00.13.H13", state=QmsState.BUILDING, scope=(PROCEDURE,))
    other = iso_process(B1).model_copy(update={"procedure_code": "2.000001"})
    ctx = ProcessContext.from_registry(announced, [PROCESS, other], PROCEDURE)
    assert ctx == ProcessContext(in_iso_scope=True, versions=(PROCESS,))
    assert not ProcessContext.from_registry(building, [PROCESS], PROCEDURE).in_iso_scope
    assert not ProcessContext.from_registry(None, [PROCESS], PROCEDURE).in_iso_scope
    assert not ProcessContext.from_registry(announced, [PROCESS], "9.999999").in_iso_scope
    assert Decimal(2) == B2.budget.value
