"""Every code a reader can meet has words in both languages."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared import vocabulary
from shared.calendar.duration import DurationUnit
from shared.contracts.compliance import NonconformityCode, Outcome
from shared.contracts.events import Channel
from shared.contracts.registry import AgencyLevel


def test_every_code_of_the_contracts_has_a_vietnamese_and_an_english_word() -> None:
    assert set(vocabulary.RULES) == {c.value for c in NonconformityCode}
    assert set(vocabulary.OUTCOME) == {o.value for o in Outcome}
    assert set(vocabulary.CHANNEL) == {c.value for c in Channel}
    assert set(vocabulary.LEVEL) == {lv.value for lv in AgencyLevel}
    assert set(vocabulary.UNIT) == {u.value for u in DurationUnit}
    assert set(vocabulary.DOSSIER_STATUS) == set(range(1, 11))
    for code in vocabulary.RULES:
        assert vocabulary.rule_name(code, "vi") != vocabulary.rule_name(code, "en")
        assert vocabulary.rule_explanation(code, "vi").endswith(".")


@pytest.mark.parametrize(
    ("value", "unit", "vi", "en"),
    [
        (1, "working_hours", "1 giờ làm việc", "1 working hour"),
        (3, "working_days", "3 ngày làm việc", "3 working days"),
        (Decimal("2.50"), "working_days", "2,5 ngày làm việc", "2.5 working days"),
        (Decimal("0.25"), "working_days", "0,25 ngày làm việc", "0.25 working days"),
        (1200, "calendar_days", "1.200 ngày", "1,200 days"),
    ],
)
def test_durations_read_as_people_write_them(value: object, unit: str, vi: str, en: str) -> None:
    assert vocabulary.duration(value, unit, "vi") == vi  # type: ignore[arg-type]
    assert vocabulary.duration(value, unit, "en") == en  # type: ignore[arg-type]


def test_portal_statuses_and_channels_in_words() -> None:
    assert vocabulary.dossier_status(9) == "Đã xử lý xong"
    assert vocabulary.channel(3) == "Dịch vụ bưu chính công ích"
    assert vocabulary.nc_status("corrective_action") == "Đang khắc phục"
    assert vocabulary.dossier_status(42) == "Không xác định"  # a new code shows, it is not hidden
