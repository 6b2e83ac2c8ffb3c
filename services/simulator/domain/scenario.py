"""Dossier scenarios and their ground truth, by construction, from a seeded ``random.Random``.

Every dossier follows one *template*: a fate (resolved, still open, withdrawn, stopped, not
accepted) and the violations injected into it. The template says which nonconformity codes the
dossier must carry, because the timeline is built to produce exactly them and nothing else:
steps take a share of their budget (clean) or their budget plus whole working days (late),
the resolution lands well before or whole working days after the due moment, and so on.
Times are placed with the working-day calendar (``shared.calendar``) only — never with the
compliance engine — and every injected case stays hours or days away from any boundary.

Open dossiers depend on *now* (timers): they are built against ``reference`` (the moment the
stream is generated for, normally the start of today) so that every deadline a timer judges
lies at least a day before it (OVERDUE, STEP_OVERDUE, APOLOGY_MISSING) or at least two days
after it (a clean open dossier), and every event happens before it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from services.simulator.domain.province import LEADER, ONE_STOP, Offering, Province
from shared.calendar import DurationUnit, WorkingCalendar
from shared.contracts.compliance import NonconformityCode as C
from shared.contracts.compliance import Outcome
from shared.contracts.events import Channel
from shared.contracts.registry import IsoStep, StepBudget

Event = dict[str, Any]
_TENTH = Decimal("0.1")


@dataclass(frozen=True)
class Rules:
    """The configurable legal numbers the scenarios must respect (the same settings as processing)."""

    in_person_cutoff: time
    supplement_window_working_days: Decimal
    apology_lead_working_days: Decimal
    apology_resets_allowed: int


@dataclass(frozen=True)
class Template:
    """A kind of dossier: its fate, the codes it must carry, the statutory time it needs."""

    name: str
    codes: frozenset[C]
    min_days: int = 1  # shortest statutory time (working days) the construction fits in
    open: bool = False
    covered: bool = True  # needs an agency whose ISO process applies (else: out of scope)


def _t(name: str, *codes: C, min_days: int = 1, open: bool = False, covered: bool = True) -> Template:
    return Template(name, frozenset(codes), min_days, open, covered)


CLEAN_TEMPLATES: dict[str, tuple[Template, int]] = {
    # template, weight among clean dossiers
    "resolved": (_t("resolved"), 60),
    "resolved_with_supplement": (_t("resolved_with_supplement", min_days=5), 8),
    "resolved_with_fee": (_t("resolved_with_fee"), 8),
    "open": (_t("open", min_days=10, open=True), 8),
    "withdrawn": (_t("withdrawn", min_days=2), 4),
    "stopped": (_t("stopped", min_days=2), 4),
    "not_accepted": (_t("not_accepted"), 4),
}
VIOLATION_TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        _t("late_with_apology", C.LATE, C.STEP_LATE, min_days=3),
        _t("late_no_apology", C.LATE, C.STEP_LATE, C.APOLOGY_MISSING, min_days=3),
        _t("late_apology_late", C.LATE, C.STEP_LATE, C.APOLOGY_LATE, min_days=3),
        _t("apology_reset_twice", C.APOLOGY_LATE, min_days=5),
        _t("overdue_steps_done", C.OVERDUE, min_days=3, open=True),
        _t("overdue_stuck", C.OVERDUE, C.STEP_OVERDUE, C.APOLOGY_MISSING, open=True),
        _t("step_late", C.STEP_LATE, min_days=5),
        _t("step_overdue", C.STEP_OVERDUE, min_days=10, open=True),
        _t("step_skipped", C.STEP_SKIPPED),
        _t("step_order_swapped", C.STEP_ORDER),
        _t("step_not_in_process", C.STEP_ORDER),
        _t("wrong_unit", C.WRONG_UNIT),
        _t("appointment", C.APPOINTMENT),
        _t("supplement_late", C.SUPPLEMENT_LATE, min_days=15),
        _t("supplement_repeated", C.SUPPLEMENT_REPEATED, min_days=5),
        _t("out_of_scope_agency", C.OUT_OF_SCOPE, covered=False),
        _t("out_of_scope_procedure", C.OUT_OF_SCOPE, covered=False),
    )
}


@dataclass
class SimulatedDossier:
    """One dossier: its events (contract JSON as dicts, in occurred order) and its ground truth."""

    code: str
    template: str
    agency_code: str
    procedure_code: str
    channel: int
    events: list[Event]
    outcome: Outcome
    codes: frozenset[C]
    accepted_at: datetime | None = None
    due_at: datetime | None = None  # legal due moment (after a supplement: restarted)
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    # Decision 766 facts (None: the event that carries it was not emitted)
    digitized: bool | None = None
    result_digitized: bool | None = None
    satisfaction: int | None = None

    def truth(self) -> dict[str, Any]:
        """The ground-truth line of this dossier."""

        def iso(d: datetime | None) -> str | None:
            return d.isoformat() if d is not None else None

        return {
            "dossier_code": self.code,
            "template": self.template,
            "agency_code": self.agency_code,
            "procedure_code": self.procedure_code,
            "channel": self.channel,
            "outcome": self.outcome.value,
            "codes": sorted(c.value for c in self.codes),
            "accepted_at": iso(self.accepted_at),
            "due_at": iso(self.due_at),
            "resolved_at": iso(self.resolved_at),
            "closed_at": iso(self.closed_at),
            "events": len(self.events),
            "digitized": self.digitized,
            "result_digitized": self.result_digitized,
            "satisfaction": self.satisfaction,
        }


def _facts766(events: list[Event]) -> dict[str, Any]:
    """The ground truth of the Decision 766 facts: what the dossier's events say."""
    found: dict[str, Any] = {}
    for e in events:
        p = e["payload"]
        if e["event_type"] == "dossier.accepted" and "digitized" in p:
            found["digitized"] = p["digitized"]
        elif e["event_type"] == "dossier.resolved" and "result_digitized" in p:
            found["result_digitized"] = p["result_digitized"]
        elif e["event_type"] == "dossier.result_returned" and "satisfaction" in p:
            found["satisfaction"] = p["satisfaction"]
    return found


class Rejected(Exception):
    """This draw cannot satisfy the template's margins; draw again."""


@dataclass
class ScenarioConfig:
    dossiers: int
    seed: int
    reference: datetime  # "now" of the scenario: every event happens before it
    violation_rate: float = 0.3
    horizon_days: int = 75  # acceptances spread over this many days before the reference
    duplicate_rate: float = 0.01  # events sent twice (at-least-once emitters)
    source: str = "simulator"
    # a live feed sends one seeded batch after another: it fixes the two-digit tag of its codes for
    # the run and shares one numbering across batches (``Scenario(numbers=...)``), so batch 101 does
    # not reuse batch 1's codes for other dossiers
    code_tag: int | None = None


@dataclass
class _Draft:
    """A dossier being built."""

    sim: Scenario
    offering: Offering
    channel: Channel
    code: str
    index: int
    events: list[Event] = field(default_factory=list)

    def facts766(self) -> random.Random:
        """The Decision 766 draws (digitised, rated) come from their own seeded generator, keyed by
        the dossier, so adding them left every other draw of the stream as it was."""
        return random.Random(f"{self.sim.config.seed}:766:{self.code}")

    def emit(self, event_type: str, at: datetime, payload: dict[str, Any] | None = None) -> str:
        event_id = f"sim{self.sim.config.seed}-{self.index}-{len(self.events)}"
        self.events.append(
            {
                "event_id": event_id,
                "event_type": event_type,
                "occurred_at": at.isoformat(),
                "source": self.sim.config.source,
                "dossier_code": self.code,
                "agency_code": self.offering.agency,
                "procedure_code": self.offering.procedure.code,
                "payload": payload or {},
            }
        )
        return event_id


class Scenario:
    """Generates the dossiers of one seeded stream (pure: rng, calendar, rules, reference)."""

    def __init__(
        self,
        province: Province,
        calendar: WorkingCalendar,
        rules: Rules,
        config: ScenarioConfig,
        numbers: dict[tuple[str, date], int] | None = None,
    ):
        if rules.apology_resets_allowed < 1:
            raise ValueError("the simulator's apology scenarios need apology_resets_allowed >= 1")
        if config.reference.tzinfo is None:
            raise ValueError("the reference moment must carry a time zone")
        self.province = province
        self.calendar = calendar
        self.rules = rules
        self.config = config
        self.rng = random.Random(config.seed)
        self.reference = config.reference.astimezone(calendar.tz)
        self._numbers: dict[tuple[str, date], int] = {} if numbers is None else numbers
        self.day = calendar.office_hours.hours_per_day  # office hours of one working day

    # ---- time ---------------------------------------------------------------------------------

    def after(self, start: datetime, hours: Decimal) -> datetime:
        """``hours`` of office time after ``start``."""
        return self.calendar.add_working_hours(start, hours)

    def counted_start(self, accepted: datetime, channel: Channel) -> datetime:
        """The reception moment the legal clock counts from (in person after the cut-off: next day)."""
        if channel is Channel.IN_PERSON:
            return self.calendar.transfer_after_cutoff(accepted, self.rules.in_person_cutoff)
        return accepted

    def share(self, budget: Decimal, low: float = 0.2, high: float = 0.7) -> Decimal:
        """A clean duration: between ``low`` and ``high`` of ``budget``, in tenths of an hour."""
        tenths = int(budget * 10)
        return max(_TENTH, Decimal(self.rng.randint(int(tenths * low), max(1, int(tenths * high)))) / 10)

    def _arrival(self, max_days_back: float, min_days_back: float, channel: Channel) -> datetime:
        """An acceptance moment: weekdays in office hours, online also evenings and weekends."""
        for _ in range(200):
            back = self.rng.uniform(min_days_back, max_days_back)
            day = (self.reference - timedelta(days=back)).date()
            online_off_hours = channel is Channel.ONLINE and self.rng.random() < 0.25
            if not self.calendar.is_working_day(day) and not online_off_hours:
                continue
            if online_off_hours:
                minute = self.rng.randint(6 * 60, 22 * 60)
            else:
                # mornings are busier; in person a few arrive after the cut-off
                periods = self.calendar.office_hours.periods
                start_t, end_t = periods[0] if self.rng.random() < 0.6 else self.rng.choice(periods)
                lo = start_t.hour * 60 + start_t.minute
                hi = end_t.hour * 60 + end_t.minute - 15
                minute = self.rng.randint(lo, max(lo, hi))
            moment = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.calendar.tz)
            if moment < self.reference - timedelta(days=min_days_back):
                return moment
        raise Rejected("no arrival moment")

    # ---- choices ------------------------------------------------------------------------------

    def _offering(self, template: Template) -> Offering:
        if template.name == "out_of_scope_agency":
            choices = [o for o in self.province.offerings if not o.in_scope and o.process is not None]
        elif template.name == "out_of_scope_procedure":
            choices = [o for o in self.province.offerings if o.process is None]
        else:
            choices = [
                o for o in self.province.offerings if o.covered and o.working_days >= template.min_days
            ]
        weights = [self.province.weights[self.province.offerings.index(o)] for o in choices]
        return self.rng.choices(choices, weights)[0]

    def _channel(self) -> Channel:
        return self.rng.choices((Channel.IN_PERSON, Channel.ONLINE, Channel.POSTAL), (45, 45, 10))[0]

    def _template(self) -> Template:
        if self.rng.random() < self.config.violation_rate:
            return self.rng.choice(list(VIOLATION_TEMPLATES.values()))
        names = list(CLEAN_TEMPLATES)
        weights = [CLEAN_TEMPLATES[n][1] for n in names]
        return CLEAN_TEMPLATES[self.rng.choices(names, weights)[0]][0]

    def _dossier_code(self, agency: str, accepted: datetime) -> str:
        day = accepted.date()
        n = self._numbers.get((agency, day), 0) + 1
        self._numbers[(agency, day)] = n
        # the seed's last two digits keep streams of different seeds apart (a live feed's tag, its run)
        tag = self.config.seed if self.config.code_tag is None else self.config.code_tag
        return f"{agency}-{day:%y%m%d}-{tag % 100:02d}{n:04d}"

    # ---- generation ---------------------------------------------------------------------------

    def dossiers(self) -> Iterator[SimulatedDossier]:
        """The stream's dossiers, one template each, deterministic for the seed."""
        for index in range(self.config.dossiers):
            template = self._template()
            for _ in range(100):
                state = self.rng.getstate()
                try:
                    yield self._build(index, template)
                    break
                except Rejected:
                    self.rng.setstate(state)
                    self.rng.random()  # move on: the next draw differs
            else:  # pragma: no cover - the windows below always leave room
                raise RuntimeError(f"could not build a {template.name} dossier")

    def _build(self, index: int, template: Template) -> SimulatedDossier:
        offering = self._offering(template)
        channel = self._channel()
        days = offering.working_days
        if template.open:
            if template.name == "open":
                window = (2.5, 0.2)
            elif template.name == "step_overdue":
                window = (days * 0.75 + 1, days * 0.7 + 1)
            else:  # overdue: due at least two days before the reference
                window = (days * 1.4 + 14, days * 1.4 + 4)
        else:
            window = (self.config.horizon_days, days * 2.2 + 6)
        if window[0] <= window[1]:
            window = (window[1] + 1, window[1])
        accepted = self._arrival(window[0], window[1], channel)
        code = self._dossier_code(offering.agency, accepted)
        draft = _Draft(self, offering, channel, code, index)
        build = getattr(self, f"_{template.name}", None) or self._resolved_family
        result: SimulatedDossier = build(draft, template, accepted)
        if any(datetime.fromisoformat(e["occurred_at"]) >= self.reference for e in result.events):
            raise Rejected("an event after the reference")
        result.events.sort(key=lambda e: (datetime.fromisoformat(e["occurred_at"]), e["event_id"]))
        return result

    # ---- building blocks ------------------------------------------------------------------------

    def steps_of(self, offering: Offering) -> list[IsoStep]:
        """The steps a dossier goes through: the process's (optional steps half the time)."""
        if offering.process is None:
            return [
                IsoStep(
                    code=c,
                    name=c,
                    responsible_unit=u,
                    budget=StepBudget(value=Decimal(b), unit=DurationUnit.WORKING_HOURS),
                )
                for c, u, b in (
                    ("B1", ONE_STOP, "1"),
                    ("B2", "CV", "4"),
                    ("B3", LEADER, "2"),
                    ("B4", ONE_STOP, "1"),
                )
            ]
        return [s for s in offering.process.steps if not s.optional or self.rng.random() < 0.5]

    def _accept(self, d: _Draft, accepted: datetime, appointed: datetime | None) -> str:
        if d.channel is Channel.ONLINE:
            d.emit(
                "dossier.submitted", accepted - timedelta(minutes=self.rng.randint(5, 600)), {"channel": 2}
            )
        payload: dict[str, Any] = {"channel": int(d.channel)}
        if appointed is not None:
            payload["appointed_return_at"] = appointed.isoformat()
        # online dossiers arrive as files; most paper ones are scanned at the counter
        payload["digitized"] = d.channel is Channel.ONLINE or d.facts766().random() < 0.7
        return d.emit("dossier.accepted", accepted, payload)

    def _step(
        self, d: _Draft, step: IsoStep, at: datetime, unit: str | None = None, code: str | None = None
    ) -> None:
        d.emit(
            "dossier.step_completed",
            at,
            {
                "step_code": code or step.code,
                "from_unit": unit or step.responsible_unit,
                "to_unit": ONE_STOP if step.code == "B4" else LEADER,
                "handler": f"cb{self.rng.randint(1, 40):02d}",
            },
        )

    def _finish(
        self,
        d: _Draft,
        template: Template,
        accepted: datetime,
        due: datetime,
        resolved: datetime,
        codes: frozenset[C] | None = None,
    ) -> SimulatedDossier:
        draws = d.facts766()
        draws.random()  # the acceptance's draw
        result_digitized = draws.random() < 0.8
        d.emit("dossier.resolved", resolved, {"result_code": "KQ", "result_digitized": result_digitized})
        returned = resolved + timedelta(hours=self.rng.choice((1, 2, 20, 26, 50)))
        satisfaction: int | None = None
        if returned < self.reference:
            rated = draws.random() < 0.6
            satisfaction = draws.choices((1, 2, 3, 4, 5), (3, 5, 12, 40, 40))[0] if rated else None
            d.emit("dossier.result_returned", returned, {"satisfaction": satisfaction} if rated else None)
        if resolved > due:
            outcome = Outcome.LATE
        elif resolved.astimezone(self.calendar.tz).date() < due.astimezone(self.calendar.tz).date():
            outcome = Outcome.EARLY
        else:
            outcome = Outcome.ON_TIME
        return self._done(d, template, outcome, accepted, due, resolved, resolved, codes)

    def _done(
        self,
        d: _Draft,
        template: Template,
        outcome: Outcome,
        accepted: datetime | None,
        due: datetime | None,
        resolved: datetime | None,
        closed: datetime | None,
        codes: frozenset[C] | None = None,
    ) -> SimulatedDossier:
        return SimulatedDossier(
            code=d.code,
            template=template.name,
            agency_code=d.offering.agency,
            procedure_code=d.offering.procedure.code,
            channel=int(d.channel),
            events=d.events,
            outcome=outcome,
            codes=template.codes if codes is None else codes,
            accepted_at=accepted,
            due_at=due,
            resolved_at=resolved,
            closed_at=closed,
            **_facts766(d.events),
        )

    def _due(self, d: _Draft, accepted: datetime) -> tuple[datetime, datetime]:
        start = self.counted_start(accepted, d.channel)
        return start, self.after(start, d.offering.working_days * self.day)

    def _appointed(self, due: datetime) -> datetime:
        """A return date on the receipt no later than the due day (clean)."""
        return due

    def _lead_hours(self) -> Decimal:
        return self.rules.apology_lead_working_days * self.day

    def _apology(self, d: _Draft, at: datetime, due: datetime) -> None:
        new_date = self.after(due, Decimal(3) * self.day)
        d.emit(
            "dossier.apology_issued",
            at,
            {"new_appointment_at": new_date.isoformat(), "reason": "chờ xác minh"},
        )

    def _run_clean_steps(self, d: _Draft, steps: list[IsoStep], t: datetime) -> datetime:
        for step in steps:
            t = self.after(t, self.share(step.budget.value))
            self._step(d, step, t)
        return t

    # ---- templates ------------------------------------------------------------------------------

    def _plan(self, d: _Draft, template: Template) -> list[tuple[IsoStep, str, str, Decimal]]:
        """The rows of a resolved dossier's control slip: (step, unit, code, hours it takes)."""
        steps = self.steps_of(d.offering)
        name = template.name
        if name == "step_order_swapped":  # B3 handed over before B2 (optional steps left out)
            by_code = {s.code: s for s in steps if not s.optional}
            steps = [by_code["B1"], by_code["B3"], by_code["B2"], by_code["B4"]]
        rows: list[tuple[IsoStep, str, str, Decimal]] = []
        for step in steps:
            hours = self.share(step.budget.value)
            if name == "step_skipped" and step.code == "B3":
                continue
            if name == "wrong_unit" and step.code == "B2":
                rows.append((step, f"{step.responsible_unit}-KHAC", step.code, hours))
                continue
            if name == "step_not_in_process" and step.code == "B3":
                rows.append((step, step.responsible_unit, "B9", self.share(step.budget.value, 0.1, 0.3)))
            if name in ("step_late", "late_with_apology", "late_no_apology", "late_apology_late") and (
                step.code == ("B3" if name == "step_late" else "B2")
            ):
                hours = step.budget.value + self.day * self.rng.randint(1, 2) + self.share(self.day)
            rows.append((step, step.responsible_unit, step.code, hours))
        return rows

    def _resolved_family(self, d: _Draft, template: Template, accepted: datetime) -> SimulatedDossier:
        """Resolved dossiers: clean, or with step-rule, appointment, lateness or apology violations."""
        start, due = self._due(d, accepted)
        name = template.name
        appointed = due
        if name == "appointment":
            appointed = self.after(due, Decimal(self.rng.randint(2, 4)) * self.day)
        self._accept(d, accepted, appointed)
        deadline_hours = d.offering.working_days * self.day - self._lead_hours()
        if name in ("late_with_apology", "apology_reset_twice"):
            self._apology(d, self.after(start, deadline_hours - self.day), due)
        if name == "apology_reset_twice":
            for k in range(self.rules.apology_resets_allowed):
                self._apology(d, self.after(start, deadline_hours - self.day + Decimal(k + 1)), due)
        if name == "late_apology_late":
            self._apology(d, self.after(start, deadline_hours + Decimal(4)), due)
        t = accepted
        for step, unit, code, hours in self._plan(d, template):
            t = self.after(t, hours)
            self._step(d, step, t, unit=unit, code=code)
            if name == "resolved_with_fee" and code == "B2":
                # the fee (nghĩa vụ tài chính) is paid while the next step already runs
                d.emit(
                    "dossier.fee_requested", t + timedelta(minutes=5), {"amount": "50000.00", "online": False}
                )
                paid = t + timedelta(minutes=self.rng.randint(20, 90))
                d.emit(
                    "dossier.fee_paid", paid, {"amount": "50000.00", "online": d.channel is Channel.ONLINE}
                )
        resolved = t + timedelta(minutes=self.rng.randint(5, 30))
        if C.LATE in template.codes:
            resolved = max(resolved, self.after(due, self.day + self.share(self.day)))
            if self.calendar.working_hours_between(due, resolved) < self.day:
                raise Rejected("not late by a whole working day")
        elif self.calendar.working_hours_between(resolved, due) < 2 or resolved >= due:
            raise Rejected("too close to the due moment")
        self._check_apology_order(d)
        return self._finish(d, template, accepted, due, resolved)

    def _check_apology_order(self, d: _Draft) -> None:
        # the apologies were placed by office time from the start: keep them before the resolution
        d.events.sort(key=lambda e: (datetime.fromisoformat(e["occurred_at"]), e["event_id"]))

    def _resolved(self, d: _Draft, template: Template, accepted: datetime) -> SimulatedDossier:
        return self._resolved_family(d, template, accepted)

    def _out_of_scope_agency(self, d: _Draft, template: Template, accepted: datetime) -> SimulatedDossier:
        return self._resolved_family(d, template, accepted)

    def _resolved_with_supplement(
        self, d: _Draft, template: Template, accepted: datetime
    ) -> SimulatedDossier:
        return self._supplemented(d, template, accepted, requests=1, first_after_days=Decimal(1))

    def _supplement_repeated(self, d: _Draft, template: Template, accepted: datetime) -> SimulatedDossier:
        return self._supplemented(d, template, accepted, requests=2, first_after_days=Decimal(1))

    def _supplement_late(self, d: _Draft, template: Template, accepted: datetime) -> SimulatedDossier:
        window = self.rules.supplement_window_working_days
        return self._supplemented(d, template, accepted, requests=1, first_after_days=window + 1)

    def _supplemented(
        self, d: _Draft, template: Template, accepted: datetime, requests: int, first_after_days: Decimal
    ) -> SimulatedDossier:
        """Supplement requests while B2 (appraisal) is open; the legal clock restarts at the last receipt."""
        start, initial_due = self._due(d, accepted)
        self._accept(d, accepted, initial_due)
        steps = [s for s in self.steps_of(d.offering) if not s.optional]
        b1, b2, rest = steps[0], steps[1], steps[2:]
        t = self.after(accepted, self.share(b1.budget.value, 0.1, 0.3))
        self._step(d, b1, t)
        b2_received = t
        request = self.after(start, first_after_days * self.day)
        if request <= t:
            raise Rejected("request before the appraisal")
        work_before = self.calendar.working_hours_between(b2_received, request)
        last_receipt = request
        for k in range(requests):
            d.emit("dossier.supplement_requested", request, {"reason": "thiếu giấy tờ"})
            last_receipt = self.after(request, Decimal(self.rng.randint(4, 24)))
            d.emit("dossier.supplement_received", last_receipt)
            if k + 1 < requests:
                request = self.after(last_receipt, Decimal(self.rng.randint(2, 6)))
                work_before += self.calendar.working_hours_between(last_receipt, request)
        remaining = b2.budget.value * Decimal("0.8") - work_before
        if remaining < 1:
            raise Rejected("the appraisal would overrun its budget")
        t = self.after(last_receipt, Decimal(self.rng.randint(5, int(remaining * 10))) / 10)
        self._step(d, b2, t)
        t = self._run_clean_steps(d, rest, t)
        legal_start = self.counted_start(last_receipt, d.channel)
        due = self.after(legal_start, d.offering.working_days * self.day)
        resolved = t + timedelta(minutes=self.rng.randint(5, 30))
        if self.calendar.working_hours_between(resolved, due) < 2 or resolved >= due:
            raise Rejected("too close to the due moment")
        return self._finish(d, template, accepted, due, resolved)

    def _out_of_scope_procedure(self, d: _Draft, template: Template, accepted: datetime) -> SimulatedDossier:
        return self._resolved_family(d, template, accepted)

    def _withdrawn(self, d: _Draft, template: Template, accepted: datetime) -> SimulatedDossier:
        _start, due = self._due(d, accepted)
        self._accept(d, accepted, due)
        b1 = self.steps_of(d.offering)[0]
        t = self.after(accepted, self.share(b1.budget.value))
        self._step(d, b1, t)
        t = t + timedelta(minutes=self.rng.randint(10, 90))
        d.emit("dossier.withdrawn", t, {"reason": "công dân rút hồ sơ"})
        return self._done(d, template, Outcome.WITHDRAWN, accepted, due, None, t)

    def _stopped(self, d: _Draft, template: Template, accepted: datetime) -> SimulatedDossier:
        _start, due = self._due(d, accepted)
        self._accept(d, accepted, due)
        steps = [s for s in self.steps_of(d.offering) if not s.optional]
        t = self._run_clean_steps(d, steps[:2], accepted)
        t = t + timedelta(minutes=self.rng.randint(10, 90))
        d.emit("dossier.stopped", t, {"reason": "hồ sơ không đủ điều kiện (từ chối sau thẩm định)"})
        return self._done(d, template, Outcome.STOPPED, accepted, due, None, t)

    def _not_accepted(self, d: _Draft, template: Template, accepted: datetime) -> SimulatedDossier:
        d.emit("dossier.submitted", accepted, {"channel": int(d.channel)})
        refused = accepted + timedelta(minutes=self.rng.randint(15, 240))
        d.emit("dossier.not_accepted", refused, {"reason": "hồ sơ không thuộc thẩm quyền"})
        return self._done(d, template, Outcome.NOT_ACCEPTED, None, None, None, refused)

    def _open(self, d: _Draft, template: Template, accepted: datetime) -> SimulatedDossier:
        """Clean and still being processed: B1 done, the appraisal's budget far from spent."""
        start, due = self._due(d, accepted)
        self._accept(d, accepted, due)
        steps = [s for s in self.steps_of(d.offering) if not s.optional]
        t = self._run_clean_steps(d, steps[:1], accepted)
        open_due = self.after(t, steps[1].budget.value)
        apology_deadline = self.after(start, d.offering.working_days * self.day - self._lead_hours())
        if min(open_due, apology_deadline, due) < self.reference + timedelta(days=2):
            raise Rejected("a timer would fire too soon")
        return self._done(d, template, Outcome.PENDING_WITHIN, accepted, due, None, None)

    def _step_overdue(self, d: _Draft, template: Template, accepted: datetime) -> SimulatedDossier:
        """Still open, within the statutory time, but the appraisal (B2) overran its budget."""
        start, due = self._due(d, accepted)
        self._accept(d, accepted, due)
        steps = [s for s in self.steps_of(d.offering) if not s.optional]
        t = self._run_clean_steps(d, steps[:1], accepted)
        open_due = self.after(t, steps[1].budget.value)
        apology_deadline = self.after(start, d.offering.working_days * self.day - self._lead_hours())
        if open_due > self.reference - timedelta(days=1) or min(
            apology_deadline, due
        ) < self.reference + timedelta(days=2):
            raise Rejected("timers not clear of the reference")
        return self._done(d, template, Outcome.PENDING_WITHIN, accepted, due, None, None)

    def _overdue_steps_done(self, d: _Draft, template: Template, accepted: datetime) -> SimulatedDossier:
        """Every step handed over, an apology in time, but never resolved: overdue."""
        start, due = self._due(d, accepted)
        self._accept(d, accepted, due)
        deadline_hours = d.offering.working_days * self.day - self._lead_hours()
        self._apology(d, self.after(start, deadline_hours - self.day), due)
        self._run_clean_steps(d, [s for s in self.steps_of(d.offering) if not s.optional], accepted)
        self._check_apology_order(d)
        if due > self.reference - timedelta(days=1):
            raise Rejected("not overdue by a day")
        return self._done(d, template, Outcome.PENDING_OVERDUE, accepted, due, None, None)

    def _overdue_stuck(self, d: _Draft, template: Template, accepted: datetime) -> SimulatedDossier:
        """Stuck in an early step, no apology: overdue, its open step overdue, apology missing."""
        _start, due = self._due(d, accepted)
        self._accept(d, accepted, due)
        steps = [s for s in self.steps_of(d.offering) if not s.optional]
        self._run_clean_steps(d, steps[: self.rng.randint(1, 3)], accepted)
        if due > self.reference - timedelta(days=1):
            raise Rejected("not overdue by a day")
        return self._done(d, template, Outcome.PENDING_OVERDUE, accepted, due, None, None)


def stream(
    dossiers: list[SimulatedDossier], seed: int, duplicate_rate: float
) -> list[tuple[datetime, str, Event]]:
    """Every event of ``dossiers`` in occurred order (ties by event id), a few of them twice.

    Returns (moment, dossier code, event); duplicates follow their original at once, as an
    emitter retrying after a lost acknowledgement would send them.
    """
    rng = random.Random(f"duplicates-{seed}")
    items: list[tuple[datetime, str, str, int, Event]] = []
    for d in dossiers:
        for e in d.events:
            moment = datetime.fromisoformat(e["occurred_at"])
            items.append((moment, e["event_id"], d.code, 0, e))
            if rng.random() < duplicate_rate:
                items.append((moment, e["event_id"], d.code, 1, e))
    items.sort(key=lambda i: (i[0], i[1], i[3]))
    return [(moment, code, e) for moment, _, code, _, e in items]
