"""The corrective-action state machine (ISO 9001:2015 clause 10.2), pure."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.processing.domain import corrective_action as ca
from services.processing.domain.corrective_action import ActionError, NcRef, State

AT = datetime(2025, 4, 10, 9, tzinfo=UTC)
A, B, C = NcRef("D-1", "STEP_LATE:e1"), NcRef("D-2", "STEP_LATE:e2"), NcRef("D-3", "STEP_LATE:e3")


def planned() -> ca.CorrectiveAction:
    action, _ = ca.plan(
        "000.00.13.H13",
        [A, B, A],
        correction="Trả kết quả, gửi phiếu xin lỗi",
        root_cause="Phòng Hộ tịch thiếu người thẩm định",
        action="Bổ sung một chuyên viên thẩm định",
        responsible="Trưởng phòng Hộ tịch",
        due_date=date(2025, 5, 1),
        by="officer@x.vn",
        at=AT,
    )
    return action


def test_a_planned_action_groups_verifies_and_closes_with_an_audit_entry_each() -> None:
    action = planned()
    assert action.state is State.PLANNED and action.nonconformities == (A, B)  # the repeat counted once
    action, audit = ca.group(action, [B, C], by="lead@x.vn", at=AT)
    assert action.nonconformities == (A, B, C) and audit.change == {"nonconformities": ["D-3/STEP_LATE:e3"]}
    action, audit = ca.verify(action, effective=True, note="Không còn trễ trong 4 tuần", by="qa@x.vn", at=AT)
    assert action.state is State.VERIFIED and (audit.what, audit.by) == ("verified", "qa@x.vn")
    action, audit = ca.close(action, by="lead@x.vn", at=AT)
    assert action.state is State.CLOSED and action.closed_at == AT and audit.what == "closed"


def test_an_ineffective_action_is_revised_and_stays_planned() -> None:
    action, audit = ca.verify(
        planned(),
        effective=False,
        note="Vẫn trễ",
        action="Chia lại việc thẩm định",
        due_date=date(2025, 6, 1),
        by="qa@x.vn",
        at=AT,
    )
    assert action.state is State.PLANNED and action.action == "Chia lại việc thẩm định"
    assert action.due_date == date(2025, 6, 1) and audit.what == "ineffective"
    with pytest.raises(ActionError, match="revised action and a new due_date"):
        ca.verify(planned(), effective=False, note="Vẫn trễ", by="qa@x.vn", at=AT)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: ca.close(a, by="x", at=AT), "after its effectiveness is verified"),
        (
            lambda a: ca.group(
                ca.close(ca.verify(a, effective=True, note="ok", by="x", at=AT)[0], by="x", at=AT)[0],
                [C],
                by="x",
                at=AT,
            ),
            "is closed",
        ),
        (lambda a: ca.group(a, [A], by="x", at=AT), "already under this corrective action"),
        (
            lambda a: ca.verify(
                ca.verify(a, effective=True, note="ok", by="x", at=AT)[0],
                effective=True,
                note="again",
                by="x",
                at=AT,
            ),
            "only a planned action",
        ),
    ],
)
def test_moves_the_workflow_does_not_allow_are_refused_with_what_to_do(change: object, message: str) -> None:
    with pytest.raises(ActionError, match=message):
        change(planned())  # type: ignore[operator]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("root_cause", "  ", "root_cause is empty"),
        ("action", "x" * 4001, "action is longer than 4000"),
        ("due_date", date(2025, 4, 9), "due_date 2025-04-09 is in the past"),
    ],
)
def test_a_plan_needs_every_part_of_clause_10_2(field: str, value: object, message: str) -> None:
    args: dict[str, object] = {
        "correction": "c",
        "root_cause": "r",
        "action": "a",
        "responsible": "p",
        "due_date": date(2025, 5, 1),
        "by": "x",
        "at": AT,
    } | {field: value}
    with pytest.raises(ActionError, match=message):
        ca.plan("A", [A], **args)  # type: ignore[arg-type]


def test_a_plan_answers_at_least_one_nonconformity() -> None:
    with pytest.raises(ActionError, match="at least one nonconformity"):
        ca.plan(
            "A",
            [],
            correction="c",
            root_cause="r",
            action="a",
            responsible="p",
            due_date=date(2025, 5, 1),
            by="x",
            at=AT,
        )


def test_overdue_means_planned_and_past_its_due_date() -> None:
    action = planned()
    assert not action.overdue(date(2025, 5, 1)) and action.overdue(date(2025, 5, 2))
    verified, _ = ca.verify(action, effective=True, note="ok", by="x", at=AT)
    assert not verified.overdue(date(2025, 6, 1))
