"""Reporting's consumers dead-letter what they cannot use, with the reason, and go on (real PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg
import pytest

from services.reporting.adapters import repository
from services.reporting.handlers import ReportingContext, handle_assessments, handle_registry_changes
from shared.db import create_pool
from shared.dead_letters import RawMessage
from tests.integration.test_reporting_service import COMPLIANCE as ALL
from tests.integration.test_reporting_service import REGISTRY_FIRST, TZ

COMPLIANCE = [c for c in ALL if c.startswith(b'{"')]  # the fixture's own invalid message left out


class Outbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, topic: str, messages: Sequence[tuple[bytes, bytes]]) -> None:
        self.sent += [(topic, json.loads(v)) for _, v in messages]


def on(topic: str, values: Sequence[bytes]) -> list[RawMessage]:
    return [RawMessage(b"k", v, topic, 0, i) for i, v in enumerate(values)]


async def facts(pool: asyncpg.Pool) -> set[str]:
    async with pool.acquire() as conn:
        return {
            r["dossier_code"] for r in await conn.fetch("SELECT dossier_code FROM reporting.dossier_facts")
        }


async def test_invalid_messages_are_dead_lettered_and_the_rest_applied(database: str) -> None:
    outbox = Outbox()
    pool = await create_pool(database)
    try:
        ctx = ReportingContext(pool, TZ, publish_many=outbox)
        broken_change = b'{"entity": "procedure", "entity_id": "x"}'
        await handle_registry_changes(ctx, on("tthc.registry.v1", [*REGISTRY_FIRST, broken_change]))
        not_json, no_dossier = b"{oops", json.dumps({"revision": 1}).encode()
        await handle_assessments(ctx, on("tthc.compliance.v1", [not_json, *COMPLIANCE, no_dossier]))
        applied = await facts(pool)
    finally:
        await pool.close()
    assert applied == {json.loads(c)["dossier_code"] for c in COMPLIANCE}
    dead = {(topic, body["kind"], body["original"]["text"]) for topic, body in outbox.sent}
    assert dead == {
        ("tthc.registry.v1.dlq", "invalid_registry_change", broken_change.decode()),
        ("tthc.compliance.v1.dlq", "invalid_assessment", not_json.decode()),
        ("tthc.compliance.v1.dlq", "invalid_assessment", no_dossier.decode()),
    }
    reasons = {body["original"]["text"]: str(body["reason"]) for _, body in outbox.sent}
    assert "dossier_code" in reasons[no_dossier.decode()] and "version" in reasons[broken_change.decode()]


async def test_an_assessment_the_database_refuses_is_isolated_by_halving(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = json.loads(COMPLIANCE[3])["dossier_code"]
    real = repository.upsert_facts
    calls = 0

    async def picky(conn: Any, items: Sequence[Any]) -> None:
        nonlocal calls
        calls += 1
        if any(a.dossier_code == bad for a, _ in items):
            raise asyncpg.DataError("timestamp out of range")
        await real(conn, items)

    monkeypatch.setattr(repository, "upsert_facts", picky)
    outbox = Outbox()
    pool = await create_pool(database)
    try:
        ctx = ReportingContext(pool, TZ, publish_many=outbox)
        await handle_registry_changes(ctx, on("tthc.registry.v1", REGISTRY_FIRST))
        await handle_assessments(ctx, on("tthc.compliance.v1", COMPLIANCE))
        applied = await facts(pool)
        monkeypatch.setattr(repository, "upsert_facts", real)
        with pytest.raises(ConnectionResetError):  # a dependency away: the batch is consumed again
            monkeypatch.setattr(repository, "current_facts", _raises(ConnectionResetError("reset")))
            await handle_assessments(ctx, on("tthc.compliance.v1", COMPLIANCE))
    finally:
        await pool.close()
    assert applied == {json.loads(c)["dossier_code"] for c in COMPLIANCE} - {bad}
    [(topic, letter)] = outbox.sent
    assert topic == "tthc.compliance.v1.dlq" and letter["kind"] == "assessment_rejected"
    assert json.loads(letter["original"]["text"])["dossier_code"] == bad
    assert calls <= 2 * len(COMPLIANCE).bit_length() + 1


def _raises(exc: Exception) -> Any:
    async def fail(*args: Any) -> Any:
        raise exc

    return fail
