"""Corrective actions over processing's HTTP API: the workflow, its audit, and who may act."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.kafka import ensure_topics
from shared.settings import CommonSettings
from tests.conftest import Infra, create_database
from tests.integration.service_process import ServiceProcess, isolated_topics, topic_specs_for
from tests.integration.streams import AGENCY, produce, wait_until
from tests.integration.test_processing_nonconformities import PROVINCE, bearer, registry_messages

pytestmark = pytest.mark.integration


def late_dossier(code: str, agency: str) -> list[dict[str, Any]]:
    """Accepted on 10/03/2025, resolved on 14/04/2025: late (a LATE finding)."""
    base = {"source": "t", "dossier_code": code, "agency_code": agency, "procedure_code": "1.004845"}
    return [
        {
            **base,
            "event_id": f"{code}-a",
            "event_type": "dossier.accepted",
            "occurred_at": "2025-03-10T09:00:00+07:00",
            "payload": {"channel": 2},
        },
        {
            **base,
            "event_id": f"{code}-r",
            "event_type": "dossier.resolved",
            "occurred_at": "2025-04-14T09:00:00+07:00",
            "payload": {},
        },
    ]


async def test_corrective_action_workflow_audit_and_access(infra: Infra, unique: str, tmp_path: Path) -> None:
    env = isolated_topics(unique) | {"TTHC_CONSUMER_GROUP_PREFIX": f"g{unique}"}
    await ensure_topics(CommonSettings(kafka_bootstrap_servers=infra.bootstrap_servers), topic_specs_for(env))
    await produce(infra.bootstrap_servers, env["TTHC_TOPIC_REGISTRY"], registry_messages())
    commune = [f"{AGENCY}-250310-000{i}" for i in (1, 2, 3)]
    province = f"{PROVINCE}-250310-0001"
    events = [e for c in commune for e in late_dossier(c, AGENCY)] + late_dossier(province, PROVINCE)
    dsn = await create_database(infra)
    proc = ServiceProcess("processing", dsn, infra.bootstrap_servers, env, tmp_path / "p.log").start()
    try:
        await wait_until(
            dsn, "SELECT count(*) FROM processing.registry_entities WHERE entity = 'api_token'", 4
        )
        await produce(
            infra.bootstrap_servers,
            env["TTHC_TOPIC_DOSSIER_EVENTS"],
            [(e["dossier_code"].encode(), json.dumps(e).encode()) for e in events],
        )
        await wait_until(dsn, "SELECT count(*) FROM processing.nonconformities WHERE code = 'LATE'", 4)
        async with httpx.AsyncClient(base_url=proc.url, timeout=10) as http:
            found = (
                await http.get(
                    "/api/v1/nonconformities", params={"code": "LATE", "limit": 10}, headers=bearer("admin")
                )
            ).json()
            late = {
                i["dossier_code"]: {"dossier_code": i["dossier_code"], "nc_key": i["nc_key"]}
                for i in found["items"]
            }
            plan = {
                "nonconformities": [late[commune[0]], late[commune[1]]],
                "correction": "Đã trả kết quả, gửi phiếu xin lỗi",
                "root_cause": "Thiếu người thẩm định",
                "action": "Bổ sung chuyên viên",
                "responsible": "Trưởng phòng",
                "due_date": "2099-12-31",
            }
            url = "/api/v1/corrective-actions"
            assert (await http.post(url, json=plan)).status_code == 401
            assert (await http.post(url, json=plan, headers=bearer("viewer"))).status_code == 403
            # an officer of another agency cannot see these findings: 404, as for findings that do not exist
            hidden = await http.post(url, json=plan, headers=bearer("other_officer"))
            assert hidden.status_code == 404 and commune[0] in hidden.json()["detail"]
            for bad, field in (
                ({**plan, "root_cause": "nul\x00"}, "root_cause"),
                ({**plan, "nonconformities": []}, "nonconformities"),
                ({**plan, "due_date": "2020-01-01"}, "due_date"),
                ({**plan, "extra": 1}, "extra"),
                ({**plan, "nonconformities": [late[commune[0]], late[province]]}, "one agency"),
            ):
                r = await http.post(url, json=bad, headers=bearer("admin"))
                assert r.status_code == 422 and field in r.text, (field, r.text)

            created = await http.post(url, json=plan, headers=bearer("province_officer"))  # parent agency
            assert created.status_code == 201, created.text
            action = created.json()
            assert action["state"] == "planned" and action["agency_code"] == AGENCY
            assert {n["status"] for n in action["nonconformities"]} == {"corrective_action"}
            again = await http.post(
                url, json={**plan, "nonconformities": [late[commune[0]]]}, headers=bearer("admin")
            )
            assert again.status_code == 409 and str(action["id"]) in again.json()["detail"]

            one = f"{url}/{action['id']}"
            grouped = await http.post(
                f"{one}/nonconformities",
                json={"nonconformities": [late[commune[2]]]},
                headers=bearer("admin"),
            )
            assert grouped.status_code == 200 and len(grouped.json()["nonconformities"]) == 3
            early = await http.post(f"{one}/close", headers=bearer("admin"))
            assert early.status_code == 422 and "verified" in early.json()["detail"]
            verified = await http.post(
                f"{one}/verification",
                json={"effective": True, "note": "Không còn trễ"},
                headers=bearer("admin"),
            )
            assert verified.status_code == 200 and verified.json()["state"] == "verified"
            closed = (await http.post(f"{one}/close", headers=bearer("province_officer"))).json()
            assert closed["state"] == "closed"
            assert {n["status"] for n in closed["nonconformities"]} == {"closed"}
            assert [(a["what"], a["by_whom"]) for a in closed["audit"]] == [
                ("planned", "province_officer"),
                ("grouped", "admin"),
                ("verified", "admin"),
                ("closed", "province_officer"),
            ]
            # the register and the dossier carry the closing
            dossier = (await http.get(f"/api/v1/dossiers/{commune[2]}", headers=bearer("admin"))).json()
            assert {n["code"]: n["status"] for n in dossier["nonconformities"]}["LATE"] == "closed"

            # reads are scoped too: the other officer sees no action and gets 404 for this one
            theirs = (await http.get(url, headers=bearer("other_officer"))).json()
            assert theirs["total"] == 0
            assert (await http.get(one, headers=bearer("other_officer"))).status_code == 404
            mine = (
                await http.get(url, params={"agency": PROVINCE}, headers=bearer("province_officer"))
            ).json()
            assert [a["id"] for a in mine["items"]] == [action["id"]]
            assert (await http.get(f"{url}/999999", headers=bearer("admin"))).status_code == 404
            assert (await http.get(f"{url}/0", headers=bearer("admin"))).status_code == 422
    finally:
        proc.stop()
