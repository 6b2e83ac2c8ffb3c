"""Legal profiles: the law a dossier is judged by (issue #17).

A profile is registry data (:class:`~shared.contracts.registry.LegalProfileRecord`): time zone,
holiday calendar (country and subdivision of the `holidays` package, the registry's overrides,
its own extra days), whether calendar-day periods roll over a day off, office hours and the
in-person cut-off, which event stops the clock, which rule codes apply. It becomes the engine's
two inputs, a :class:`WorkingCalendar` and :class:`ClockRules`; the engine stays pure.

Which profile judges a dossier: the procedure's, else its agency's, else the deployment's
(``TTHC_LEGAL_PROFILE``); of that code, the version in force on the acceptance date (the date as
written in the event). A code the registry does not (yet) have falls back to the built-in
Vietnamese default made from the settings, so a deployment without profiles judges as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from zoneinfo import ZoneInfo

from services.processing.domain.inputs import ClockRules, ClockStop
from shared.calendar import CalendarOverrides, DateWindow, OfficeHours, WorkingCalendar
from shared.contracts.events import DossierEvent, EventType, occurred_order
from shared.contracts.registry import LegalProfileRecord

VIETNAM = "VN"


def judging_date(events: Iterable[DossierEvent]) -> date:
    """The date whose profile version applies: the acceptance's (as written), else the first event's."""
    ordered = sorted(events, key=occurred_order)
    accepted = next((e for e in ordered if e.event_type is EventType.ACCEPTED), ordered[0])
    return accepted.occurred_at.date()


def profile_in_force(versions: Iterable[LegalProfileRecord], on: date) -> LegalProfileRecord | None:
    """The version in force on ``on``: latest ``effective_from`` not after it (like ISO processes)."""
    candidates = [v for v in versions if v.effective_from <= on]
    if not candidates:
        return None
    return max(candidates, key=lambda v: (v.effective_from, v.version))


def calendar_of(
    profile: LegalProfileRecord, registry_overrides: CalendarOverrides, window: DateWindow
) -> WorkingCalendar:
    """The working-day calendar of ``profile`` (its own extra days win over the registry's)."""
    days_off = set(profile.days_off)
    working = set(profile.working_days)
    if profile.registry_overrides:
        days_off |= registry_overrides.days_off - working
        working |= registry_overrides.working_days - days_off
    return WorkingCalendar(
        office_hours=OfficeHours.parse(profile.office_hours),
        overrides=CalendarOverrides(days_off=frozenset(days_off), working_days=frozenset(working)),
        tz=ZoneInfo(profile.timezone),
        country=profile.holiday_country,
        subdivision=profile.holiday_subdivision,
        roll_over_day_off=profile.roll_over_day_off,
        window=window,
    )


def rules_of(profile: LegalProfileRecord, base: ClockRules) -> ClockRules:
    """``base`` (the deployment's legal numbers) with the profile's cut-off, clock stop and rules."""
    return replace(
        base,
        in_person_cutoff=profile.in_person_cutoff or base.in_person_cutoff,
        in_person_transfer=profile.in_person_cutoff is not None,
        clock_stop=ClockStop(profile.clock_stop),
        rule_codes=frozenset(profile.rule_codes) if profile.rule_codes is not None else None,
        observed_until=profile.observed_until,
    )


@dataclass
class LegalProfiles:
    """Every profile the registry has, and the (calendar, rules) pair each version makes.

    A :class:`WorkingCalendar` caches its working-day index, so one is kept per profile version
    and reused for every dossier it judges.
    """

    default_calendar: WorkingCalendar  # the built-in Vietnamese default (settings)
    default_rules: ClockRules
    default_code: str = VIETNAM
    records: tuple[LegalProfileRecord, ...] = ()
    registry_overrides: CalendarOverrides = field(default_factory=CalendarOverrides)
    _made: dict[tuple[str, int], tuple[WorkingCalendar, ClockRules]] = field(default_factory=dict)

    def refresh(self, records: Iterable[LegalProfileRecord], registry_overrides: CalendarOverrides) -> None:
        """New registry data: forget the calendars made from the old."""
        self.records = tuple(records)
        self.registry_overrides = registry_overrides
        self._made.clear()

    def code_for(self, procedure_profile: str | None, agency_profile: str | None) -> str:
        """The profile code judging a dossier: the procedure's, else the agency's, else the deployment's."""
        return procedure_profile or agency_profile or self.default_code

    def for_dossier(
        self, procedure_profile: str | None, agency_profile: str | None, on: date
    ) -> tuple[WorkingCalendar, ClockRules]:
        """(calendar, rules) of the profile version in force on ``on`` for this dossier."""
        code = self.code_for(procedure_profile, agency_profile)
        record = profile_in_force((r for r in self.records if r.code == code), on)
        if record is None:
            return self.default_calendar, self.default_rules
        key = (record.code, record.version)
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = (
                calendar_of(record, self.registry_overrides, self.default_calendar.window),
                rules_of(record, self.default_rules),
            )
        return made
