"""National-portal status updates → dossier events (pure: no I/O, no clock).

The provincial one-stop systems (hệ thống một cửa điện tử) sync each dossier to the National
Public Service Portal as a snapshot: MaHoSo, MaTTHC, the status TrangThaiHoSo 1–10, the dates
NgayTiepNhan / NgayHenTra / NgayKetThucXuLy / NgayTra, KenhThucHien, and the processing log
QuaTrinhXuLy. :func:`map_update` turns one snapshot, plus what we remembered of the dossier's
previous snapshot (:class:`PortalState`), into the events of DESIGN §3. Event ids are derived
from the dossier code, the kind of event and the moment it happened, so re-sending a snapshot
yields the same ids and is accepted once. The mapping table is in docs/ingress.md.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
)

from shared.contracts.events import (
    AcceptedPayload,
    Channel,
    DossierAccepted,
    DossierEvent,
    DossierFeePaid,
    DossierFeeRequested,
    DossierNotAccepted,
    DossierResolved,
    DossierResultReturned,
    DossierStepCompleted,
    DossierStopped,
    DossierSubmitted,
    DossierSupplementReceived,
    DossierSupplementRequested,
    DossierWithdrawn,
    EmptyPayload,
    EventType,
    FeePayload,
    OptionalReasonPayload,
    ReasonPayload,
    ResolvedPayload,
    ResultReturnedPayload,
    StepCompletedPayload,
    SubmittedPayload,
)

__all__ = [
    "Mapped",
    "PortalMappingError",
    "PortalState",
    "PortalUpdate",
    "derived_event_id",
    "map_update",
    "parse_portal_time",
    "parse_update",
]

_COMPACT = re.compile(r"\d{14}")
MAX_EVENT_ID = 128


def parse_portal_time(value: str, tz: tzinfo) -> datetime:
    """``yyyyMMddHHmmss`` (the portal's local time in ``tz``) or ISO 8601 with an offset."""
    text = value.strip()
    if _COMPACT.fullmatch(text):
        try:
            local = datetime.strptime(text, "%Y%m%d%H%M%S")
        except ValueError:
            raise ValueError(f"{value!r} is not a real date and time (yyyyMMddHHmmss)") from None
        return _plausible(local, value).replace(tzinfo=tz)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{value!r} is neither yyyyMMddHHmmss (local time) nor ISO 8601 with an offset "
            "(e.g. 2025-03-10T08:30:00+07:00)"
        ) from None
    if parsed.tzinfo is None:
        raise ValueError(
            f"{value!r} has no UTC offset: add one (e.g. +07:00) or send yyyyMMddHHmmss local time"
        )
    return _plausible(parsed, value).astimezone(tz)


def _plausible(moment: datetime, value: str) -> datetime:
    # far-off years are typing errors, and year 1 or 9999 would overflow when moved to UTC
    if not 1900 <= moment.year <= 2999:
        raise ValueError(f"{value!r} is not a plausible date for a dossier (year 1900–2999)")
    return moment


def _portal_time(value: object, info: ValidationInfo) -> object:
    if value is None or value == "":
        return None  # the one-stop systems send "" for a date not reached yet
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("a date must be a string: yyyyMMddHHmmss (local time) or ISO 8601 with an offset")
    tz = (info.context or {}).get("tz")
    if not isinstance(tz, tzinfo):
        raise TypeError("portal dates are parsed with the time zone in the validation context")
    return parse_portal_time(value, tz)


def _blank_to_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


PortalTime = Annotated[
    AwareDatetime | None,
    BeforeValidator(_portal_time, json_schema_input_type=str | None),
    Field(description="yyyyMMddHHmmss in the portal's local time, or ISO 8601 with an offset"),
]
RequiredPortalTime = Annotated[
    AwareDatetime,
    BeforeValidator(_portal_time, json_schema_input_type=str),
    Field(description="yyyyMMddHHmmss in the portal's local time, or ISO 8601 with an offset"),
]
OptionalText = Annotated[Annotated[str, Field(max_length=2000)] | None, BeforeValidator(_blank_to_none)]
OptionalCode = Annotated[
    Annotated[str, Field(min_length=1, max_length=64)] | None, BeforeValidator(_blank_to_none)
]
Code = Annotated[str, Field(min_length=1, max_length=64)]

# Snapshots carry many fields we do not read (ChuHoSo, TaiLieuNop, …): ignore them.
_PORTAL = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)


class PortalStep(BaseModel):
    """One row of QuaTrinhXuLy: a hand-over of the control slip."""

    model_config = _PORTAL

    MaBuoc: Code = Field(description="step code of the ISO process (the one-stop system's node code)")
    PhongBanXuLy: Code = Field(description="unit that did the step and hands the dossier over")
    PhongBanNhan: OptionalCode = Field(default=None, description="unit receiving the dossier")
    NguoiXuLy: Annotated[Annotated[str, Field(max_length=200)] | None, BeforeValidator(_blank_to_none)] = None
    ThoiDiemXuLy: RequiredPortalTime


class PortalSupplement(BaseModel):
    """One row of DanhSachHoSoBoSung: a supplement request and, once there, its receipt."""

    model_config = _PORTAL

    NgayBoSung: RequiredPortalTime = Field(description="when the supplement was requested")
    NgayTiepNhanBoSung: PortalTime = Field(default=None, description="when the complete dossier arrived")
    NoiDungBoSung: OptionalText = Field(default=None, description="what must be supplemented (the reason)")


class PortalFee(BaseModel):
    """One row of DanhSachLePhi."""

    model_config = _PORTAL

    Gia: Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)]
    TenPhiLePhi: OptionalText = None


class PortalUpdate(BaseModel):
    """A dossier snapshot as the one-stop systems send it to the national portal."""

    model_config = _PORTAL

    MaHoSo: Annotated[
        str,
        Field(
            pattern=r"^[0-9A-Za-z.]+-\d{6}-\d{4,6}$",
            max_length=80,
            description="mã hồ sơ: <agency code>-YYMMDD-NNNN",
            examples=["000.00.13.H13-250310-0001"],
        ),
    ]
    MaTTHC: Annotated[str, Field(pattern=r"^[0-9A-Za-z.\-_]+$", min_length=1, max_length=64)]
    MaCoQuan: Annotated[
        Annotated[str, Field(pattern=r"^[0-9A-Za-z.]+$", min_length=1, max_length=40)] | None,
        BeforeValidator(_blank_to_none),
        Field(description="receiving agency; default: the agency part of MaHoSo"),
    ] = None
    TrangThaiHoSo: Annotated[int, Field(ge=1, le=10, description="TrangThaiHoSo 1–10")]
    KenhThucHien: Annotated[
        Annotated[int, Field(ge=1, le=3)] | None,
        BeforeValidator(_blank_to_none),
        Field(description="1 in person, 2 online, 3 postal"),
    ] = None
    NgayNopHoSo: PortalTime = None
    NgayTiepNhan: PortalTime = None
    NgayHenTra: PortalTime = None
    NgayKetThucXuLy: PortalTime = None
    NgayTra: PortalTime = None
    ThoiDiemXuLy: PortalTime = Field(default=None, description="when the dossier reached this status")
    LyDo: OptionalText = None
    GhiChu: OptionalText = None
    SoKyHieuKetQua: OptionalCode = Field(default=None, description="number of the result document")
    DuocThanhToanTrucTuyen: bool = Field(default=False, description="fees paid online")
    QuaTrinhXuLy: Annotated[list[PortalStep], Field(max_length=200)] = []
    DanhSachHoSoBoSung: Annotated[list[PortalSupplement], Field(max_length=50)] = []
    DanhSachLePhi: Annotated[list[PortalFee], Field(max_length=50)] = []

    @property
    def agency_code(self) -> str:
        return self.MaCoQuan or self.MaHoSo.rsplit("-", 2)[0]


def parse_update(raw: Any, tz: tzinfo) -> PortalUpdate:
    """Validate one snapshot (raises ``pydantic.ValidationError``); dates are read in ``tz``."""
    return PortalUpdate.model_validate(raw, context={"tz": tz})


@dataclass(frozen=True)
class PortalState:
    """What we remember of a dossier between snapshots."""

    last_status: int
    pending: Literal["supplement", "fee"] | None = None
    pending_since: datetime | None = None  # when the open request was made: keys the closing event's id
    fee_amount: Decimal | None = None
    fee_online: bool = False


@dataclass(frozen=True)
class Mapped:
    events: tuple[DossierEvent, ...]
    state: PortalState


class PortalMappingError(ValueError):
    """The snapshot is valid but lacks what its status needs; ``errors`` = (field, reason)."""

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {r}" for f, r in errors))
        self.errors = list(errors)


def derived_event_id(
    dossier_code: str, kind: str, *, step: str | None = None, at: datetime | None = None
) -> str:
    """``portal:<dossier>:<kind>[:<step>][:<UTC moment>]``; hashed if longer than an event id may be."""
    parts = ["portal", dossier_code, kind]
    if step is not None:
        parts.append(step)
    if at is not None:
        parts.append(at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ"))
    text = ":".join(parts)
    if len(text) <= MAX_EVENT_ID:
        return text
    return "portal:" + hashlib.sha256(text.encode()).hexdigest()


def map_update(update: PortalUpdate, state: PortalState | None, *, source: str) -> Mapped:
    """The events one snapshot implies, and the state to remember; see docs/ingress.md."""
    u = update
    code, status = u.MaHoSo, u.TrangThaiHoSo
    env: dict[str, Any] = {
        "source": source,
        "dossier_code": code,
        "agency_code": u.agency_code,
        "procedure_code": u.MaTTHC,
    }
    errors: list[tuple[str, str]] = []
    events: list[DossierEvent] = []
    reason = u.LyDo or u.GhiChu
    when = u.ThoiDiemXuLy
    channel = Channel(u.KenhThucHien) if u.KenhThucHien is not None else None

    def need(value: Any, field: str, why: str) -> bool:
        if value is None:
            errors.append((field, why))
            return False
        return True

    # Status 1 and the acceptance, which every later snapshot repeats (same id: accepted once).
    if status == 1:
        submitted_at = u.NgayNopHoSo or when
        if need(
            submitted_at, "NgayNopHoSo", "status 1 needs the submission time (NgayNopHoSo or ThoiDiemXuLy)"
        ) and need(channel, "KenhThucHien", "status 1 needs the channel (1 in person, 2 online, 3 postal)"):
            assert submitted_at is not None and channel is not None
            events.append(
                DossierSubmitted(
                    **env,
                    event_id=derived_event_id(code, "submitted"),
                    event_type=EventType.SUBMITTED,
                    occurred_at=submitted_at,
                    payload=SubmittedPayload(channel=channel),
                )
            )
    elif status != 3 and (u.NgayTiepNhan is not None or status == 2):
        if need(u.NgayTiepNhan, "NgayTiepNhan", "status 2 needs the acceptance time NgayTiepNhan") and need(
            channel, "KenhThucHien", "an accepted dossier needs its channel (1 in person, 2 online, 3 postal)"
        ):
            assert u.NgayTiepNhan is not None and channel is not None
            events.append(
                DossierAccepted(
                    **env,
                    event_id=derived_event_id(code, "accepted"),
                    event_type=EventType.ACCEPTED,
                    occurred_at=u.NgayTiepNhan,
                    payload=AcceptedPayload(channel=channel, appointed_return_at=u.NgayHenTra),
                )
            )
    if status == 3:
        refused_at = when or u.NgayKetThucXuLy
        if need(refused_at, "ThoiDiemXuLy", "status 3 needs the refusal time (ThoiDiemXuLy)") and need(
            reason, "LyDo", "status 3 needs the reason for not accepting (LyDo or GhiChu)"
        ):
            assert refused_at is not None and reason is not None
            events.append(
                DossierNotAccepted(
                    **env,
                    event_id=derived_event_id(code, "not_accepted"),
                    event_type=EventType.NOT_ACCEPTED,
                    occurred_at=refused_at,
                    payload=ReasonPayload(reason=reason),
                )
            )

    # Supplements: every listed request (and its receipt), else the status-5 snapshot itself.
    closed_requests: set[datetime] = set()
    for i, entry in enumerate(u.DanhSachHoSoBoSung):
        why = entry.NoiDungBoSung or reason
        if need(why, f"DanhSachHoSoBoSung.{i}.NoiDungBoSung", "a supplement request needs its reason"):
            assert why is not None
            events.append(_supplement_requested(env, code, entry.NgayBoSung, why))
        if entry.NgayTiepNhanBoSung is not None:
            closed_requests.add(entry.NgayBoSung)
            events.append(_supplement_received(env, code, entry.NgayBoSung, entry.NgayTiepNhanBoSung))
    latest_request = max((e.NgayBoSung for e in u.DanhSachHoSoBoSung), default=None)
    if status == 5 and latest_request is None:
        latest_request = when
        if need(
            when, "ThoiDiemXuLy", "status 5 needs the request time (ThoiDiemXuLy or DanhSachHoSoBoSung)"
        ) and need(reason, "LyDo", "status 5 needs what must be supplemented (LyDo or GhiChu)"):
            assert when is not None and reason is not None
            events.append(_supplement_requested(env, code, when, reason))

    # Fees (status 6): the amount is the sum of DanhSachLePhi.
    fee_amount = sum((f.Gia for f in u.DanhSachLePhi), Decimal(0)) if u.DanhSachLePhi else None
    if status == 6 and need(
        when, "ThoiDiemXuLy", "status 6 needs the time of the fee request (ThoiDiemXuLy)"
    ):
        if need(fee_amount, "DanhSachLePhi", "status 6 needs the fees (DanhSachLePhi with Gia)"):
            assert when is not None and fee_amount is not None
            events.append(
                DossierFeeRequested(
                    **env,
                    event_id=derived_event_id(code, "fee_requested", at=when),
                    event_type=EventType.FEE_REQUESTED,
                    occurred_at=when,
                    payload=FeePayload(amount=fee_amount, online=u.DuocThanhToanTrucTuyen),
                )
            )

    # Status 4, 9 or 10 after 5 or 6 closes the open request: supplement received, fee paid.
    steps = sorted(u.QuaTrinhXuLy, key=lambda s: s.ThoiDiemXuLy)
    moved_on = status in (4, 9, 10)
    if moved_on and state is not None and state.pending is not None and state.pending_since is not None:
        closed_at = (
            when
            or (steps[0].ThoiDiemXuLy if steps else None)
            or (u.NgayKetThucXuLy if status in (9, 10) else None)
            or (u.NgayTra if status == 10 else None)
        )
        if state.pending == "supplement" and state.pending_since not in closed_requests:
            if need(
                closed_at, "ThoiDiemXuLy", "a status after 5 closes the supplement request: send ThoiDiemXuLy"
            ):
                assert closed_at is not None
                events.append(_supplement_received(env, code, state.pending_since, closed_at))
        elif state.pending == "fee" and state.fee_amount is not None:
            if need(closed_at, "ThoiDiemXuLy", "a status after 6 means the fee was paid: send ThoiDiemXuLy"):
                assert closed_at is not None
                events.append(
                    DossierFeePaid(
                        **env,
                        event_id=derived_event_id(code, "fee_paid", at=state.pending_since),
                        event_type=EventType.FEE_PAID,
                        occurred_at=closed_at,
                        payload=FeePayload(amount=state.fee_amount, online=state.fee_online),
                    )
                )

    # The control slip: one step_completed per row of QuaTrinhXuLy, whatever the status.
    for s in steps:
        events.append(
            DossierStepCompleted(
                **env,
                event_id=derived_event_id(code, "step", step=s.MaBuoc, at=s.ThoiDiemXuLy),
                event_type=EventType.STEP_COMPLETED,
                occurred_at=s.ThoiDiemXuLy,
                payload=StepCompletedPayload(
                    step_code=s.MaBuoc, from_unit=s.PhongBanXuLy, to_unit=s.PhongBanNhan, handler=s.NguoiXuLy
                ),
            )
        )

    # Endings.
    if status == 7:
        withdrawn_at = when or u.NgayKetThucXuLy
        if need(withdrawn_at, "ThoiDiemXuLy", "status 7 needs the withdrawal time (ThoiDiemXuLy)"):
            assert withdrawn_at is not None
            events.append(
                DossierWithdrawn(
                    **env,
                    event_id=derived_event_id(code, "withdrawn"),
                    event_type=EventType.WITHDRAWN,
                    occurred_at=withdrawn_at,
                    payload=OptionalReasonPayload(reason=reason),
                )
            )
    if status == 8:
        stopped_at = when or u.NgayKetThucXuLy
        if need(
            stopped_at, "ThoiDiemXuLy", "status 8 needs the time processing stopped (ThoiDiemXuLy)"
        ) and need(reason, "LyDo", "status 8 needs the reason (LyDo or GhiChu)"):
            assert stopped_at is not None and reason is not None
            events.append(
                DossierStopped(
                    **env,
                    event_id=derived_event_id(code, "stopped"),
                    event_type=EventType.STOPPED,
                    occurred_at=stopped_at,
                    payload=ReasonPayload(reason=reason),
                )
            )
    if status == 9 or (status == 10 and u.NgayKetThucXuLy is not None):
        if need(u.NgayKetThucXuLy, "NgayKetThucXuLy", "status 9 needs the resolution time NgayKetThucXuLy"):
            assert u.NgayKetThucXuLy is not None
            events.append(
                DossierResolved(
                    **env,
                    event_id=derived_event_id(code, "resolved"),
                    event_type=EventType.RESOLVED,
                    occurred_at=u.NgayKetThucXuLy,
                    payload=ResolvedPayload(result_code=u.SoKyHieuKetQua),
                )
            )
    if status == 10 and need(u.NgayTra, "NgayTra", "status 10 needs the return time NgayTra"):
        assert u.NgayTra is not None
        events.append(
            DossierResultReturned(
                **env,
                event_id=derived_event_id(code, "result_returned"),
                event_type=EventType.RESULT_RETURNED,
                occurred_at=u.NgayTra,
                payload=ResultReturnedPayload(),  # the portal's status data carries no rating
            )
        )

    if errors:
        raise PortalMappingError(errors)
    return Mapped(_distinct(events), _next_state(u, state, latest_request, closed_requests, fee_amount))


def _supplement_requested(env: dict[str, Any], code: str, at: datetime, reason: str) -> DossierEvent:
    return DossierSupplementRequested(
        **env,
        event_id=derived_event_id(code, "supplement_requested", at=at),
        event_type=EventType.SUPPLEMENT_REQUESTED,
        occurred_at=at,
        payload=ReasonPayload(reason=reason),
    )


def _supplement_received(
    env: dict[str, Any], code: str, requested_at: datetime, at: datetime
) -> DossierEvent:
    # keyed by the request it answers, so every way of learning of the receipt gives one id
    return DossierSupplementReceived(
        **env,
        event_id=derived_event_id(code, "supplement_received", at=requested_at),
        event_type=EventType.SUPPLEMENT_RECEIVED,
        occurred_at=at,
        payload=EmptyPayload(),
    )


def _distinct(events: Sequence[DossierEvent]) -> tuple[DossierEvent, ...]:
    seen: dict[str, DossierEvent] = {}
    for e in events:
        seen.setdefault(e.event_id, e)
    return tuple(seen.values())


def _next_state(
    u: PortalUpdate,
    state: PortalState | None,
    latest_request: datetime | None,
    closed_requests: set[datetime],
    fee_amount: Decimal | None,
) -> PortalState:
    status = u.TrangThaiHoSo
    kept = state or PortalState(last_status=status)
    if status == 5 and latest_request is not None and latest_request not in closed_requests:
        return PortalState(status, "supplement", latest_request)
    if status == 6 and u.ThoiDiemXuLy is not None:
        return PortalState(status, "fee", u.ThoiDiemXuLy, fee_amount, u.DuocThanhToanTrucTuyen)
    if status in (4, 5, 9, 10):
        return PortalState(status)
    return replace(kept, last_status=status)
