"""Demo data for ``make run``: a few real procedures and a few hundred dossiers.

A thin stand-in until the simulator exists: enough for every report to show numbers.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from aiokafka import AIOKafkaProducer

from shared.settings import CommonSettings

# Real national codes and statutory times (national TTHC database).
DEMO_PROCEDURES: list[dict[str, Any]] = [
    {
        "code": "1.004845",
        "name": "Thủ tục đăng ký chấm dứt giám hộ",
        "field": "Hộ tịch",
        "level": "Cấp xã",
        "statutory_time": {"value": "2", "unit": "working_days"},
    },
    {
        "code": "1.013314",
        "name": "Xác nhận về điều kiện diện tích bình quân nhà ở để đăng ký thường trú",
        "field": "Đăng ký, quản lý cư trú",
        "level": "Cấp xã",
        "statutory_time": {"value": "2", "unit": "working_days"},
    },
    {
        "code": "3.000495",
        "name": "Cấp Giấy chứng nhận kiểm định phương tiện phòng cháy và chữa cháy",
        "field": "Phòng cháy, chữa cháy",
        "level": "Cấp tỉnh",
        "statutory_time": {"value": "5", "unit": "working_days"},
    },
    {
        "code": "1.013842",
        "name": "Sáp nhập Văn phòng công chứng theo loại hình công ty hợp danh",
        "field": "Công chứng",
        "level": "Cấp tỉnh",
        "statutory_time": {"value": "15", "unit": "working_days"},
    },
]
DEMO_AGENCIES = ["000.00.13.H13", "000.20.13.H13", "000.21.13.H13"]


async def load_demo(registry_url: str, settings: CommonSettings, dossiers: int = 300, seed: int = 7) -> str:
    """Put the demo procedures in the registry and publish dossier events; return a summary."""
    from services.registry.dev_token import DEMO_SUBJECT, admin_token_for

    # the registry needs a bearer token: the demo loader gets an admin token of its own
    token = await admin_token_for(settings.database_url, generated_subject=DEMO_SUBJECT)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=registry_url, timeout=10, headers=headers) as client:
        for p in DEMO_PROCEDURES:
            (await client.put(f"/api/v1/procedures/{p['code']}", json=p)).raise_for_status()
    rng = random.Random(seed)
    tz = ZoneInfo(settings.timezone)
    now = datetime.now(tz)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers.split(","), linger_ms=5)
    await producer.start()
    sent = 0
    try:
        for i in range(dossiers):
            agency = rng.choice(DEMO_AGENCIES)
            proc = rng.choice(DEMO_PROCEDURES)
            accepted = (now - timedelta(days=rng.randint(0, 75))).replace(
                hour=rng.randint(7, 16), minute=rng.choice((0, 15, 30, 45)), second=0, microsecond=0
            )
            code = f"{agency}-{accepted:%y%m%d}-{i:04d}"
            base = {
                "source": "demo",
                "dossier_code": code,
                "agency_code": agency,
                "procedure_code": proc["code"],
            }
            channel = rng.choice((1, 2, 2, 3))
            events = [
                {
                    **base,
                    "event_id": f"demo-{i}-a",
                    "event_type": "dossier.accepted",
                    "occurred_at": accepted.isoformat(),
                    "payload": {"channel": channel},
                }
            ]
            budget = int(proc["statutory_time"]["value"])
            took = timedelta(days=rng.choice((0.5, 1, budget * 0.8, budget * 1.4 + 1, budget + 3)))
            resolved = accepted + took
            if resolved < now and rng.random() < 0.85:
                events.append(
                    {
                        **base,
                        "event_id": f"demo-{i}-r",
                        "event_type": "dossier.resolved",
                        "occurred_at": resolved.isoformat(),
                        "payload": {},
                    }
                )
            for e in events:
                await producer.send(settings.topics.dossier_events, json.dumps(e).encode(), key=code.encode())
                sent += 1
        await producer.flush()
    finally:
        await producer.stop()
    return f"{len(DEMO_PROCEDURES)} procedures, {dossiers} dossiers, {sent} events at {datetime.now(UTC):%H:%M:%S}Z"
