"""The nonconformity register over HTTP: filters, the corrective-action lifecycle, and who may change it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.auth import hash_token
from shared.kafka import ensure_topics
from shared.settings import CommonSettings
from tests.conftest import Infra, create_database
from tests.integration.service_process import ServiceProcess, isolated_topics, topic_specs_for
from tests.integration.streams import AGENCY, procedure_change, produce, read_topic, wait_until

pytestmark = pytest.mark.integration

PROVINCE = "000.00.00.H13"
OTHER = "000.00.99.H13"
TOKENS = {
    "admin": ("tthc_admin_token_for_tests_0000000000", "admin", None),
    "province_officer": ("tthc_officer_province_token_000000000", "officer", PROVINCE),
    "other_officer": ("tthc_officer_other_agency_token_00000", "officer", OTHER),
    "viewer": ("tthc_viewer_token_for_tests_000000000", "viewer", None),
}


def change(entity: str, entity_id: str, data: dict[str, Any]) -> tuple[bytes, bytes]:
    body = {
        "entity": entity,
        "entity_id": entity_id,
        "version": 1,
        "changed_at": datetime.now(UTC).isoformat(),
        "data": data,
    }
    return f"{entity}:{entity_id}".encode(), json.dumps(body).encode()


def registry_messages() -> list[tuple[bytes, bytes]]:
    msgs = [
        change("procedure", "1.004845", procedure_change()["data"]),
        change(
            "agency",
            PROVINCE,
            {"code": PROVINCE, "name": "UBND tỉnh", "level": "province", "iso_obligation": "mandatory"},
        ),
        change(
            "agency",
            AGENCY,
            {
                "code": AGENCY,
                "name": "UBND xã",
                "level": "commune",
                "parent_code": PROVINCE,
                "iso_obligation": "encouraged",
            },
        ),
    ]
    for subject, (token, role, agency) in TOKENS.items():
        msgs.append(
            change(
                "api_token",
                hash_token(token),
                {"token_hash": hash_token(token), "subject": subject, "role": role, "agency_code": agency},
            )
        )
    return msgs


def bearer(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who][0]}"}


async def test_register_lifecycle_and_access(infra: Infra, unique: str, tmp_path: Path) -> None:
    env = isolated_topics(unique) | {"TTHC_CONSUMER_GROUP_PREFIX": f"g{unique}"}
    await ensure_topics(CommonSettings(kafka_bootstrap_servers=infra.bootstrap_servers), topic_specs_for(env))
    await produce(infra.bootstrap_servers, env["TTHC_TOPIC_REGISTRY"], registry_messages())
    code = f"{AGENCY}-250310-0001"
    base = {"source": "t", "dossier_code": code, "agency_code": AGENCY, "procedure_code": "1.004845"}
    events = [
        {
            **base,
            "event_id": "n1",
            "event_type": "dossier.accepted",
            "occurred_at": "2025-03-10T09:00:00+07:00",
            "payload": {"channel": 2},
        },
        {
            **base,
            "event_id": "n2",
            "event_type": "dossier.resolved",
            "occurred_at": "2025-03-14T09:00:00+07:00",
            "payload": {},
        },
    ]
    dsn = await create_database(infra)
    proc = ServiceProcess("processing", dsn, infra.bootstrap_servers, env, tmp_path / "p.log").start()
    try:
        await wait_until(
            dsn, "SELECT count(*) FROM processing.registry_entities WHERE entity = 'api_token'", 4
        )
        await produce(
            infra.bootstrap_servers,
            env["TTHC_TOPIC_DOSSIER_EVENTS"],
            [(code.encode(), json.dumps(e).encode()) for e in events],
        )
        await wait_until(dsn, "SELECT count(*) FROM processing.nonconformities WHERE code = 'LATE'", 1)
        async with httpx.AsyncClient(base_url=proc.url, timeout=10) as http:
            # reads take a token; an officer sees its subtree only, and outside it a dossier is
            # answered exactly like one that does not exist
            register, dossier_url = "/api/v1/nonconformities", f"/api/v1/dossiers/{code}"
            for url in (register, dossier_url):
                assert (await http.get(url)).status_code == 401
                assert (await http.get(url, headers={"Authorization": "Bearer nope"})).status_code == 401
            foreign = await http.get(dossier_url, headers=bearer("other_officer"))
            unknown = await http.get(f"/api/v1/dossiers/{AGENCY}-250101-9999", headers=bearer("admin"))
            assert foreign.status_code == unknown.status_code == 404
            assert foreign.json()["detail"].replace(code, "X") == unknown.json()["detail"].replace(
                f"{AGENCY}-250101-9999", "X"
            )
            for who in ("admin", "viewer", "province_officer"):
                assert (await http.get(dossier_url, headers=bearer(who))).status_code == 200, who
            seen = {
                who: (await http.get(register, params={"code": "LATE"}, headers=bearer(who))).json()["total"]
                for who in ("admin", "viewer", "province_officer", "other_officer")
            }
            assert seen == {"admin": 1, "viewer": 1, "province_officer": 1, "other_officer": 0}
            outside = await http.get(register, params={"agency": AGENCY}, headers=bearer("other_officer"))
            assert outside.status_code == 403 and "outside your agency subtree" in outside.json()["detail"]

            late = (
                await http.get(
                    "/api/v1/nonconformities",
                    params={"code": "LATE", "agency": AGENCY},
                    headers=bearer("admin"),
                )
            ).json()
            assert late["total"] == 1
            [item] = late["items"]
            assert (
                item["status"] == "open" and item["clause"] == "8.7" and item["evidence"] == ["n1", "n2"]
            )  # accepted and resolved
            url = f"/api/v1/nonconformities/{code}/{item['nc_key']}"
            move = {
                "status": "corrective_action",
                "corrective_action": "Nhắc bộ phận chuyên môn; họp rút kinh nghiệm",
            }

            assert (await http.patch(url, json=move)).status_code == 401
            assert (
                await http.patch(url, json=move, headers={"Authorization": "Bearer nope"})
            ).status_code == 401
            assert (await http.patch(url, json=move, headers=bearer("viewer"))).status_code == 403
            # outside the officer's subtree: the same 404 as a finding that does not exist
            assert (await http.patch(url, json=move, headers=bearer("other_officer"))).status_code == 404
            done = await http.patch(
                url, json=move, headers=bearer("province_officer")
            )  # parent of the agency
            assert done.status_code == 200, done.text
            assert done.json()["status"] == "corrective_action"
            assert done.json()["status_changed_by"] == "province_officer"
            back = await http.patch(url, json={"status": "open"}, headers=bearer("admin"))
            assert back.status_code == 409 and "open → corrective_action → closed" in back.json()["detail"]
            assert (
                await http.patch(url, json={"status": "closed"}, headers=bearer("admin"))
            ).status_code == 200

            closed = (
                await http.get(
                    "/api/v1/nonconformities", params={"status": "closed"}, headers=bearer("viewer")
                )
            ).json()
            assert [i["code"] for i in closed["items"]] == ["LATE"]
            dossier = (await http.get(f"/api/v1/dossiers/{code}", headers=bearer("viewer"))).json()
            assert {n["code"]: n["status"] for n in dossier["nonconformities"]}["LATE"] == "closed"
            missing = await http.patch(
                f"/api/v1/nonconformities/{code}/LATE:zzz", json=move, headers=bearer("admin")
            )
            assert missing.status_code == 404
        # the status reaches the compliance topic, so reporting's register follows
        published = await read_topic(infra.bootstrap_servers, env["TTHC_TOPIC_COMPLIANCE"], 3)
        statuses = [
            {n["code"]: n["status"] for n in json.loads(r.value)["nonconformities"]}.get("LATE")
            for r in published
        ]
        assert statuses[-1] == "closed"
    finally:
        proc.stop()
