"""Reading statutory processing times (thời hạn giải quyết) as written in the national TTHC database."""

from __future__ import annotations

import csv
import unicodedata
from decimal import Decimal
from pathlib import Path

import pytest

from services.registry.domain.statutory_time import (
    CatalogParseReport,
    ParsedTime,
    TimeParseError,
    TimeVariant,
    parse_catalog_times,
    parse_statutory_time,
)
from shared.calendar import Duration, DurationUnit

CATALOG = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "tthc_catalog.csv"

WD = DurationUnit.WORKING_DAYS
CD = DurationUnit.CALENDAR_DAYS
WH = DurationUnit.WORKING_HOURS
MO = DurationUnit.MONTHS
NO_DURATION = "no number followed by a time unit (ngày làm việc, ngày, giờ, tháng)"


def durations(parsed: ParsedTime) -> list[tuple[Decimal, DurationUnit]]:
    return [(v.duration.value, v.duration.unit) for v in parsed.variants]


@pytest.mark.parametrize(
    ("text", "value", "unit"),
    [
        ("8 Ngày làm việc", "8", WD),
        (" 20 ngày làm việc ", "20", WD),
        ("03 ngày làm việc", "3", WD),
        ("5 ngay lam viec", "5", WD),
        ("5 NGÀY LÀM VIỆC", "5", WD),
        ("5 ngàylàmviệc", "5", WD),
        ("5Ngày  làm\u00a0việc", "5", WD),
        ("15 Ngày", "15", CD),
        ("30 ngày", "30", CD),
        ("30 ngay", "30", CD),
        ("24 Giờ", "24", WH),
        ("1 giờ", "1", WH),
        ("12 giờ làm việc", "12", WH),
        ("8 gio lam viec", "8", WH),
        ("4 tiếng", "4", WH),
        ("3 tháng", "3", MO),
        ("12 Tháng", "12", MO),
        ("6 thang", "6", MO),
        ("2 tuần", "14", CD),
        ("0,5 ngày", "0.5", CD),
        ("1.5 Ngày làm việc", "1.5", WD),
        ("1,5 ngày làm việc", "1.5", WD),
    ],
)
def test_single_variant_shapes(text: str, value: str, unit: DurationUnit) -> None:
    parsed = parse_statutory_time(text)
    assert parsed.primary == Duration(Decimal(value), unit)
    assert len(parsed.variants) == 1
    assert parsed.variants[0].text == text.strip()
    assert parsed.variants[0].note is None
    assert parsed.skipped == ()


def test_multi_variant_cell_keeps_source_order() -> None:
    parsed = parse_statutory_time("60 Ngày làm việc | 30 ngày | 45 ngày | 60 ngày")
    assert durations(parsed) == [
        (Decimal(60), WD),
        (Decimal(30), CD),
        (Decimal(45), CD),
        (Decimal(60), CD),
    ]
    assert parsed.primary == Duration(Decimal(60), WD)
    assert [v.text for v in parsed.variants] == ["60 Ngày làm việc", "30 ngày", "45 ngày", "60 ngày"]


def test_same_duration_written_twice_is_kept_once_at_first_position() -> None:
    parsed = parse_statutory_time("8 Giờ | 08 giờ làm việc | 30 ngày | 02 ngày làm việc")
    assert durations(parsed) == [(Decimal(8), WH), (Decimal(30), CD), (Decimal(2), WD)]
    assert parsed.variants[0].text == "8 Giờ"


def test_decimal_variants_with_comma_and_point_are_the_same_duration() -> None:
    parsed = parse_statutory_time("1.5 Ngày làm việc | 01 ngày làm việc | 1,5 ngày làm việc")
    assert durations(parsed) == [(Decimal("1.5"), WD), (Decimal(1), WD)]


def test_qualifier_words_become_the_note() -> None:
    parsed = parse_statutory_time(
        "05 ngày làm việc | Trực tuyến: 03 ngày làm việc | 10 ngày (trường hợp phải xác minh)"
    )
    assert [(v.duration, v.note) for v in parsed.variants] == [
        (Duration(Decimal(5), WD), None),
        (Duration(Decimal(3), WD), "Trực tuyến"),
        (Duration(Decimal(10), CD), "trường hợp phải xác minh"),
    ]


def test_decomposed_unicode_is_normalised_before_matching() -> None:
    decomposed = unicodedata.normalize("NFD", "7 Ngày làm việc")
    assert decomposed != "7 Ngày làm việc"
    parsed = parse_statutory_time(decomposed)
    assert parsed.primary == Duration(Decimal(7), WD)
    assert parsed.variants[0].text == "7 Ngày làm việc"


def test_unreadable_variant_is_skipped_when_another_parses() -> None:
    parsed = parse_statutory_time("5 Ngày làm việc | theo quy định | 02 năm | 05 ngày làm việc")
    assert durations(parsed) == [(Decimal(5), WD)]
    assert parsed.skipped == ("theo quy định", "02 năm")


def test_day_month_pair_is_a_date_not_months() -> None:
    # "ngày 30 tháng 6 năm 2020" cut into variants by the national database's extraction
    parsed = parse_statutory_time("3 Ngày làm việc | 30 tháng | 6 năm | 3 tháng")
    assert durations(parsed) == [(Decimal(3), WD), (Decimal(3), MO)]
    assert parsed.skipped == ("30 tháng", "6 năm")


def test_months_not_followed_by_a_year_are_months() -> None:
    parsed = parse_statutory_time("6 Tháng | 04 tháng | 02 tháng")
    assert durations(parsed) == [(Decimal(6), MO), (Decimal(4), MO), (Decimal(2), MO)]


def test_time_parse_error_message_names_the_text_and_the_expected_shape() -> None:
    with pytest.raises(TimeParseError) as caught:
        parse_statutory_time("theo quy định")
    message = str(caught.value)
    assert message.startswith('cannot read "theo quy định" as a processing time: ')
    assert 'expected "<number> <unit>" such as "8 Ngày làm việc", "15 Ngày", "24 Giờ", "3 tháng"' in message
    assert caught.value.reason == NO_DURATION
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("text", ["", "   ", " | "])
def test_empty_text_is_an_error(text: str) -> None:
    with pytest.raises(TimeParseError, match=r"cannot read .* as a processing time: the text is empty"):
        parse_statutory_time(text)


@pytest.mark.parametrize(
    ("text", "reason_part"),
    [
        ("Không quy định", "no number followed by a time unit"),
        ("15", "no number followed by a time unit"),
        ("30 tháng | 6 năm", "reads as a date"),
        ("2 năm", "years ('năm') are not a processing-time unit"),
        ("1,5 tháng", "months must be whole"),
        ("3 ngày làm việc hoặc 5 ngày", "more than one duration in one variant"),
        ("15 ngàyx", "no number followed by a time unit"),
    ],
)
def test_unreadable_text_fails_with_a_reason(text: str, reason_part: str) -> None:
    with pytest.raises(TimeParseError) as caught:
        parse_statutory_time(text)
    assert reason_part in caught.value.reason
    assert f'cannot read "{text}"' in str(caught.value)


def test_parsed_time_needs_a_variant() -> None:
    with pytest.raises(ValueError, match="at least one variant"):
        ParsedTime(variants=())
    variant = TimeVariant(Duration(Decimal(1), WD), "1 ngày làm việc", None)
    assert ParsedTime((variant,)).primary == Duration(Decimal(1), WD)


def test_catalog_report_counts_rows_and_numbers_failures_from_the_header() -> None:
    rows = [
        {"thoi_han_all": "8 Ngày làm việc"},
        {"thoi_han_all": ""},
        {"thoi_han_all": "Không quy định"},
        {"thoi_han_all": "15 Ngày | 15 ngày"},
        {"other": "x"},
    ]
    report = parse_catalog_times(rows)
    assert report == CatalogParseReport(
        rows_total=5,
        rows_with_time=3,
        rows_parsed=2,
        failures=((4, "Không quy định", NO_DURATION),),
    )
    assert report.parsed_share == pytest.approx(2 / 3)


def test_catalog_report_reads_another_column() -> None:
    report = parse_catalog_times([{"thoi_han_first": "24 Giờ", "thoi_han_all": ""}], column="thoi_han_first")
    assert (report.rows_with_time, report.rows_parsed, report.failures) == (1, 1, ())


def test_real_catalog_parses_at_least_95_percent_of_rows_with_a_time() -> None:
    if not CATALOG.is_file():
        pytest.skip(f"../shared/data/tthc_catalog.csv not found: looked for {CATALOG}")
    with CATALOG.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with CATALOG.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        column = header.index("thoi_han_all")
        data_rows = list(reader)
    expected_with_time = sum(1 for row in data_rows if row[column].strip())

    report = parse_catalog_times(rows)

    assert report.rows_total == len(data_rows)
    assert report.rows_with_time == expected_with_time
    assert report.rows_parsed == report.rows_with_time - len(report.failures)
    assert report.parsed_share >= 0.95, report.failures[:20]
    for row_number, text, reason in report.failures:
        assert data_rows[row_number - 2][column] == text
        assert reason
