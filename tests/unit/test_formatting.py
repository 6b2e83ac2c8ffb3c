from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from shared import formatting as f

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def test_counts_group_thousands_with_a_dot_in_vietnamese_and_a_comma_in_english() -> None:
    assert f.number(1234) == "1.234"
    assert f.number(10_500_000) == "10.500.000"
    assert f.number(7) == "7"
    assert f.number(1234, lang="en") == "1,234"
    assert f.number(None) == "–"


def test_decimals_use_a_comma_and_round_half_up_like_the_forms() -> None:
    assert f.decimal(2.456) == "2,46"
    assert f.decimal(2.455) == "2,46"  # half up, not banker's rounding or binary float error
    assert f.decimal(Decimal("1234.5"), 1) == "1.234,5"
    assert f.decimal(2.456, lang="en") == "2.46"


def test_percentages_are_ratios_shown_with_one_decimal() -> None:
    assert f.percent(0.8421) == "84,2 %"
    assert f.percent(0.5517) == "55,2 %"
    assert f.percent(1) == "100,0 %"
    assert f.percent(0.8421, lang="en") == "84.2%"
    assert f.percent(None) == "–"


def test_dates_and_moments_are_day_first_in_the_local_time_zone() -> None:
    assert f.day(date(2026, 3, 5)) == "05/03/2026"
    # 17:30 UTC on 31 Dec is already 1 Jan in Viet Nam
    assert f.moment(datetime(2025, 12, 31, 17, 30, tzinfo=UTC), HCM) == "01/01/2026 00:30"
    with pytest.raises(ValueError, match="time zone"):
        f.moment(datetime(2026, 1, 1, 8, 0), HCM)
