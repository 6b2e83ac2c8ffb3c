"""Output contract of processing: topic ``tthc.compliance.v1`` (key = dossier code).

Each message is the *whole* current assessment of one dossier, with a ``revision`` that
grows with every change of it. Consumers keep the highest revision per dossier, so
at-least-once delivery and replays from offset 0 converge to the same state.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.contracts.events import Channel
from shared.contracts.registry import StepBudget

M = TypeVar("M", bound=BaseModel)


class Outcome(StrEnum):
    """Kết quả: resolved early / on time / late, or the state of a dossier still open."""

    EARLY = "early"  # trước hạn
    ON_TIME = "on_time"  # đúng hạn
    LATE = "late"  # quá hạn
    PENDING_WITHIN = "pending_within"  # đang giải quyết, trong hạn
    PENDING_OVERDUE = "pending_overdue"  # đang giải quyết, quá hạn
    NOT_ACCEPTED = "not_accepted"
    WITHDRAWN = "withdrawn"
    STOPPED = "stopped"
    OPEN_AT_END = "open_at_end_of_log"  # còn mở khi hết nhật ký: censored, never pending overdue


class StepStatus(StrEnum):
    """How one hand-over of the control slip compares with its step's budget."""

    EARLY = "early"  # trước hạn
    ON_TIME = "on_time"  # đúng hạn
    LATE = "late"  # quá hạn


class NonconformityCode(StrEnum):
    """The rule codes of DESIGN §4; ``NonconformityRecord.code`` holds one of these."""

    LATE = "LATE"
    OVERDUE = "OVERDUE"
    STEP_LATE = "STEP_LATE"
    STEP_OVERDUE = "STEP_OVERDUE"
    STEP_SKIPPED = "STEP_SKIPPED"
    STEP_ORDER = "STEP_ORDER"
    WRONG_UNIT = "WRONG_UNIT"
    APPOINTMENT = "APPOINTMENT"
    APOLOGY_MISSING = "APOLOGY_MISSING"
    APOLOGY_LATE = "APOLOGY_LATE"
    SUPPLEMENT_LATE = "SUPPLEMENT_LATE"
    SUPPLEMENT_REPEATED = "SUPPLEMENT_REPEATED"
    OUT_OF_SCOPE = "OUT_OF_SCOPE"
    # Data quality (not a breach by the agency): the events cannot have happened in this order.
    IMPOSSIBLE_ORDER = "IMPOSSIBLE_ORDER"


DATA_QUALITY_CODES = frozenset({NonconformityCode.IMPOSSIBLE_ORDER})
"""Codes that say the dossier's data cannot be judged, rather than that a rule was broken."""


class ControlSlipRow(BaseModel):
    """One row of the control slip (phiếu kiểm soát quá trình giải quyết hồ sơ, Circular 01/2018 form 05)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(description="the dossier.step_completed event of this hand-over")
    step_code: str
    unit: str = Field(description="the unit that did the step and handed the dossier over (from_unit)")
    to_unit: str | None = None
    handler: str | None = None
    received_at: AwareDatetime = Field(description="the previous hand-over, or the acceptance")
    handed_over_at: AwareDatetime
    budget: StepBudget | None = Field(
        default=None, description="the ISO step's time budget; None when the step is not in the process"
    )
    due_at: AwareDatetime | None = Field(
        default=None, description="received_at + budget on the working calendar, supplement waits excluded"
    )
    status: StepStatus | None = Field(default=None, description="None when there is no budget to judge by")


class NonconformityRecord(BaseModel):
    """One nonconformity (sự không phù hợp) raised against a dossier."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    clause: str = Field(description="ISO 9001:2015 clause, e.g. 8.5.1")
    detected_at: AwareDatetime
    evidence: tuple[str, ...] = Field(description="event ids")
    detail: str = ""
    status: Literal["open", "corrective_action", "closed"] = Field(
        default="open",
        description="corrective-action lifecycle (clause 10.2), changed by people through the API",
    )


class DossierAssessment(BaseModel):
    """The current compliance assessment of one dossier."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["dossier.assessed"] = "dossier.assessed"
    dossier_code: str
    agency_code: str
    procedure_code: str
    revision: int = Field(
        ge=1, description="grows with every change of this dossier's assessment; higher wins"
    )
    status: int = Field(ge=1, le=10, description="TrangThaiHoSo 1–10")
    outcome: Outcome | None = Field(description="None until the dossier is accepted or refused")
    channel: Channel | None
    submitted_at: AwareDatetime | None = None
    accepted_at: AwareDatetime | None
    due_at: AwareDatetime | None = Field(description="legal due moment (clock restarts after a supplement)")
    index_due_at: AwareDatetime | None = Field(
        description="national-index due moment (supplement time subtracted)"
    )
    resolved_at: AwareDatetime | None
    closed_at: AwareDatetime | None = Field(
        default=None,
        description="when it left processing: resolved, refused, withdrawn or stopped; for a dossier of "
        "a historical log still open at the log's end (outcome open_at_end_of_log), the log's end",
    )
    processing_working_days: float | None = Field(
        default=None, description="accepted → resolved, in working days (Decision 766 average time)"
    )
    in_scope: bool = True
    index_outcome: Outcome | None = Field(
        default=None,
        description="outcome in the national-index view: judged against index_due_at; "
        "more than one supplement request counts as late",
    )
    iso_process_version: int | None = Field(
        default=None, description="version of the agency's ISO process in force on the acceptance date"
    )
    steps: tuple[ControlSlipRow, ...] = Field(default=(), description="the control slip, in occurred order")
    nonconformities: tuple[NonconformityRecord, ...] = ()
    assessed_at: AwareDatetime
    at_risk_since: AwareDatetime | None = Field(
        default=None,
        description="AT_RISK (dự báo trễ hạn): first moment the estimated resolution passed the due moment "
        "while the dossier was open; None when never warned (or no forecast model)",
    )
    forecast_resolved_at: AwareDatetime | None = Field(
        default=None, description="estimated resolution of an open dossier, from observed durations"
    )


_REQUIRED: object = object()


def trusted_constructor(cls: type[M]) -> Callable[..., M]:
    """A constructor of ``cls`` from values already validated, for the engine's hot path.

    The model it returns is the one ``cls.model_construct(**values)`` returns (same ``__dict__``
    in field order with the defaults filled in, same ``model_fields_set``, no extra, no private
    state) for less than half of its CPU: pydantic's ``model_construct`` walks every field's
    aliases in Python on every call, this copies one prepared dict. Like ``model_construct``, it
    validates no value; unlike it, an unknown name is a ``TypeError``, and so are fewer values
    than required fields (a required field left out among optional ones is not caught here: it
    would hold a placeholder that pydantic refuses to serialise; tests/unit/test_engine_construction.py
    builds every model of the engine both ways).
    """
    if cls.__pydantic_post_init__ or cls.__pydantic_root_model__ or cls.model_config.get("extra") == "allow":
        raise TypeError(f"{cls.__name__} needs pydantic's own model_construct")
    template: dict[str, Any] = {}
    for name, info in cls.__pydantic_fields__.items():
        if info.alias not in (None, name) or info.validation_alias not in (None, name):
            raise TypeError(f"{cls.__name__}.{name} has an alias: use pydantic's own model_construct")
        if info.default_factory is not None:  # one default object would be shared by every model
            raise TypeError(f"{cls.__name__}.{name} has a default factory: use pydantic's own model_construct")
        template[name] = _REQUIRED if info.is_required() else info.get_default(call_default_factory=True)
    required = frozenset(name for name, value in template.items() if value is _REQUIRED)
    count = len(template)
    new = cls.__new__
    set_ = object.__setattr__

    def refuse(values: dict[str, Any]) -> TypeError:
        names = values.keys()
        return TypeError(
            f"{cls.__name__}: missing {sorted(required - names)}, unknown {sorted(names - template.keys())}"
        )

    def construct(**values: Any) -> M:
        fields = template.copy()  # field order, defaults filled in
        fields.update(values)
        if len(fields) != count or len(values) < len(required):  # a name not a field, or too few
            raise refuse(values)
        m = new(cls)
        set_(m, "__dict__", fields)
        set_(m, "__pydantic_fields_set__", set(values))
        set_(m, "__pydantic_extra__", None)
        set_(m, "__pydantic_private__", None)
        return m

    return construct


new_assessment = trusted_constructor(DossierAssessment)
"""``DossierAssessment.model_construct`` for the engine: see :func:`trusted_constructor`."""
new_control_slip_row = trusted_constructor(ControlSlipRow)
"""``ControlSlipRow.model_construct`` for the engine: see :func:`trusted_constructor`."""
new_nonconformity = trusted_constructor(NonconformityRecord)
"""``NonconformityRecord.model_construct`` for the engine: see :func:`trusted_constructor`."""
