"""Ingress contract: topic ``tthc.dossier-events.v1`` (DESIGN §3).

Key = dossier code, value = one JSON event. Each event type is its own model with a typed
payload; :data:`DossierEvent` is the discriminated union on ``event_type``. JSON is validated
strictly (no coercion), every date lies in a configured window, and size and nesting are checked
on the bytes before decoding (:class:`ContractLimits`).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    ValidationError,
    model_serializer,
)


class EventType(StrEnum):
    """Event types, aligned with the national portal's TrangThaiHoSo 1–10."""

    SUBMITTED = "dossier.submitted"
    ACCEPTED = "dossier.accepted"
    NOT_ACCEPTED = "dossier.not_accepted"
    STEP_COMPLETED = "dossier.step_completed"
    SUPPLEMENT_REQUESTED = "dossier.supplement_requested"
    SUPPLEMENT_RECEIVED = "dossier.supplement_received"
    FEE_REQUESTED = "dossier.fee_requested"
    FEE_PAID = "dossier.fee_paid"
    WITHDRAWN = "dossier.withdrawn"
    STOPPED = "dossier.stopped"
    RESOLVED = "dossier.resolved"
    RESULT_RETURNED = "dossier.result_returned"
    APOLOGY_ISSUED = "dossier.apology_issued"


class Channel(IntEnum):
    """Kênh thực hiện (KenhThucHien on the national portal)."""

    IN_PERSON = 1
    ONLINE = 2
    POSTAL = 3


_STRICT = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


@dataclass(frozen=True)
class ContractLimits:
    """Bounds of the ingress contract; the services set them from their settings
    (``TTHC_DATE_WINDOW_START``, ``TTHC_DATE_WINDOW_YEARS_AHEAD`` — the engine's window too —
    ``TTHC_EVENT_MAX_DEPTH``, ``TTHC_EVENT_MAX_BYTES``) with :func:`set_contract_limits`.

    Every date of an event must lie in [earliest, today + years_ahead]: a year 3025 typo would
    otherwise be accepted and then break every calendar computation (issue #11). Depth and size
    are checked on the bytes, before decoding, so a hostile message costs nothing to refuse.
    """

    earliest: date = date(2000, 1, 1)
    years_ahead: int = 5
    max_depth: int = 8
    max_bytes: int = 65_536

    def latest(self, today: date) -> date:
        try:
            return today.replace(year=today.year + self.years_ahead)
        except ValueError:  # 29 February
            return today.replace(year=today.year + self.years_ahead, day=28)


_limits = ContractLimits()


def set_contract_limits(limits: ContractLimits) -> None:
    """Configure the bounds every later validation applies (called once at a service's start)."""
    global _limits
    _limits = limits


def contract_limits() -> ContractLimits:
    return _limits


# The window of the day, (limits, earliest, latest, until): ``date.today()`` and ``latest`` cost more
# than the rest of an event's checks, so they are computed once a day (``until``: the next local
# midnight as a POSIX time; a clock set back, or other limits, compute them again).
_window: tuple[ContractLimits, date, date, float, float] | None = None


def _window_of_today() -> tuple[date, date]:
    global _window
    now = time.time()
    w = _window
    if w is None or w[0] is not _limits or not w[3] <= now < w[4]:
        today = date.today()
        since = datetime.combine(today, datetime.min.time()).timestamp()
        until = datetime.combine(today + timedelta(days=1), datetime.min.time()).timestamp()
        w = _window = (_limits, _limits.earliest, _limits.latest(today), since, until)
        if not since <= now < until:  # the day turned between the two readings: not kept
            _window = None
    return w[1], w[2]


def _in_window(value: datetime) -> datetime:
    day = value.date()
    earliest, latest = _window_of_today()
    if not earliest <= day <= latest:
        raise ValueError(
            f"must lie between {earliest.isoformat()} and {latest.isoformat()} "
            f"(got {day.isoformat()}); check the year"
        )
    return value


def _not_a_boolean(value: Any) -> Any:
    # JSON true/false must not stand for 1/0: bool is an int subclass, so the enum would take it
    if isinstance(value, bool):
        raise ValueError("must be a number (1 in person, 2 online, 3 postal), not true/false")
    return value


#: An instant with an offset, inside the configured date window.
EventTime = Annotated[AwareDatetime, AfterValidator(_in_window)]
#: A channel code; JSON true/false refused.
ChannelCode = Annotated[Channel, BeforeValidator(_not_a_boolean)]

Text = Annotated[str, Field(min_length=1, max_length=2000)]
Code = Annotated[str, Field(min_length=1, max_length=64)]


class _Payload(BaseModel):
    model_config = _STRICT


def _without_unset_766(
    handler: SerializerFunctionWrapHandler, model: BaseModel, keys: tuple[str, ...]
) -> Any:
    """The Decision 766 fields (optional, added later) are left out when empty, so an event without
    them serialises exactly as before they existed: older strict readers keep reading it."""
    out = handler(model)
    if isinstance(out, dict):
        for k in keys:
            if out.get(k) is None:
                out.pop(k, None)
    return out


class SubmittedPayload(_Payload):
    channel: ChannelCode


class AcceptedPayload(_Payload):
    channel: ChannelCode
    appointed_return_at: EventTime | None = Field(
        default=None, description="ngày hẹn trả: the return date written on the receipt"
    )
    digitized: bool | None = Field(
        default=None,
        description="hồ sơ được số hóa: the dossier's papers were digitised at acceptance (Decision 766); "
        "absent = not reported",
    )

    @model_serializer(mode="wrap")
    def _omit_empty(self, handler: SerializerFunctionWrapHandler) -> Any:
        return _without_unset_766(handler, self, ("digitized",))


class ReasonPayload(_Payload):
    reason: Text


class OptionalReasonPayload(_Payload):
    reason: Text | None = None


class StepCompletedPayload(_Payload):
    """One row of the control slip (phiếu kiểm soát quá trình giải quyết hồ sơ)."""

    step_code: Code
    from_unit: Code
    to_unit: Code | None = None
    handler: Annotated[str, Field(max_length=200)] | None = None


class EmptyPayload(_Payload):
    pass


class FeePayload(_Payload):
    amount: Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)]
    online: bool = False


class ResolvedPayload(_Payload):
    result_code: Code | None = None
    result_digitized: bool | None = Field(
        default=None,
        description="kết quả được số hóa: the result was issued or digitised as an electronic document "
        "(Decision 766); absent = not reported",
    )

    @model_serializer(mode="wrap")
    def _omit_empty(self, handler: SerializerFunctionWrapHandler) -> Any:
        return _without_unset_766(handler, self, ("result_digitized",))


class ApologyPayload(_Payload):
    """Phiếu xin lỗi và hẹn lại ngày trả kết quả."""

    new_appointment_at: EventTime
    reason: Text | None = None


class ResultReturnedPayload(_Payload):
    """The result handed back; the citizen's rating when given at the counter or on the portal."""

    satisfaction: Annotated[int, Field(ge=1, le=5)] | None = Field(
        default=None,
        description="mức độ hài lòng: the citizen's rating, 1 (rất không hài lòng) to 5 (rất hài lòng) "
        "(Decision 766); absent = not rated",
    )

    @model_serializer(mode="wrap")
    def _omit_empty(self, handler: SerializerFunctionWrapHandler) -> Any:
        return _without_unset_766(handler, self, ("satisfaction",))


class _Envelope(BaseModel):
    model_config = _STRICT

    event_id: Annotated[str, Field(min_length=1, max_length=128, description="idempotency key")]
    occurred_at: EventTime = Field(
        description="when it happened, ISO 8601 with an offset (+07:00), within the configured date window"
    )
    source: Annotated[str, Field(min_length=1, max_length=100)]
    dossier_code: Annotated[
        str,
        Field(
            pattern=r"^[0-9A-Za-z.]+-\d{6}-\d{4,6}$",
            max_length=80,
            description="mã hồ sơ: <agency code>-YYMMDD-NNNN",
            examples=["000.00.13.H13-250310-0001"],
        ),
    ]
    agency_code: Annotated[str, Field(pattern=r"^[0-9A-Za-z.]+$", min_length=1, max_length=40)]
    procedure_code: Annotated[str, Field(pattern=r"^[0-9A-Za-z.\-_]+$", min_length=1, max_length=64)]


class DossierSubmitted(_Envelope):
    event_type: Literal[EventType.SUBMITTED]
    payload: SubmittedPayload


class DossierAccepted(_Envelope):
    event_type: Literal[EventType.ACCEPTED]
    payload: AcceptedPayload


class DossierNotAccepted(_Envelope):
    event_type: Literal[EventType.NOT_ACCEPTED]
    payload: ReasonPayload


class DossierStepCompleted(_Envelope):
    event_type: Literal[EventType.STEP_COMPLETED]
    payload: StepCompletedPayload


class DossierSupplementRequested(_Envelope):
    event_type: Literal[EventType.SUPPLEMENT_REQUESTED]
    payload: ReasonPayload


class DossierSupplementReceived(_Envelope):
    event_type: Literal[EventType.SUPPLEMENT_RECEIVED]
    payload: EmptyPayload = Field(default_factory=EmptyPayload)


class DossierFeeRequested(_Envelope):
    event_type: Literal[EventType.FEE_REQUESTED]
    payload: FeePayload


class DossierFeePaid(_Envelope):
    event_type: Literal[EventType.FEE_PAID]
    payload: FeePayload


class DossierWithdrawn(_Envelope):
    event_type: Literal[EventType.WITHDRAWN]
    payload: OptionalReasonPayload = Field(default_factory=OptionalReasonPayload)


class DossierStopped(_Envelope):
    event_type: Literal[EventType.STOPPED]
    payload: ReasonPayload


class DossierResolved(_Envelope):
    event_type: Literal[EventType.RESOLVED]
    payload: ResolvedPayload = Field(default_factory=ResolvedPayload)


class DossierResultReturned(_Envelope):
    event_type: Literal[EventType.RESULT_RETURNED]
    payload: ResultReturnedPayload = Field(default_factory=ResultReturnedPayload)


class DossierApologyIssued(_Envelope):
    event_type: Literal[EventType.APOLOGY_ISSUED]
    payload: ApologyPayload


DossierEvent = Annotated[
    DossierSubmitted
    | DossierAccepted
    | DossierNotAccepted
    | DossierStepCompleted
    | DossierSupplementRequested
    | DossierSupplementReceived
    | DossierFeeRequested
    | DossierFeePaid
    | DossierWithdrawn
    | DossierStopped
    | DossierResolved
    | DossierResultReturned
    | DossierApologyIssued,
    Field(discriminator="event_type"),
]

dossier_event_adapter: TypeAdapter[DossierEvent] = TypeAdapter(DossierEvent)


# JSON can carry the NUL character only as the escape \u0000 (preceded by an even number of
# backslashes); PostgreSQL cannot store it in text, so the contract refuses it.
_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


# A string, or an unterminated one running to the end: possessive and anchored so that no input
# makes the scan quadratic.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_BRACKETS_ONLY = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def nests_deeper_than(data: bytes, levels: int) -> bool:
    """Whether the arrays and objects of a JSON text nest more than ``levels`` deep (or do not
    match), decided on the bytes without decoding them, in at most ``levels`` linear passes.

    Strings are removed first and braces become brackets; then each pass removes the empty pairs
    ``[]``, so pass k removes the containers of height k: whatever is left after ``levels`` passes
    is deeper. (A ``[`` closed by ``}`` passes here; the decoder refuses it.)
    """
    if data.count(b"[") + data.count(b"{") <= levels:
        return False
    text = _STRING.sub(b"", data) if b'"' in data else data
    brackets = text.translate(_BRACKETS_ONLY, _NOT_BRACKETS)
    for _ in range(levels):
        if not brackets:
            return False
        brackets = brackets.replace(b"[]", b"")
    return bool(brackets)


def message_error(loc: str, reason: str, data: bytes) -> ValidationError:
    """A validation error about a whole message (not one of its fields)."""
    return ValidationError.from_exception_data(
        "DossierEvent",
        [
            {
                "type": "value_error",
                "loc": (loc,),
                "input": data[:200].decode("utf-8", "replace"),
                "ctx": {"error": ValueError(reason)},
            }
        ],
    )


def depth_reason(levels: int) -> str:
    return (
        f"arrays and objects nest more than {levels} levels deep (or their brackets are unbalanced); "
        "an event is one object with one payload object"
    )


def check_message_bounds(data: bytes) -> None:
    """Refuse one event message over the size or nesting bound, before decoding it (``ValidationError``)."""
    limits = _limits
    if len(data) > limits.max_bytes:
        raise message_error(
            "(message)",
            f"an event may have at most {limits.max_bytes} bytes of JSON, this one has {len(data)}; "
            "shorten its texts",
            data,
        )
    if nests_deeper_than(data, limits.max_depth):
        raise message_error("(message)", depth_reason(limits.max_depth), data)


# the core validator itself: TypeAdapter.validate_json adds a Python layer to every call
_validate_json = dossier_event_adapter.validator.validate_json


def validate_event_json(data: bytes) -> DossierEvent:
    """Validate one event's JSON bytes strictly: no number for a date, no boolean for a number,
    no number for a text (raises ``pydantic.ValidationError``). Bounds are not checked here."""
    event: DossierEvent = _validate_json(data, strict=True)
    return event


def parse_dossier_event(raw: bytes | str) -> DossierEvent:
    """Parse and validate one event from its JSON bytes (raises ``pydantic.ValidationError``).

    Size and nesting are checked before decoding; NUL characters are refused; types are strict.
    """
    data = raw.encode() if isinstance(raw, str) else raw
    limits = _limits
    # check_message_bounds, inlined for the usual event (small, with fewer brackets than levels)
    if len(data) > limits.max_bytes or data.count(b"{") + data.count(b"[") > limits.max_depth:
        check_message_bounds(data)
    if b"\\u0000" in data and _NUL.search(data):
        raise message_error("(message)", "a text contains the NUL character (\\u0000); remove it", data)
    event: DossierEvent = _validate_json(data, strict=True)
    return event


def occurred_order(event: DossierEvent) -> tuple[float, str]:
    """Sort key: by ``occurred_at`` (not arrival), ties broken by event id for determinism.

    The instant as a POSIX timestamp (exact to the microsecond for these dates) compares much
    faster than aware datetimes.
    """
    return (event.occurred_at.timestamp(), event.event_id)
