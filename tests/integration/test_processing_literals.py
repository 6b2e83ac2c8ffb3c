"""Arrays bound as literals (adapters/literals.py) reach PostgreSQL as the same values as lists."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from services.processing.adapters.literals import int_array, text_array, timestamptz_array
from tests.conftest import Infra, create_database

pytestmark = pytest.mark.integration

AWKWARD = [
    "a",
    None,
    'quote " inside',
    "back\\slash",
    "NULL",
    "",
    "  spaced  ",
    "{x,y}",
    "tiếng Việt",
    "tab\there",
]


async def test_texts_times_and_integers_arrive_unchanged(infra: Infra) -> None:
    conn = await asyncpg.connect(await create_database(infra))
    try:
        await conn.execute("SET TimeZone = 'America/New_York'")  # the literal carries its offset
        for texts in (AWKWARD, ["plain", "codes"], [], [None]):
            assert await conn.fetchval("SELECT $1::text::text[]", text_array(texts)) == texts
        times = [
            datetime(2025, 1, 11, 21, 0, tzinfo=UTC),
            None,
            datetime(2025, 1, 14, 10, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")),
            datetime(2025, 1, 2, 19, 57, 59, 627899, tzinfo=timezone(timedelta(hours=7))),
        ]
        assert await conn.fetchval("SELECT $1::text::timestamptz[]", timestamptz_array(times)) == times
        assert await conn.fetchval("SELECT $1::text::timestamptz[]", timestamptz_array(times)) == (
            await conn.fetchval("SELECT $1::timestamptz[]", times)
        )
        ints = [1, None, 2**62, -5]
        assert await conn.fetchval("SELECT $1::text::bigint[]", int_array(ints)) == ints
    finally:
        await conn.close()


async def test_random_texts_arrive_unchanged(infra: Infra) -> None:
    rng = random.Random(16)
    alphabet = 'ab "\\{},\t\n\r NULLđệ'
    texts: list[str | None] = [
        None if rng.random() < 0.05 else "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
        for _ in range(2_000)
    ]
    conn = await asyncpg.connect(await create_database(infra))
    try:
        assert await conn.fetchval("SELECT $1::text::text[]", text_array(texts)) == texts
    finally:
        await conn.close()
