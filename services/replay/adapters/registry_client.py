"""Creates the registry entries a log implies, through the registry's HTTP API.

The registry owns its data: an entry that already exists is left as it is (the answer says
so), except that the procedure is added to an existing QMS record's scope. Every call needs
an admin bearer token (``tthc up`` prints one).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import httpx
from pydantic import BaseModel

from services.replay.domain.mapping import Mapping
from shared.contracts.registry import LegalProfileRecord, QmsRecord


class RegistryError(RuntimeError):
    """The registry refused or could not be reached; the message says what to do."""


class RegistryClient:
    """Thin client of ``/api/v1`` for the entities a replay may create."""

    def __init__(self, base_url: str, token: str | None, transport: httpx.AsyncBaseTransport | None = None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=30, transport=transport
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(self, method: str, path: str, body: BaseModel | None = None) -> httpx.Response:
        try:
            response = await self._client.request(
                method, f"/api/v1{path}", json=None if body is None else body.model_dump(mode="json")
            )
        except httpx.HTTPError as exc:
            raise RegistryError(
                f"registry not reachable at {self.base_url} ({exc}); start it (`tthc up`), pass "
                "--registry-url, or --no-registry if the entries exist already"
            ) from exc
        if response.status_code == 401:
            raise RegistryError(
                f"the registry at {self.base_url} refused the token: pass --token (or set "
                "TTHC_REGISTRY_TOKEN) with an admin token; `tthc up` prints one"
            )
        if response.status_code == 403:
            raise RegistryError(f"the token may not {method} {path}: use an admin token")
        if response.status_code >= 400 and response.status_code != 404:
            raise RegistryError(
                f"registry answered {response.status_code} to {method} {path}: {response.text}"
            )
        return response

    async def _create_if_missing(self, path: str, record: BaseModel) -> str:
        if (await self._call("GET", path)).status_code == 200:
            return "exists"
        await self._call("PUT", path, record)
        return "created"

    async def _legal_profiles(self, code: str) -> list[LegalProfileRecord]:
        found = await self._call("GET", f"/legal-profiles?code={code}&limit=200")
        fields = LegalProfileRecord.model_fields
        return [
            LegalProfileRecord.model_validate({k: v for k, v in item.items() if k in fields})
            for item in found.json().get("items", [])
        ]

    async def profile_versions(
        self, mapping: Mapping, observed_until: datetime | None
    ) -> list[LegalProfileRecord]:
        """The profile version(s) the replay writes so the log is judged by its own law and end.

        Inline: the mapping's definition. A censored log of a named profile (or of the Vietnamese
        default ``VN``): a copy of every version of it under the mapping's judging code, carrying
        the log's end. A live log of a named profile: nothing (the registry's profile applies).
        """
        inline = mapping.inline_profile(observed_until)
        if inline is not None:
            return [inline]
        code = mapping.judging_profile
        if code is None or mapping.log.end == "live":
            return []
        versions = await self._legal_profiles(mapping.named_profile)
        if not versions:
            versions = [
                LegalProfileRecord(
                    code=mapping.named_profile,
                    version=1,
                    effective_from=date(2000, 1, 1),
                    name="Vietnamese law (default)",
                )
            ]
        return [
            v.model_copy(
                update={
                    "code": code,
                    "name": f"{v.name} — log {mapping.log.source}",
                    "observed_until": observed_until,
                }
            )
            for v in versions
        ]

    async def ensure_profile(self, mapping: Mapping, observed_until: datetime | None) -> dict[str, str]:
        """Create the profile version(s) the log needs if missing (``observed_until`` = its end if known)."""
        done: dict[str, str] = {}
        for v in await self.profile_versions(mapping, observed_until):
            done[f"legal profile {v.entity_id}"] = await self._create_if_missing(
                f"/legal-profiles/{v.code}/{v.version}", v
            )
        return done

    async def record_log_end(self, mapping: Mapping, observed_until: datetime) -> dict[str, str]:
        """Write the end of the log into the profile version(s) the replay made (censoring its open cases)."""
        done: dict[str, str] = {}
        for v in await self.profile_versions(mapping, observed_until):
            path = f"/legal-profiles/{v.code}/{v.version}"
            found = await self._call("GET", path)
            fields = LegalProfileRecord.model_fields
            if found.status_code == 200:
                current = LegalProfileRecord.model_validate(
                    {k: x for k, x in found.json().items() if k in fields}
                )
                if current.observed_until is not None:
                    done[f"legal profile {v.entity_id}"] = "end of log kept"
                    continue
                v = current.model_copy(update={"observed_until": observed_until})
            await self._call("PUT", path, v)
            done[f"legal profile {v.entity_id}"] = f"end of log {observed_until.isoformat()}"
        return done

    async def ensure(self, mapping: Mapping, observed_until: datetime | None = None) -> dict[str, str]:
        """Create what the mapping's ``[registry]`` and ``[profile]`` ask for; returns entity → what happened."""
        done: dict[str, str] = {}
        agency = mapping.agency_record()
        if agency is not None:
            done[f"agency {agency.code}"] = await self._create_if_missing(f"/agencies/{agency.code}", agency)
        done |= await self.ensure_profile(mapping, observed_until)
        procedure = mapping.procedure_record()
        if procedure is not None:
            done[f"procedure {procedure.code}"] = await self._create_if_missing(
                f"/procedures/{procedure.code}", procedure
            )
        code = mapping.dossier.agency_code
        found = await self._call("GET", f"/qms/{code}")
        existing = None
        if found.status_code == 200:
            data: dict[str, Any] = found.json()
            existing = QmsRecord.model_validate(
                {k: v for k, v in data.items() if k in QmsRecord.model_fields}
            )
        qms = mapping.qms_record(existing)
        if qms is not None:
            await self._call("PUT", f"/qms/{code}", qms)
            done[f"qms {code}"] = "scope extended" if existing is not None else "created"
        elif existing is not None:
            done[f"qms {code}"] = "exists"
        process = mapping.iso_process_record()
        if process is not None:
            path = f"/iso-processes/{process.agency_code}/{process.procedure_code}/{process.version}"
            done[f"iso process {process.entity_id}"] = await self._create_if_missing(path, process)
        return done
