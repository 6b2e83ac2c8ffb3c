"""The pure mapping of national-portal snapshots to dossier events (docs/ingress.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.processing.domain.portal_mapping import (
    PortalMappingError,
    PortalState,
    derived_event_id,
    map_update,
    parse_portal_time,
    parse_update,
)
from shared.contracts.events import dossier_event_adapter

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
CODE = "000.00.13.H13-250310-0001"
ENV = {
    "source": "portal-sync:test",
    "dossier_code": CODE,
    "agency_code": "000.00.13.H13",
    "procedure_code": "1.004845",
}


def snap(status: int, **fields: Any) -> dict[str, Any]:
    return {
        "MaHoSo": CODE,
        "MaTTHC": "1.004845",
        "TrangThaiHoSo": status,
        "KenhThucHien": 1,
        "NgayTiepNhan": "20250310083000",
        "NgayHenTra": "20250312170000",
        **fields,
    }


def events_of(
    raw: dict[str, Any], state: PortalState | None = None
) -> tuple[list[dict[str, Any]], PortalState]:
    mapped = map_update(parse_update(raw, TZ), state, source="portal-sync:test")
    return [e.model_dump(mode="json") for e in mapped.events], mapped.state


def ev(event_id: str, event_type: str, occurred_at: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        **ENV,
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": occurred_at,
        "payload": payload,
    }


ACCEPTED = ev(
    f"portal:{CODE}:accepted",
    "dossier.accepted",
    "2025-03-10T08:30:00+07:00",
    {"channel": 1, "appointed_return_at": "2025-03-12T17:00:00+07:00"},
)


def test_portal_times_compact_local_and_iso_with_offset() -> None:
    assert parse_portal_time("20250310083000", TZ) == datetime(2025, 3, 10, 1, 30, tzinfo=UTC)
    assert parse_portal_time("2025-03-10T01:30:00Z", TZ) == datetime(2025, 3, 10, 8, 30, tzinfo=TZ)
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_portal_time("2025-03-10T08:30:00", TZ)
    with pytest.raises(ValueError, match="not a real date"):
        parse_portal_time("20250231083000", TZ)
    with pytest.raises(ValueError, match="neither yyyyMMddHHmmss"):
        parse_portal_time("10/03/2025", TZ)


def test_status_2_is_the_acceptance_with_channel_and_appointed_date() -> None:
    events, state = events_of(snap(2))
    assert events == [ACCEPTED]
    assert state == PortalState(2)


def test_status_4_gives_one_step_per_row_and_repeats_the_acceptance_with_the_same_id() -> None:
    rows = [
        {"MaBuoc": "B2", "PhongBanXuLy": "CV", "PhongBanNhan": "LD", "ThoiDiemXuLy": "20250311090000"},
        {
            "MaBuoc": "B1",
            "PhongBanXuLy": "MC",
            "PhongBanNhan": "CV",
            "NguoiXuLy": "Lan",
            "ThoiDiemXuLy": "20250310100000",
        },
    ]
    events, _ = events_of(snap(4, QuaTrinhXuLy=rows), PortalState(2))
    assert events == [
        ACCEPTED,
        ev(
            f"portal:{CODE}:step:B1:20250310T030000Z",
            "dossier.step_completed",
            "2025-03-10T10:00:00+07:00",
            {"step_code": "B1", "from_unit": "MC", "to_unit": "CV", "handler": "Lan"},
        ),
        ev(
            f"portal:{CODE}:step:B2:20250311T020000Z",
            "dossier.step_completed",
            "2025-03-11T09:00:00+07:00",
            {"step_code": "B2", "from_unit": "CV", "to_unit": "LD", "handler": None},
        ),
    ]


def test_status_4_after_5_means_the_supplement_was_received() -> None:
    requested, state = events_of(
        snap(5, ThoiDiemXuLy="20250310140000", LyDo="thiếu bản sao CCCD"), PortalState(4)
    )
    request_id = f"portal:{CODE}:supplement_requested:20250310T070000Z"
    assert requested == [
        ACCEPTED,
        ev(
            request_id,
            "dossier.supplement_requested",
            "2025-03-10T14:00:00+07:00",
            {"reason": "thiếu bản sao CCCD"},
        ),
    ]
    assert state == PortalState(5, "supplement", datetime(2025, 3, 10, 14, tzinfo=TZ))
    received, state = events_of(snap(4, ThoiDiemXuLy="20250313080000"), state)
    assert received == [
        ACCEPTED,
        ev(
            f"portal:{CODE}:supplement_received:20250310T070000Z",
            "dossier.supplement_received",
            "2025-03-13T08:00:00+07:00",
            {},
        ),
    ]
    assert state == PortalState(4)


def test_a_listed_supplement_receipt_has_the_same_id_as_the_one_inferred_from_4_after_5() -> None:
    listed = [
        {"NgayBoSung": "20250310140000", "NgayTiepNhanBoSung": "20250313080000", "NoiDungBoSung": "CCCD"}
    ]
    events, state = events_of(snap(4, DanhSachHoSoBoSung=listed))
    ids = [e["event_id"] for e in events]
    assert ids == [
        f"portal:{CODE}:accepted",
        f"portal:{CODE}:supplement_requested:20250310T070000Z",
        f"portal:{CODE}:supplement_received:20250310T070000Z",
    ]
    # the state path (no list) would close the same request with the same id
    inferred, _ = events_of(
        snap(4, ThoiDiemXuLy="20250313080000"),
        PortalState(5, "supplement", datetime(2025, 3, 10, 14, tzinfo=TZ)),
    )
    assert inferred[-1]["event_id"] == ids[-1]
    assert state == PortalState(4)


def test_fee_requested_then_paid_when_processing_goes_on() -> None:
    fees = [{"TenPhiLePhi": "Lệ phí", "Gia": "50000"}, {"Gia": 25000.5}]
    requested, state = events_of(
        snap(6, ThoiDiemXuLy="20250311080000", DanhSachLePhi=fees, DuocThanhToanTrucTuyen=True),
        PortalState(4),
    )
    assert requested[-1] == ev(
        f"portal:{CODE}:fee_requested:20250311T010000Z",
        "dossier.fee_requested",
        "2025-03-11T08:00:00+07:00",
        {"amount": "75000.5", "online": True},
    )
    assert state.pending == "fee" and state.fee_amount == Decimal("75000.5")
    paid, state = events_of(snap(4, ThoiDiemXuLy="20250311150000"), state)
    assert paid[-1] == ev(
        f"portal:{CODE}:fee_paid:20250311T010000Z",
        "dossier.fee_paid",
        "2025-03-11T15:00:00+07:00",
        {"amount": "75000.5", "online": True},
    )
    assert state == PortalState(4)


def test_a_lone_status_10_snapshot_carries_the_whole_ending() -> None:
    events, state = events_of(
        snap(
            10, NgayKetThucXuLy="20250312100000", NgayTra="2025-03-12T15:00:00+07:00", SoKyHieuKetQua="123/GP"
        )
    )
    assert events == [
        ACCEPTED,
        ev(
            f"portal:{CODE}:resolved",
            "dossier.resolved",
            "2025-03-12T10:00:00+07:00",
            {"result_code": "123/GP"},
        ),
        ev(f"portal:{CODE}:result_returned", "dossier.result_returned", "2025-03-12T15:00:00+07:00", {}),
    ]
    assert state == PortalState(10)


@pytest.mark.parametrize(
    ("status", "fields", "event_type", "payload"),
    [
        (
            1,
            {"NgayTiepNhan": "", "NgayNopHoSo": "20250309200000", "KenhThucHien": "2"},
            "dossier.submitted",
            {"channel": 2},
        ),
        (
            3,
            {"NgayTiepNhan": None, "ThoiDiemXuLy": "20250310090000", "LyDo": "sai mẫu"},
            "dossier.not_accepted",
            {"reason": "sai mẫu"},
        ),
        (7, {"ThoiDiemXuLy": "20250310090000"}, "dossier.withdrawn", {"reason": None}),
        (
            8,
            {"ThoiDiemXuLy": "20250310090000", "GhiChu": "không đủ điều kiện"},
            "dossier.stopped",
            {"reason": "không đủ điều kiện"},
        ),
    ],
)
def test_other_statuses(
    status: int, fields: dict[str, Any], event_type: str, payload: dict[str, Any]
) -> None:
    events, state = events_of(snap(status, **fields))
    assert events[-1]["event_type"] == event_type and events[-1]["payload"] == payload
    assert events[-1]["event_id"] == f"portal:{CODE}:{event_type.removeprefix('dossier.')}"
    assert state.last_status == status
    for e in events:  # every derived event is a valid event of the contract
        dossier_event_adapter.validate_python(e)


def test_a_snapshot_missing_what_its_status_needs_names_the_fields() -> None:
    with pytest.raises(PortalMappingError) as caught:
        events_of(snap(9, KenhThucHien=None))
    assert [f for f, _ in caught.value.errors] == ["KenhThucHien", "NgayKetThucXuLy"]
    with pytest.raises(PortalMappingError, match="status 5 needs the request time"):
        events_of(snap(5, LyDo="x"))


def test_invalid_snapshots_are_refused_by_validation() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_update(snap(11, MaHoSo="not a code", NgayTiepNhan="2025-03-10T08:30:00"), TZ)
    fields = {".".join(map(str, e["loc"])) for e in caught.value.errors()}
    assert fields == {"MaHoSo", "TrangThaiHoSo", "NgayTiepNhan"}


def test_agency_defaults_to_the_agency_part_of_the_dossier_code_and_ids_stay_short() -> None:
    assert parse_update(snap(2), TZ).agency_code == "000.00.13.H13"
    assert parse_update(snap(2, MaCoQuan="000.00.01.H13"), TZ).agency_code == "000.00.01.H13"
    long_id = derived_event_id(
        "A" * 60 + "-250310-0001", "step", step="S" * 64, at=datetime(2025, 3, 10, tzinfo=UTC)
    )
    assert long_id.startswith("portal:") and len(long_id) == 7 + 64


def test_re_sent_snapshots_map_to_the_same_events() -> None:
    raw = snap(5, ThoiDiemXuLy="20250310140000", LyDo="x")
    first, _ = events_of(raw, PortalState(4))
    again, _ = events_of(raw, PortalState(4))
    assert first == again
