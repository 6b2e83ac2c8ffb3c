"""Registry change feed: topic ``tthc.registry.v1`` (compacted, key = ``<entity>:<id>``).

Every message is a :class:`RegistryChange` whose ``data`` validates against the record
model of its ``entity`` (:data:`RECORD_MODELS`). Processing and reporting keep a local copy.
"""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.calendar import DurationUnit, OfficeHours

EntityKind = Literal[
    "procedure", "agency", "qms", "iso_process", "calendar_override", "api_token", "legal_profile"
]

_RECORD = ConfigDict(extra="forbid", frozen=True)


class StatutoryTime(BaseModel):
    """Thời hạn giải quyết: value + unit."""

    model_config = _RECORD

    value: Decimal = Field(ge=0, max_digits=8, decimal_places=2)
    unit: DurationUnit


class ChannelTime(BaseModel):
    """A statutory time that applies to one channel only (e.g. shorter online)."""

    model_config = _RECORD

    channel: Literal[1, 2, 3] = Field(description="1 in person, 2 online, 3 postal")
    statutory_time: StatutoryTime


class ProcedureRecord(BaseModel):
    """A procedure as published by the registry (thủ tục hành chính)."""

    model_config = _RECORD

    code: str = Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z.\-_]+$")
    name: str = Field(
        min_length=1, max_length=2000, description="the national catalogue has names of 1,094 characters"
    )
    field: str | None = Field(default=None, max_length=300, description="lĩnh vực")
    level: str | None = Field(default=None, max_length=100, description="cấp thực hiện")
    statutory_time: StatutoryTime
    channel_times: tuple[ChannelTime, ...] = ()
    legal_basis: str | None = None
    legal_basis_changed_on: date | None = Field(default=None, description="last change of the legal basis")
    valid_from: date | None = None
    valid_to: date | None = None
    legal_profile: str | None = Field(
        default=None,
        max_length=64,
        description="code of the legal profile that judges this procedure's dossiers (else the agency's, "
        "else the deployment's)",
    )


class AgencyLevel(StrEnum):
    PROVINCE = "province"
    DEPARTMENT = "department"
    DISTRICT = "district"  # until 2025-07-01
    COMMUNE = "commune"
    PUBLIC_SERVICE_UNIT = "public_service_unit"
    OTHER = "other"


class IsoObligation(StrEnum):
    """Decision 19/2014 art. 2: mandatory for the listed agencies, encouraged for the rest."""

    MANDATORY = "mandatory"
    ENCOURAGED = "encouraged"


class AgencyRecord(BaseModel):
    """An agency (cơ quan), with its place in the hierarchy and its history."""

    model_config = _RECORD

    code: str = Field(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z.]+$")
    name: str = Field(min_length=1, max_length=500)
    parent_code: str | None = None
    level: AgencyLevel
    iso_obligation: IsoObligation
    valid_from: date | None = None
    valid_to: date | None = None
    predecessor_codes: tuple[str, ...] = ()
    successor_code: str | None = None
    reorganisation_basis: str | None = Field(
        default=None, description="legal basis of the merge or abolition"
    )
    legal_profile: str | None = Field(
        default=None,
        max_length=64,
        description="code of the legal profile its dossiers are judged by, unless the procedure names one",
    )


class QmsState(StrEnum):
    """Lifecycle of an agency's quality management system (hệ thống quản lý chất lượng)."""

    NOT_STARTED = "not_started"
    BUILDING = "building"
    APPLYING = "applying"
    ANNOUNCED = "announced"  # công bố
    UPDATING = "updating"  # updating / expanding the scope
    REANNOUNCED = "reannounced"


class QmsTransition(BaseModel):
    model_config = _RECORD

    state: QmsState
    on: date
    document: str | None = Field(default=None, description="document number, e.g. of the announcement")


class QualityPolicy(BaseModel):
    model_config = _RECORD

    issued_on: date
    posted_at_office: bool = False
    posted_on_website: bool = False


class QualityObjective(BaseModel):
    model_config = _RECORD

    year: int = Field(ge=2000, le=2100)
    metric: str = Field(min_length=1, max_length=100, examples=["on_time_rate"])
    target: Decimal = Field(description="e.g. 0.98 for an on-time rate of at least 98 %")


class QmsReview(BaseModel):
    """An internal audit (đánh giá nội bộ) or management review (xem xét của lãnh đạo)."""

    model_config = _RECORD

    kind: Literal["internal_audit", "management_review"]
    held_on: date
    findings: int = Field(default=0, ge=0)


class QmsRecord(BaseModel):
    """One agency's QMS record."""

    model_config = _RECORD

    agency_code: str
    state: QmsState
    transitions: tuple[QmsTransition, ...] = ()
    scope: tuple[str, ...] = Field(default=(), description="procedure codes covered")
    policy: QualityPolicy | None = None
    objectives: tuple[QualityObjective, ...] = ()
    reviews: tuple[QmsReview, ...] = ()


class StepBudget(BaseModel):
    model_config = _RECORD

    value: Decimal = Field(ge=0, max_digits=8, decimal_places=2)
    unit: Literal[DurationUnit.WORKING_HOURS, DurationUnit.WORKING_DAYS]


class IsoStep(BaseModel):
    """One step of an ISO process (bước của quy trình)."""

    model_config = _RECORD

    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=500)
    responsible_unit: str = Field(min_length=1, max_length=64)
    budget: StepBudget
    optional: bool = False


class IsoProcessRecord(BaseModel):
    """One version of an agency's ISO process for one procedure (quy trình ISO)."""

    model_config = _RECORD

    agency_code: str
    procedure_code: str
    version: int = Field(ge=1)
    effective_from: date
    steps: tuple[IsoStep, ...] = Field(min_length=1)

    @property
    def entity_id(self) -> str:
        return f"{self.agency_code}|{self.procedure_code}|{self.version}"


class CalendarOverrideRecord(BaseModel):
    """A year's changes to the working-day calendar on top of the `holidays` package."""

    model_config = _RECORD

    year: int = Field(ge=2000, le=2100)
    days_off: tuple[date, ...] = ()
    working_days: tuple[date, ...] = Field(default=(), description="e.g. swapped working Saturdays")
    note: str | None = None


class Role(StrEnum):
    """What a bearer token may do (see ``shared/auth.py``)."""

    ADMIN = "admin"  # everything
    OFFICER = "officer"  # reads everything; writes QMS records and ISO processes of its agency subtree
    VIEWER = "viewer"  # reads only


class ApiTokenRecord(BaseModel):
    """A bearer token as published on the feed: its SHA-256 hash, never the token itself.

    Entity id = ``token_hash``; a deletion on the feed is a revocation.
    """

    model_config = _RECORD

    token_hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of the token")
    subject: str = Field(min_length=1, max_length=200, description="who holds it, e.g. an e-mail")
    role: Role
    agency_code: str | None = Field(default=None, description="required for officers: their subtree root")
    expires_at: AwareDatetime | None = None


class LegalProfileRecord(BaseModel):
    """One version of a legal profile: the law a dossier is judged by (issue #17).

    Versioned like ISO processes: the version in force on the acceptance date applies. Entity id
    = ``<code>|<version>``. The Vietnamese default is ``VN`` (migration 0003).
    """

    model_config = _RECORD

    code: str = Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z.\-_]+$")
    version: int = Field(ge=1)
    effective_from: date
    name: str = Field(min_length=1, max_length=300)
    timezone: str = Field(default="Asia/Ho_Chi_Minh", description="IANA zone of office hours and due dates")
    holiday_country: str = Field(default="VN", description="country code of the `holidays` package")
    holiday_subdivision: str | None = Field(
        default=None, description="subdivision code of the `holidays` package (regional holidays)"
    )
    registry_overrides: bool = Field(
        default=True, description="apply the registry's calendar_override entities (the Vietnamese swaps)"
    )
    days_off: tuple[date, ...] = Field(default=(), description="the profile's own extra days off")
    working_days: tuple[date, ...] = Field(default=(), description="the profile's own extra working days")
    roll_over_day_off: bool = Field(
        default=True,
        description="a calendar-day or month period ending on a day off ends on the next working day "
        "(Civil Code 2015 art. 148(5)); False counts plain days",
    )
    office_hours: str = Field(default="07:30-11:30,13:00-17:00", description="giờ hành chính, local time")
    in_person_cutoff: time | None = Field(
        default=time(15, 0),
        description="received in person at/after it (or on a day off) counts from the next working day; "
        "null: no transfer (the law counts from the reception itself)",
    )
    clock_stop: Literal["resolved", "result_returned"] = Field(
        default="resolved", description="the event that stops the clock"
    )
    rule_codes: tuple[str, ...] | None = Field(
        default=None, description="the rule codes that apply; null = all of them"
    )
    observed_until: AwareDatetime | None = Field(
        default=None,
        description="for a historical log: its end. Dossiers still open then are censored (outcome "
        "open_at_end_of_log, closed at this moment), never pending overdue later; null = live data",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as 'Europe/Rome'") from exc
        return value

    @field_validator("office_hours")
    @classmethod
    def _office_hours(cls, value: str) -> str:
        OfficeHours.parse(value)
        return value

    @field_validator("rule_codes")
    @classmethod
    def _known_codes(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        from shared.contracts.compliance import NonconformityCode

        if value is not None:
            unknown = sorted(set(value) - {c.value for c in NonconformityCode})
            if unknown:
                known = ", ".join(c.value for c in NonconformityCode)
                raise ValueError(f"unknown rule code(s) {', '.join(unknown)}; known: {known}")
        return value

    @model_validator(mode="after")
    def _calendar_known(self) -> LegalProfileRecord:
        import holidays

        try:
            holidays.country_holidays(self.holiday_country, subdiv=self.holiday_subdivision)
        except NotImplementedError as exc:
            raise ValueError(
                f"holiday_country {self.holiday_country!r} / holiday_subdivision "
                f"{self.holiday_subdivision!r} is not known to the holidays package; use ISO codes "
                "such as 'VN', or 'IT' with 'RM'"
            ) from exc
        return self

    @property
    def entity_id(self) -> str:
        return f"{self.code}|{self.version}"


RECORD_MODELS: dict[str, type[BaseModel]] = {
    "procedure": ProcedureRecord,
    "agency": AgencyRecord,
    "qms": QmsRecord,
    "iso_process": IsoProcessRecord,
    "calendar_override": CalendarOverrideRecord,
    "api_token": ApiTokenRecord,
    "legal_profile": LegalProfileRecord,
}


class RegistryChange(BaseModel):
    """One change of one registry entity; ``version`` grows per entity, higher wins.

    Entity ids: procedure → code; agency → code; qms → agency code;
    iso_process → ``<agency>|<procedure>|<version>``; calendar_override → year;
    api_token → the token's SHA-256 hash; legal_profile → ``<code>|<version>``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    entity: EntityKind
    entity_id: str
    version: int = Field(ge=1)
    deleted: bool = False
    changed_at: AwareDatetime
    data: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        """The compaction key."""
        return f"{self.entity}:{self.entity_id}"

    def record(self) -> BaseModel | None:
        """``data`` validated as its entity's record model (None for a deletion)."""
        if self.data is None:
            return None
        return RECORD_MODELS[self.entity].model_validate(self.data)
