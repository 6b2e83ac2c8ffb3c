"""Legal profiles (issue #17): each field of the profile changes the verdict, with exact dates.

Expected dates are counted by hand on the calendars named (Italy with Rome's holidays, Vietnam)
and written out in each test; none is computed by the code under test.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.processing.domain.engine import ProcedureTerms, assess, evaluate
from services.processing.domain.legal_profile import LegalProfiles, calendar_of, rules_of
from shared.calendar import CalendarOverrides, DateWindow, Duration, DurationUnit
from shared.contracts.compliance import Outcome
from shared.contracts.registry import LegalProfileRecord
from tests.unit.test_engine_fixtures import CAL, IN_PERSON, PROCEDURE, RULES, Dossier, at, codes

ROME = ZoneInfo("Europe/Rome")
WINDOW = DateWindow(date(2000, 1, 1), date(2031, 12, 31))


def profile(**fields: Any) -> LegalProfileRecord:
    base: dict[str, Any] = {"code": "TEST", "version": 1, "effective_from": date(2000, 1, 1), "name": "test"}
    return LegalProfileRecord.model_validate(base | fields)


def judged_by(record: LegalProfileRecord) -> tuple[Any, Any]:
    return calendar_of(record, CalendarOverrides(), WINDOW), rules_of(record, RULES)


ITALY_ROME = profile(
    code="IT-RM",
    name="Roma",
    timezone="Europe/Rome",
    holiday_country="IT",
    holiday_subdivision="RM",
    registry_overrides=False,
    office_hours="09:00-13:00,14:00-18:00",
)


def rome(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=ROME)


def calendar_days(n: int) -> ProcedureTerms:
    return ProcedureTerms(PROCEDURE, Duration(Decimal(n), DurationUnit.CALENDAR_DAYS))


def working_days(n: int) -> ProcedureTerms:
    return ProcedureTerms(PROCEDURE, Duration(Decimal(n), DurationUnit.WORKING_DAYS))


# ---- time zone -----------------------------------------------------------------------------


def test_rome_profile_counts_90_calendar_days_in_rome_across_the_dst_change() -> None:
    cal, rules = judged_by(ITALY_ROME)
    d = Dossier()
    d.accepted(rome(2024, 3, 1, 10))  # Fri 1 Mar 2024, 10:00 CET (+01:00)
    # Day 90 is Thu 30 May 2024 (31 + 30 + 29 days), same wall-clock 10:00, now CEST (+02:00): 08:00 UTC.
    a = assess(d.events, calendar_days(90), cal, rules, rome(2024, 3, 2))
    assert a.due_at == rome(2024, 5, 30, 10)
    assert a.due_at.utcoffset() == timedelta(hours=2)
    assert a.index_due_at == a.due_at  # both clock views on the profile's calendar
    late = Dossier()
    late.accepted(rome(2024, 3, 1, 10))
    late.resolved(rome(2024, 5, 30, 10, 30))  # 08:30 UTC: late in Rome
    assert assess(late.events, calendar_days(90), cal, rules, rome(2024, 6, 1)).outcome is Outcome.LATE
    # The deployment's Vietnamese calendar would have put the due moment at 10:00 +07:00 + 90 days
    # = 09:00 UTC and called the same resolution on time (the 241 cases of issue #17).
    vn = assess(late.events, calendar_days(90), CAL, RULES, rome(2024, 6, 1))
    assert vn.outcome is Outcome.ON_TIME


def test_rome_profile_working_days_skip_easter_monday_and_rome_patron_saints() -> None:
    cal, rules = judged_by(ITALY_ROME)
    d = Dossier()
    d.accepted(rome(2024, 3, 28, 10))  # Thu 28 Mar 2024
    # Fri 29 Mar (1), weekend with the DST change, Mon 1 Apr Easter Monday, Tue 2 Apr (2), Wed 3 Apr (3).
    a = assess(d.events, working_days(3), cal, rules, rome(2024, 3, 29))
    assert a.due_at == rome(2024, 4, 3, 10)
    d2 = Dossier()
    d2.accepted(rome(2023, 6, 28, 10))  # Wed 28 Jun 2023; Thu 29 Jun is Saints Peter and Paul in Rome
    assert assess(d2.events, working_days(1), cal, rules, rome(2023, 6, 28, 11)).due_at == rome(
        2023, 6, 30, 10
    )


def test_rome_office_hours_and_cutoff_apply_in_rome() -> None:
    cal, rules = judged_by(ITALY_ROME.model_copy(update={"in_person_cutoff": time(12, 0)}))
    d = Dossier()
    # In person at 12:30 Rome time: after the profile's 12:00 cut-off → counts from Fri 09:00.
    d.accepted(rome(2024, 3, 7, 12, 30), channel=IN_PERSON)
    a = assess(
        d.events,
        ProcedureTerms(PROCEDURE, Duration(Decimal(4), DurationUnit.WORKING_HOURS)),
        cal,
        rules,
        rome(2024, 3, 7, 13),
    )
    # Fri 8 Mar 09:00 + 4 office hours = 13:00 (the end of the morning period).
    assert a.due_at == rome(2024, 3, 8, 13)


# ---- roll-over ------------------------------------------------------------------------------


def test_a_no_roll_over_profile_ends_on_a_sunday_90th_day() -> None:
    plain = profile(roll_over_day_off=False)
    cal, rules = judged_by(plain)
    d = Dossier()
    d.accepted(at(2025, 3, 3, 9))  # Mon 3 Mar 2025; day 90 is Sun 1 Jun 2025
    d.resolved(at(2025, 6, 2, 8))  # Monday 08:00
    a = assess(d.events, calendar_days(90), cal, rules, at(2025, 6, 3))
    assert a.due_at == at(2025, 6, 1, 9)
    assert a.outcome is Outcome.LATE
    # Vietnam (Civil Code art. 148(5)) rolls the Sunday over to the end of Monday 2 Jun: on time.
    vn_cal, vn_rules = judged_by(profile())
    vn = assess(d.events, calendar_days(90), vn_cal, vn_rules, at(2025, 6, 3))
    assert vn.due_at == at(2025, 6, 2, 17)
    assert vn.outcome is Outcome.ON_TIME


# ---- clock stop -----------------------------------------------------------------------------


def test_result_returned_stops_the_clock() -> None:
    cal, rules = judged_by(profile(clock_stop="result_returned"))
    d = Dossier()
    d.accepted(at(2025, 3, 10, 9))  # Mon; 5 working days → due Mon 17 Mar 09:00
    d.resolved(at(2025, 3, 14, 9))
    returned = at(2025, 3, 18, 9)
    d.returned(returned)
    a = assess(d.events, working_days(5), cal, rules, at(2025, 3, 20))
    assert (a.due_at, a.resolved_at, a.outcome) == (at(2025, 3, 17, 9), returned, Outcome.LATE)
    assert a.processing_working_days == 6.0
    assert "LATE" in codes(a)
    # The Vietnamese default stops at the resolution: early.
    vn = assess(d.events, working_days(5), CAL, RULES, at(2025, 3, 20))
    assert (vn.outcome, vn.resolved_at) == (Outcome.EARLY, at(2025, 3, 14, 9))


def test_resolved_but_not_returned_is_still_running_when_the_return_stops_the_clock() -> None:
    cal, rules = judged_by(profile(clock_stop="result_returned"))
    d = Dossier()
    d.accepted(at(2025, 3, 10, 9))
    d.resolved(at(2025, 3, 14, 9))
    a = assess(d.events, working_days(5), cal, rules, at(2025, 3, 17, 10))
    assert a.outcome is Outcome.PENDING_OVERDUE
    assert "OVERDUE" in codes(a)


# ---- rule switches --------------------------------------------------------------------------

ALL_BUT_VIETNAM_ONLY = (
    "LATE",
    "OVERDUE",
    "STEP_LATE",
    "STEP_OVERDUE",
    "STEP_SKIPPED",
    "STEP_ORDER",
    "WRONG_UNIT",
)


def test_a_rule_switched_off_is_never_raised() -> None:
    cal, rules = judged_by(profile(rule_codes=ALL_BUT_VIETNAM_ONLY))
    d = Dossier()
    d.accepted(at(2025, 3, 10, 9))  # due Mon 17 Mar 09:00; nobody apologised
    now = at(2025, 3, 20, 9)
    assert codes(d.assess(now)) == ["APOLOGY_MISSING", "OVERDUE"]  # Vietnamese default
    a = assess(d.events, working_days(5), cal, rules, now)
    assert codes(a) == ["OVERDUE"]
    # An unknown procedure is OUT_OF_SCOPE in Vietnam, not for a profile without that rule.
    assert codes(assess(d.events, None, cal, rules, now)) == []
    assert "OUT_OF_SCOPE" in codes(assess(d.events, None, CAL, RULES, now))


def test_unknown_profile_fields_are_refused_with_the_field_and_the_fix() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        profile(timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="unknown rule code"):
        profile(rule_codes=("LATEE",))
    with pytest.raises(ValidationError, match="holidays package"):
        profile(holiday_country="IT", holiday_subdivision="XX")
    with pytest.raises(ValidationError, match="office"):
        profile(office_hours="9-5")
    with pytest.raises(ValidationError, match="clock_stop"):
        profile(clock_stop="submitted")


# ---- which profile, which version -----------------------------------------------------------


def test_the_version_in_force_on_the_acceptance_date_and_the_attachment_order_apply() -> None:
    v1 = profile(code="EU", version=1, effective_from=date(2024, 1, 1), roll_over_day_off=True)
    v2 = profile(code="EU", version=2, effective_from=date(2025, 1, 1), roll_over_day_off=False)
    other = profile(code="OTHER", clock_stop="result_returned")
    book = LegalProfiles(default_calendar=CAL, default_rules=RULES, records=(v1, v2, other))
    assert book.for_dossier("EU", None, date(2024, 12, 31))[0].roll_over_day_off is True
    assert book.for_dossier("EU", None, date(2025, 1, 1))[0].roll_over_day_off is False
    assert book.for_dossier(None, "OTHER", date(2025, 1, 1))[1].clock_stop == "result_returned"
    assert book.for_dossier("EU", "OTHER", date(2025, 1, 1))[1].clock_stop == "resolved"  # procedure wins
    # No attachment and no registry profile of the deployment's code: the settings' default.
    assert book.for_dossier(None, None, date(2025, 1, 1)) == (CAL, RULES)
    assert book.for_dossier("EU", None, date(2023, 12, 31)) == (CAL, RULES)  # none in force yet
    # One calendar per version, reused (it caches its working-day index).
    assert (
        book.for_dossier("EU", None, date(2025, 6, 1))[0] is book.for_dossier("EU", None, date(2026, 1, 1))[0]
    )


def test_the_profiles_own_days_win_and_the_registry_swaps_apply_only_when_asked() -> None:
    swaps = CalendarOverrides(days_off=frozenset({date(2025, 3, 11)}))  # a decreed Tuesday off
    with_registry = calendar_of(profile(), swaps, WINDOW)
    without = calendar_of(profile(registry_overrides=False), swaps, WINDOW)
    own = calendar_of(profile(working_days=(date(2025, 3, 11),)), swaps, WINDOW)
    assert not with_registry.is_working_day(date(2025, 3, 11))
    assert without.is_working_day(date(2025, 3, 11))
    assert own.is_working_day(date(2025, 3, 11))
    assert with_registry.tz == ZoneInfo("Asia/Ho_Chi_Minh")


# ---- no cut-off, end of a historical log ----------------------------------------------------


def test_a_profile_without_cutoff_starts_the_clock_at_the_reception_itself() -> None:
    cal, rules = judged_by(profile(in_person_cutoff=None))
    d = Dossier()
    d.accepted(at(2025, 3, 13, 16), channel=IN_PERSON)  # Thu 16:00, after Vietnam's 15:00 cut-off
    four_hours = ProcedureTerms(PROCEDURE, Duration(Decimal(4), DurationUnit.WORKING_HOURS))
    # From Thu 16:00: 1 h to 17:00, then Fri 07:30 + 3 h = 10:30.
    assert assess(d.events, four_hours, cal, rules, at(2025, 3, 13, 17)).due_at == at(2025, 3, 14, 10, 30)
    # Vietnam moves it to Fri 07:30 first: + 4 h = 11:30.
    assert assess(d.events, four_hours, CAL, RULES, at(2025, 3, 13, 17)).due_at == at(2025, 3, 14, 11, 30)


END_OF_LOG = at(2025, 3, 31, 17)


def test_a_dossier_open_at_the_end_of_a_historical_log_is_censored_not_pending_overdue() -> None:
    cal, rules = judged_by(profile(observed_until=END_OF_LOG))
    d = Dossier()
    d.accepted(at(2025, 3, 10, 9))  # due Mon 17 Mar 09:00, never resolved in the log
    today = datetime(2026, 12, 3, 9, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    evaluation = evaluate(d.events, working_days(5), cal, rules, today)
    a = evaluation.assessment
    assert (a.outcome, a.index_outcome, a.closed_at) == (Outcome.OPEN_AT_END, Outcome.OPEN_AT_END, END_OF_LOG)
    assert a.outcome.value == "open_at_end_of_log"
    assert a.assessed_at == today
    # What the log did show stays: it was overdue from 17 Mar and nobody apologised.
    assert codes(a) == ["APOLOGY_MISSING", "OVERDUE"]
    assert evaluation.next_deadline is None  # no timer after the end of the log
    # The same dossier as live data is pending overdue today.
    assert assess(d.events, working_days(5), CAL, RULES, today).outcome is Outcome.PENDING_OVERDUE


def test_before_the_end_of_the_log_a_dossier_is_judged_normally_and_wakes_at_the_end() -> None:
    cal, rules = judged_by(profile(observed_until=END_OF_LOG))
    d = Dossier()
    d.accepted(at(2025, 3, 10, 9))
    evaluation = evaluate(d.events, working_days(5), cal, rules, at(2025, 3, 20, 9))
    assert evaluation.assessment.outcome is Outcome.PENDING_OVERDUE
    assert evaluation.next_deadline == END_OF_LOG
    resolved = Dossier()
    resolved.accepted(at(2025, 3, 10, 9))
    resolved.resolved(at(2025, 3, 18, 9))  # resolved inside the log: late, not censored
    a = assess(resolved.events, working_days(5), cal, rules, at(2026, 12, 3))
    assert (a.outcome, a.closed_at) == (Outcome.LATE, at(2025, 3, 18, 9))
