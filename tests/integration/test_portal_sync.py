"""The status-sync adapter through a real processing process on the real broker and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from shared.ingest_client import IngestClient
from tests.conftest import Infra
from tests.integration.streams import AGENCY, PROCEDURE, produce, read_topic, wait_until
from tests.integration.test_ingest_http import Ingress, running_ingress

pytestmark = pytest.mark.integration

PORTAL = f"{AGENCY}-250310-0001"  # synced from the portal's status codes
NATIVE = f"{AGENCY}-250310-0002"  # the same story as native events on Kafka


def snapshot(status: int, **fields: Any) -> dict[str, Any]:
    return {
        "MaHoSo": PORTAL,
        "MaTTHC": PROCEDURE,
        "TrangThaiHoSo": str(status),  # the one-stop systems often send it as text
        "KenhThucHien": 1,
        "NgayTiepNhan": "20250310083000",
        "NgayHenTra": "20250312170000",
        "ChuHoSo": "Nguyễn Văn A",  # a field the adapter does not read
        **fields,
    }


STEP_1 = {"MaBuoc": "B1", "PhongBanXuLy": "MC", "PhongBanNhan": "CV", "ThoiDiemXuLy": "20250310100000"}
STEP_2 = {
    "MaBuoc": "B2",
    "PhongBanXuLy": "CV",
    "PhongBanNhan": "LD",
    "ThoiDiemXuLy": "2025-03-13T10:00:00+07:00",
}
SEQUENCE = [  # 2 → 4 → 5 → 4 → 9 → 10
    snapshot(2),
    snapshot(4, QuaTrinhXuLy=[STEP_1]),
    snapshot(5, QuaTrinhXuLy=[STEP_1], ThoiDiemXuLy="20250310140000", LyDo="thiếu bản sao CCCD"),
    snapshot(4, QuaTrinhXuLy=[STEP_1, STEP_2], ThoiDiemXuLy="20250313080000"),
    snapshot(9, QuaTrinhXuLy=[STEP_1, STEP_2], NgayKetThucXuLy="20250317100000"),
    snapshot(10, QuaTrinhXuLy=[STEP_1, STEP_2], NgayKetThucXuLy="20250317100000", NgayTra="20250317150000"),
]


def native(kind: str, suffix: str, at: str, event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": f"native:{NATIVE}:{kind}{suffix}",
        "event_type": event_type,
        "occurred_at": at,
        "source": "one-stop",
        "dossier_code": NATIVE,
        "agency_code": AGENCY,
        "procedure_code": PROCEDURE,
        "payload": payload,
    }


NATIVE_EVENTS = [  # what a system speaking our contract would have sent for the same story
    native(
        "accepted",
        "",
        "2025-03-10T08:30:00+07:00",
        "dossier.accepted",
        {"channel": 1, "appointed_return_at": "2025-03-12T17:00:00+07:00"},
    ),
    native(
        "step",
        ":B1:20250310T030000Z",
        "2025-03-10T10:00:00+07:00",
        "dossier.step_completed",
        {"step_code": "B1", "from_unit": "MC", "to_unit": "CV"},
    ),
    native(
        "supplement_requested",
        ":20250310T070000Z",
        "2025-03-10T14:00:00+07:00",
        "dossier.supplement_requested",
        {"reason": "thiếu bản sao CCCD"},
    ),
    native(
        "supplement_received",
        ":20250310T070000Z",
        "2025-03-13T08:00:00+07:00",
        "dossier.supplement_received",
        {},
    ),
    native(
        "step",
        ":B2:20250313T030000Z",
        "2025-03-13T10:00:00+07:00",
        "dossier.step_completed",
        {"step_code": "B2", "from_unit": "CV", "to_unit": "LD"},
    ),
    native("resolved", "", "2025-03-17T10:00:00+07:00", "dossier.resolved", {}),
    native("result_returned", "", "2025-03-17T15:00:00+07:00", "dossier.result_returned", {}),
]


@pytest.fixture(scope="module")
async def ingress(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Ingress]:
    log = tmp_path_factory.mktemp("portal") / "processing.log"
    async for running in running_ingress(infra, "por" + str(id(log))[-6:], log):
        yield running


def comparable(assessment: dict[str, Any]) -> dict[str, Any]:
    """The assessment without what must differ: its code, its ids, when it was computed."""
    text = json.dumps({k: v for k, v in assessment.items() if k not in ("revision", "assessed_at")})
    return json.loads(text.replace(f"portal:{PORTAL}:", f"native:{NATIVE}:").replace(PORTAL, NATIVE))


async def test_a_status_sequence_ends_in_the_same_state_as_the_native_events(ingress: Ingress) -> None:
    async with IngestClient(ingress.url, ingress.key) as portal:
        answers = [await portal.send_portal_updates([update]) for update in SEQUENCE]
    assert answers[0]["results"] == [
        {
            "index": 0,
            "dossier_code": PORTAL,
            "status": "accepted",
            "code": 202,
            "errors": [],
            "events": [
                {
                    "event_id": f"portal:{PORTAL}:accepted",
                    "event_type": "dossier.accepted",
                    "status": "accepted",
                }
            ],
        }
    ]
    new_per_update = [
        [(e["event_type"], e["status"]) for e in a["results"][0]["events"] if e["status"] == "accepted"]
        for a in answers
    ]
    assert new_per_update == [
        [("dossier.accepted", "accepted")],
        [("dossier.step_completed", "accepted")],
        [("dossier.supplement_requested", "accepted")],
        [("dossier.supplement_received", "accepted"), ("dossier.step_completed", "accepted")],
        [("dossier.resolved", "accepted")],
        [("dossier.result_returned", "accepted")],
    ]
    await produce(
        ingress.servers, ingress.topic, [(NATIVE.encode(), json.dumps(e).encode()) for e in NATIVE_EVENTS]
    )
    await wait_until(ingress.dsn, "SELECT count(*) FROM processing.events", 14)
    await wait_until(
        ingress.dsn,
        "SELECT count(*) FROM processing.dossiers WHERE status = 10 AND published_revision = revision",
        2,
    )
    async with httpx.AsyncClient(base_url=ingress.url, headers=ingress.read_headers) as http:
        synced = (await http.get(f"/api/v1/dossiers/{PORTAL}")).json()
        direct = (await http.get(f"/api/v1/dossiers/{NATIVE}")).json()
    assert (
        synced["status"] == 10 and synced["outcome"] == "late"
    )  # the clock restarted on 13/3: due 17/3 08:00
    assert [nc["code"] for nc in synced["nonconformities"]] == [
        nc["code"] for nc in direct["nonconformities"]
    ]
    assert "LATE" in {nc["code"] for nc in synced["nonconformities"]}
    assert comparable(synced) == comparable(direct)
    for field in ("status", "outcome", "due_at", "index_due_at", "nonconformities", "steps"):
        assert comparable(synced)[field] == comparable(direct)[field], field

    # the whole sequence sent again, in one batch: nothing new
    async with IngestClient(ingress.url, ingress.key) as portal:
        again = await portal.send_portal_updates(SEQUENCE)
    assert [r["status"] for r in again["results"]] == ["duplicate"] * 6
    assert again["duplicates"] == 6 and again["accepted"] == 0
    assert {e["event_id"] for r in again["results"] for e in r["events"]} == {
        e["event_id"] for a in answers for r in a["results"] for e in r["events"]
    }
    assert len(await read_topic(ingress.servers, ingress.topic, 14)) == 14


def test_updates_refused_one_by_one(ingress: Ingress) -> None:
    other = f"{AGENCY}-250311-0009"
    batch = [
        snapshot(2, MaHoSo=other),
        snapshot(9, MaHoSo=other),  # no NgayKetThucXuLy
        snapshot(2, MaHoSo=other, NgayTiepNhan="2025-03-11T08:00:00"),  # no offset
        snapshot(2, MaHoSo=other, MaCoQuan="000.00.21.H13"),
        "not an update",
    ]
    answer = httpx.post(
        f"{ingress.url}/api/v1/portal-sync", json=batch, headers={"X-API-Key": ingress.key}, timeout=30
    )
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert [(r["status"], r["code"]) for r in results] == [
        ("accepted", 202),
        ("rejected", 422),
        ("rejected", 422),
        ("rejected", 403),
        ("rejected", 422),
    ]
    assert results[1]["errors"] == [
        {"field": "NgayKetThucXuLy", "reason": "status 9 needs the resolution time NgayKetThucXuLy"}
    ]
    assert (
        results[2]["errors"][0]["field"] == "NgayTiepNhan"
        and "no UTC offset" in results[2]["errors"][0]["reason"]
    )
    assert results[3]["errors"][0]["field"] == "MaCoQuan"
    not_array = httpx.post(
        f"{ingress.url}/api/v1/portal-sync", json=batch[0], headers={"X-API-Key": ingress.key}
    )
    assert not_array.status_code == 422 and "JSON array of portal updates" in not_array.json()["detail"]
    assert httpx.post(f"{ingress.url}/api/v1/portal-sync", json=batch).status_code == 401
