"""Builders shared by the engine tests (no tests here).

Office hours are the defaults (07:30-11:30, 13:00-17:00: 8 h a day); every expected date in
the engine tests is counted by hand on the real Vietnamese calendar.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from services.processing.domain.engine import ClockRules, ProcedureTerms, ProcessContext, assess
from shared.calendar import Duration, DurationUnit, WorkingCalendar
from shared.contracts.compliance import DossierAssessment, NonconformityRecord
from shared.contracts.events import Channel, DossierEvent, dossier_event_adapter
from shared.contracts.registry import IsoProcessRecord, IsoStep, StepBudget

VN = ZoneInfo("Asia/Ho_Chi_Minh")
CAL = WorkingCalendar()
RULES = ClockRules(
    in_person_cutoff=time(15, 0),
    supplement_window_working_days=Decimal(3),
    apology_lead_working_days=Decimal(1),
)
AGENCY = "000.00.13.H13"
PROCEDURE = "1.001612"
WD = DurationUnit.WORKING_DAYS
WH = DurationUnit.WORKING_HOURS
CD = DurationUnit.CALENDAR_DAYS
MO = DurationUnit.MONTHS
ONLINE = Channel.ONLINE
IN_PERSON = Channel.IN_PERSON


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=VN)


def terms(value: int | str = 5, unit: DurationUnit = WD, **more: Any) -> ProcedureTerms:
    return ProcedureTerms(PROCEDURE, Duration(Decimal(value), unit), **more)


def step(
    code: str, unit: str, value: int | str, budget_unit: DurationUnit = WH, optional: bool = False
) -> IsoStep:
    return IsoStep(
        code=code,
        name=f"Bước {code}",
        responsible_unit=unit,
        budget=StepBudget(value=Decimal(value), unit=budget_unit),  # type: ignore[arg-type]
        optional=optional,
    )


def iso_process(
    *steps: IsoStep, version: int = 1, effective_from: date = date(2025, 1, 1)
) -> IsoProcessRecord:
    return IsoProcessRecord(
        agency_code=AGENCY,
        procedure_code=PROCEDURE,
        version=version,
        effective_from=effective_from,
        steps=steps,
    )


def in_scope(*versions: IsoProcessRecord) -> ProcessContext:
    return ProcessContext(in_iso_scope=True, versions=versions)


class Dossier:
    """Builds one dossier's events; each method returns the new event's id."""

    def __init__(self, serial: str = "0001") -> None:
        self.code = f"{AGENCY}-250303-{serial}"
        self.events: list[DossierEvent] = []

    def _add(self, kind: str, when: datetime, payload: dict[str, Any] | None = None) -> str:
        event_id = f"{self.code}/{len(self.events) + 1}"
        self.events.append(
            dossier_event_adapter.validate_python(
                {
                    "event_id": event_id,
                    "event_type": f"dossier.{kind}",
                    "occurred_at": when,
                    "source": "test",
                    "dossier_code": self.code,
                    "agency_code": AGENCY,
                    "procedure_code": PROCEDURE,
                    "payload": payload or {},
                }
            )
        )
        return event_id

    def submitted(self, when: datetime, channel: Channel = ONLINE) -> str:
        return self._add("submitted", when, {"channel": int(channel)})

    def accepted(self, when: datetime, channel: Channel = ONLINE, appointed: datetime | None = None) -> str:
        payload: dict[str, Any] = {"channel": int(channel)}
        if appointed is not None:
            payload["appointed_return_at"] = appointed
        return self._add("accepted", when, payload)

    def step(self, when: datetime, code: str, unit: str, to_unit: str | None = None) -> str:
        return self._add("step_completed", when, {"step_code": code, "from_unit": unit, "to_unit": to_unit})

    def supplement_requested(self, when: datetime) -> str:
        return self._add("supplement_requested", when, {"reason": "thiếu giấy tờ"})

    def supplement_received(self, when: datetime) -> str:
        return self._add("supplement_received", when)

    def apology(self, when: datetime, new_date: datetime) -> str:
        return self._add("apology_issued", when, {"new_appointment_at": new_date})

    def resolved(self, when: datetime) -> str:
        return self._add("resolved", when, {"result_code": "OK"})

    def returned(self, when: datetime) -> str:
        return self._add("result_returned", when)

    def withdrawn(self, when: datetime) -> str:
        return self._add("withdrawn", when)

    def stopped(self, when: datetime) -> str:
        return self._add("stopped", when, {"reason": "không đủ điều kiện"})

    def not_accepted(self, when: datetime) -> str:
        return self._add("not_accepted", when, {"reason": "sai thẩm quyền"})

    def assess(
        self,
        now: datetime,
        procedure: ProcedureTerms | None = None,
        process: ProcessContext | None = None,
        rules: ClockRules = RULES,
        calendar: WorkingCalendar = CAL,
    ) -> DossierAssessment:
        return assess(
            self.events, procedure if procedure is not None else terms(), calendar, rules, now, process
        )


def codes(a: DossierAssessment) -> list[str]:
    return [n.code for n in a.nonconformities]


def only(a: DossierAssessment, code: str) -> NonconformityRecord:
    found = [n for n in a.nonconformities if n.code == code]
    assert len(found) == 1, f"expected one {code}, got {codes(a)}"
    return found[0]
