"""Puts the simulated province into the registry through its HTTP API (admin bearer token).

Every write is an idempotent PUT of the whole record, so running the simulator again changes
nothing; the registry publishes each change on ``tthc.registry.v1`` for processing and reporting.
"""

from __future__ import annotations

import httpx
from pydantic import BaseModel

from services.simulator.domain.province import Province


class RegistrySetupError(RuntimeError):
    """The registry refused or could not be reached; the message says what to do."""


async def put_province(base_url: str, token: str | None, province: Province) -> int:
    """PUT every agency (parents first), procedure, QMS record and ISO process; returns the count."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    writes: list[tuple[str, BaseModel]] = [(f"/agencies/{a.code}", a) for a in province.agencies]
    writes += [(f"/procedures/{p.code}", p) for p in province.procedures]
    writes += [(f"/qms/{q.agency_code}", q) for q in province.qms]
    writes += [
        (f"/iso-processes/{p.agency_code}/{p.procedure_code}/{p.version}", p) for p in province.processes
    ]
    async with httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers, timeout=30) as client:
        for path, record in writes:
            try:
                response = await client.put(f"/api/v1{path}", json=record.model_dump(mode="json"))
            except httpx.HTTPError as exc:
                raise RegistrySetupError(
                    f"registry not reachable at {base_url} ({exc}); start it (`tthc up`) or pass --registry-url"
                ) from exc
            if response.status_code in (401, 403):
                raise RegistrySetupError(
                    f"the registry refused the token for PUT {path}: pass --token (or set TTHC_ADMIN_TOKEN) "
                    "with an admin token; `tthc up` prints one"
                )
            if response.status_code >= 400:
                raise RegistrySetupError(
                    f"registry answered {response.status_code} to PUT {path}: {response.text}"
                )
    return len(writes)
