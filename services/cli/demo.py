"""Demo data for ``make run``: the simulated province and a seeded backlog of its dossiers.

The demo is the simulator's province (real procedures of the national catalogue, agencies whose
codes end in ``.SIM``, QMS records whose announced ISO scopes cover the procedures each agency
receives, an ISO process per agency × procedure) and a backlog of its dossiers accepted over the
last weeks. So every finding the dashboard shows is one the simulator injected and wrote in its
ground truth — including the deliberate OUT_OF_SCOPE ones (one unit still building its QMS, one
procedure outside the communes' scope) — and none comes from demo data the registry does not know.
"""

from __future__ import annotations

from datetime import datetime

from services.simulator.domain.province import build_province
from services.simulator.domain.scenario import SimulatedDossier
from services.simulator.simulate import Options, generate, simulate
from shared.settings import CommonSettings

#: The backlog's seed. The live stream of ``tthc up --demo`` (services.simulator.live) uses 1, 2, …;
#: the simulator keeps the dossier codes of different seeds apart (the seed's last two digits).
DEMO_SEED = 0
DEMO_DOSSIERS = 300
DEMO_VIOLATION_RATE = 0.3


def demo_options(
    dossiers: int = DEMO_DOSSIERS, seed: int = DEMO_SEED, reference: datetime | None = None
) -> Options:
    """The simulator options of the demo backlog (reference None: the start of today)."""
    return Options(
        dossiers=dossiers, seed=seed, violation_rate=DEMO_VIOLATION_RATE, reference=reference, progress=False
    )


def demo_dossiers(settings: CommonSettings, options: Options) -> list[SimulatedDossier]:
    """The backlog's dossiers with their ground truth (what :func:`load_demo` sends)."""
    return generate(settings, options, build_province())[1]


async def load_demo(
    registry_url: str,
    settings: CommonSettings,
    dossiers: int = DEMO_DOSSIERS,
    seed: int = DEMO_SEED,
    token: str | None = None,
) -> str:
    """Put the simulated province in the registry and send the backlog; return a summary."""
    if token is None:
        from services.registry.dev_token import DEMO_SUBJECT, admin_token_for

        # the registry needs a bearer token: the demo loader gets an admin token of its own
        token = await admin_token_for(settings.database_url, generated_subject=DEMO_SUBJECT)
    province = build_province()
    summary = await simulate(settings, demo_options(dossiers, seed), registry_url, token)
    injected = sum(1 for d in demo_dossiers(settings, demo_options(dossiers, seed)) if d.codes)
    return (
        f"the simulated province ({len(province.agencies)} agencies, {len(province.procedures)} procedures "
        f"with their ISO processes) and {summary.dossiers:,} dossiers ({summary.events:,} events) of the "
        f"last weeks; {injected:,} of them carry injected violations, the only findings to expect"
    )
