"""Agencies (cơ quan): ISO obligation by level, validity, and resolving old codes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from shared.contracts.registry import AgencyLevel, AgencyRecord, IsoObligation

# Decision 19/2014/QĐ-TTg art. 2: the QMS is mandatory for provincial People's Committees, their
# specialised agencies (departments) and district People's Committees; commune committees,
# public service units and other bodies are encouraged to apply it.
_MANDATORY_LEVELS = frozenset({AgencyLevel.PROVINCE, AgencyLevel.DEPARTMENT, AgencyLevel.DISTRICT})

# dossier code = <agency code>-YYMMDD-NNNN (DESIGN §3)
_DOSSIER_CODE = re.compile(r"^(?P<agency>[0-9A-Za-z.]+)-(?P<yymmdd>\d{6})-(?P<seq>\d+)$")


def default_obligation(level: AgencyLevel) -> IsoObligation:
    """The ISO obligation an agency of ``level`` has unless the registry says otherwise."""
    return IsoObligation.MANDATORY if level in _MANDATORY_LEVELS else IsoObligation.ENCOURAGED


def agency_problems(agency: AgencyRecord, district_level_until: date) -> list[tuple[str, str]]:
    """What is wrong with ``agency`` on its own, as (field, reason) pairs; empty when valid."""
    problems: list[tuple[str, str]] = []
    if agency.valid_from and agency.valid_to and agency.valid_to < agency.valid_from:
        problems.append(("valid_to", f"{agency.valid_to} is before valid_from {agency.valid_from}"))
    if agency.parent_code == agency.code:
        problems.append(("parent_code", "an agency cannot be its own parent"))
    if agency.successor_code == agency.code:
        problems.append(("successor_code", "an agency cannot be its own successor"))
    if agency.code in agency.predecessor_codes:
        problems.append(("predecessor_codes", "an agency cannot be its own predecessor"))
    if agency.level is AgencyLevel.DISTRICT:
        if agency.valid_from is not None and agency.valid_from >= district_level_until:
            problems.append(
                (
                    "valid_from",
                    f"the district level ends on {district_level_until}; no district starts after it",
                )
            )
        if agency.valid_to is not None and agency.valid_to >= district_level_until:
            problems.append(
                (
                    "valid_to",
                    f"the district level ends on {district_level_until}; a district is valid at the latest "
                    "until the day before",
                )
            )
    return problems


def is_valid_on(agency: AgencyRecord, day: date) -> bool:
    return (agency.valid_from is None or agency.valid_from <= day) and (
        agency.valid_to is None or day <= agency.valid_to
    )


@dataclass(frozen=True)
class DossierCode:
    """The parts of a dossier code (mã hồ sơ): the receiving agency's code and the day of receipt."""

    agency_code: str
    received_on: date


def parse_dossier_code(code: str) -> DossierCode:
    """Split ``<agency code>-YYMMDD-NNNN``; raise ValueError saying what is wrong."""
    m = _DOSSIER_CODE.match(code.strip())
    if m is None:
        raise ValueError(
            f"{code!r} is not a dossier code; expected <agency code>-YYMMDD-NNNN, e.g. 000.00.13.H13-250310-0001"
        )
    yymmdd = m.group("yymmdd")
    try:
        received = date(2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:]))
    except ValueError as exc:
        raise ValueError(f"{code!r}: {yymmdd} is not a valid YYMMDD date") from exc
    return DossierCode(m.group("agency"), received)


def successor_chain(start: AgencyRecord, agencies: Mapping[str, AgencyRecord], limit: int = 20) -> list[str]:
    """Codes of the successors of ``start``, in order, stopping at a loop or an unknown code."""
    chain: list[str] = []
    seen = {start.code}
    current = start
    while current.successor_code and current.successor_code not in seen and len(chain) < limit:
        chain.append(current.successor_code)
        seen.add(current.successor_code)
        nxt = agencies.get(current.successor_code)
        if nxt is None:
            break
        current = nxt
    return chain
