"""``tthc seed NAME``: load a seed scenario through the registry's own commands.

The writes go through the same handlers and repository as the HTTP API (validation, outbox,
audit), so the running registry's relay publishes them on ``tthc.registry.v1``.
"""

from __future__ import annotations

import asyncio

from services.registry import handlers
from services.registry.seeds.cantho import SCENARIOS
from services.registry.settings import RegistrySettings
from shared.auth import Principal
from shared.contracts.registry import Role
from shared.db import create_pool


def seed_principal(name: str) -> Principal:
    return Principal(f"seed:{name}", Role.ADMIN, None, "seed")


async def apply_named_seed(
    dsn: str, name: str, settings: RegistrySettings | None = None
) -> dict[str, dict[str, int]]:
    """Apply scenario ``name`` to the registry database at ``dsn``; returns the outcome counts."""
    if name not in SCENARIOS:
        raise ValueError(f"no seed {name!r}; choose one of {', '.join(sorted(SCENARIOS))}")
    scenario = SCENARIOS[name]()
    ctx = handlers.Context.of(settings or RegistrySettings())
    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            return await handlers.apply_seed(conn, ctx, seed_principal(name), scenario)
    finally:
        await pool.close()


def summary(counts: dict[str, dict[str, int]]) -> str:
    return "\n".join(
        f"  {kind:<12} " + ", ".join(f"{n} {outcome}" for outcome, n in outcomes.items())
        for kind, outcomes in counts.items()
    )


def run_seed(name: str, dsn: str | None = None) -> str:
    """``tthc seed NAME``: apply it to ``dsn`` (default: the settings' DATABASE_URL)."""
    settings = RegistrySettings()
    counts = asyncio.run(apply_named_seed(dsn or settings.database_url, name, settings))
    return f"seed {name} applied:\n{summary(counts)}"
