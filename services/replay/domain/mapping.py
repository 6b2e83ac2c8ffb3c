"""The mapping file of a replay: how one event log becomes dossier events (docs/replay.md).

A mapping is TOML. It names the log's attributes (case id, activity, timestamp, unit),
says which activity becomes which event type or step, which case attributes carry the
appointed return date and the channel, which case attributes are moments of events of
their own (e.g. the case's end date as the resolution), which registry entries (agency,
procedure, QMS scope, ISO process) the log implies, which legal profile judges it, and how
the log ends (censored: cases open at its end are "open at end of log"; or live).
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.contracts.registry import (
    AgencyLevel,
    AgencyRecord,
    IsoObligation,
    IsoProcessRecord,
    IsoStep,
    LegalProfileRecord,
    ProcedureRecord,
    QmsRecord,
    QmsState,
    QmsTransition,
    StatutoryTime,
)

_STRICT = ConfigDict(extra="forbid", frozen=True)

EventKind = Literal[
    "submitted",
    "accepted",
    "not_accepted",
    "step_completed",
    "supplement_requested",
    "supplement_received",
    "withdrawn",
    "stopped",
    "resolved",
    "result_returned",
]
"""Event types a log can produce (``dossier.<kind>``); fees and apologies need amounts and
dates that event logs do not carry, so they are not offered."""

NEEDS_REASON: frozenset[str] = frozenset({"not_accepted", "supplement_requested", "stopped"})
NEEDS_CHANNEL: frozenset[str] = frozenset({"submitted", "accepted"})

Name = Annotated[str, Field(min_length=1)]


class LogColumns(BaseModel):
    """``[log]``: where things are in the log."""

    model_config = _STRICT

    source: Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[0-9A-Za-z._\-]+$")]
    case_id: Name = "concept:name"
    activity: Name = "concept:name"
    timestamp: Name = "time:timestamp"
    unit: str | None = None
    unit_default: str | None = None
    handler: str | None = None
    lifecycle: str | None = None
    keep_transitions: tuple[str, ...] = ()
    naive_timezone: str | None = None
    unmapped_activities: Literal["skip", "error"] = "skip"
    csv_delimiter: Annotated[str, Field(min_length=1, max_length=1)] = ","
    end: Literal["censored", "live"] = "censored"
    end_at: AwareDatetime | None = None


class DossierNaming(BaseModel):
    """``[dossier]``: the agency and procedure of every dossier of the log, and its numbering."""

    model_config = _STRICT

    agency_code: Annotated[str, Field(pattern=r"^[0-9A-Za-z.]+$", max_length=40)]
    procedure_code: Annotated[str, Field(pattern=r"^[0-9A-Za-z.\-_]+$", max_length=64)]
    sequence_digits: Annotated[int, Field(ge=4, le=6)] = 4


class CaseAttributes(BaseModel):
    """``[case]``: case attributes that go into the payloads."""

    model_config = _STRICT

    deadline: str | None = None
    channel: str | None = None
    channel_values: dict[str, Annotated[int, Field(ge=1, le=3)]] = Field(default_factory=dict)
    default_channel: Annotated[int, Field(ge=1, le=3)] | None = None


class ActivityRule(BaseModel):
    """One ``[activities]`` entry: the event an activity becomes, or ``ignore``."""

    model_config = _STRICT

    event: EventKind | Literal["ignore"]
    step: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    reason: Annotated[str, Field(min_length=1, max_length=2000)] | None = None

    @model_validator(mode="after")
    def _step_iff_step_completed(self) -> ActivityRule:
        if (self.event == "step_completed") != (self.step is not None):
            raise ValueError("give `step` (the ISO step code) exactly when event = 'step_completed'")
        return self


class CaseEventRule(BaseModel):
    """One ``[[case_events]]`` entry: an event whose moment is a case attribute."""

    model_config = _STRICT

    event: EventKind
    timestamp: Name
    reason: Annotated[str, Field(min_length=1, max_length=2000)] | None = None

    @model_validator(mode="after")
    def _no_steps(self) -> CaseEventRule:
        if self.event == "step_completed":
            raise ValueError("a case attribute cannot be a step; map an activity to the step instead")
        return self


class AgencyEntry(BaseModel):
    model_config = _STRICT

    name: Name
    level: AgencyLevel = AgencyLevel.OTHER
    parent_code: str | None = None
    iso_obligation: IsoObligation = IsoObligation.ENCOURAGED
    valid_from: date | None = None


class ProcedureEntry(BaseModel):
    model_config = _STRICT

    name: Name
    statutory_time: StatutoryTime
    field: str | None = None
    level: str | None = None
    legal_basis: str | None = None


class QmsEntry(BaseModel):
    """The agency's QMS record if it has none yet; the procedure joins its scope either way."""

    model_config = _STRICT

    state: QmsState
    transitions: tuple[QmsTransition, ...] = ()


class IsoProcessEntry(BaseModel):
    model_config = _STRICT

    version: Annotated[int, Field(ge=1)] = 1
    effective_from: date
    steps: tuple[IsoStep, ...] = Field(min_length=1)


class RegistryEntries(BaseModel):
    """``[registry.*]``: what the replay creates in the registry before producing events."""

    model_config = _STRICT

    agency: AgencyEntry | None = None
    procedure: ProcedureEntry | None = None
    qms: QmsEntry | None = None
    iso_process: IsoProcessEntry | None = None


class ProfileEntry(BaseModel):
    """``[profile]``: the legal profile judging the log's dossiers (docs/replay.md).

    ``code`` alone names a registry profile; any other key defines the profile inline (the
    fields of the registry's legal profile; ``version`` 1 and ``effective_from`` 2000-01-01
    unless given).
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    code: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z.\-_]+$")]

    @property
    def definition(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Mapping(BaseModel):
    """A whole mapping file."""

    model_config = _STRICT

    log: LogColumns
    dossier: DossierNaming
    case: CaseAttributes = Field(default_factory=CaseAttributes)
    units: dict[str, Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=dict)
    activities: dict[str, ActivityRule]
    case_events: tuple[CaseEventRule, ...] = ()
    registry: RegistryEntries = Field(default_factory=RegistryEntries)
    profile: ProfileEntry | None = None

    @model_validator(mode="after")
    def _inline_profile_is_valid(self) -> Mapping:
        self.inline_profile(None)  # raises with the field at fault
        return self

    # --- the law and the end of the log -------------------------------------------------------

    def inline_profile(self, observed_until: datetime | None) -> LegalProfileRecord | None:
        """The profile the mapping defines inline (None when it names one or none)."""
        if self.profile is None or not self.profile.definition:
            return None
        data: dict[str, Any] = {"version": 1, "effective_from": date(2000, 1, 1), "name": self.profile.code}
        data |= self.profile.definition | {"code": self.profile.code}
        if data.get("in_person_cutoff") == "none":  # TOML has no null
            data["in_person_cutoff"] = None
        if self.log.end == "censored":
            data["observed_until"] = observed_until
        return LegalProfileRecord.model_validate(data)

    @property
    def named_profile(self) -> str:
        """The registry profile a censored copy is made of (the named one, else the Vietnamese ``VN``)."""
        return self.profile.code if self.profile is not None else "VN"

    @property
    def judging_profile(self) -> str | None:
        """The profile code the procedure names: inline → its code; a censored log of a named (or
        the default) profile → a copy ``<named>.<source>`` that carries the log's end; a live log
        → the named profile, or none (the deployment's default)."""
        if self.profile is not None and self.profile.definition:
            return self.profile.code
        if self.log.end == "live":
            return self.profile.code if self.profile is not None else None
        return f"{self.named_profile}.{self.log.source}"[:64]

    @model_validator(mode="after")
    def _reasons_and_channels(self) -> Mapping:
        rules: list[tuple[str, EventKind | Literal["ignore"], str | None]] = [
            (f"activity {name!r}", r.event, r.reason) for name, r in self.activities.items()
        ]
        rules += [(f"case event {r.timestamp!r}", r.event, r.reason) for r in self.case_events]
        for where, kind, reason in rules:
            if kind in NEEDS_REASON and reason is None:
                raise ValueError(f"{where} becomes {kind}, which needs a `reason`")
            if kind in NEEDS_CHANNEL and self.case.channel is None and self.case.default_channel is None:
                raise ValueError(f"{where} becomes {kind}, which needs [case] channel or default_channel")
        return self

    # --- the registry records the log implies ------------------------------------------------

    def agency_record(self) -> AgencyRecord | None:
        a = self.registry.agency
        if a is None:
            return None
        return AgencyRecord(
            code=self.dossier.agency_code,
            name=a.name,
            parent_code=a.parent_code,
            level=a.level,
            iso_obligation=a.iso_obligation,
            valid_from=a.valid_from,
        )

    def procedure_record(self) -> ProcedureRecord | None:
        p = self.registry.procedure
        if p is None:
            return None
        return ProcedureRecord(
            code=self.dossier.procedure_code,
            name=p.name,
            field=p.field,
            level=p.level,
            statutory_time=p.statutory_time,
            legal_basis=p.legal_basis,
            legal_profile=self.judging_profile,
        )

    def qms_record(self, existing: QmsRecord | None) -> QmsRecord | None:
        """The QMS record to write so the procedure is in scope; None when nothing needs writing."""
        code = self.dossier.procedure_code
        if existing is not None:
            if code in existing.scope:
                return None
            return existing.model_copy(update={"scope": (*existing.scope, code)})
        q = self.registry.qms
        if q is None:
            return None
        return QmsRecord(
            agency_code=self.dossier.agency_code, state=q.state, transitions=q.transitions, scope=(code,)
        )

    def iso_process_record(self) -> IsoProcessRecord | None:
        p = self.registry.iso_process
        if p is None:
            return None
        return IsoProcessRecord(
            agency_code=self.dossier.agency_code,
            procedure_code=self.dossier.procedure_code,
            version=p.version,
            effective_from=p.effective_from,
            steps=p.steps,
        )


class MappingError(ValueError):
    """A mapping file that cannot be used; the message says where and what to fix."""


def parse_mapping(text: str, origin: str = "mapping") -> Mapping:
    """Read a mapping from its TOML text (raises :class:`MappingError`)."""
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"{origin} is not valid TOML: {exc}") from exc
    try:
        return Mapping.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise MappingError(f"{origin}: {problems}") from exc
