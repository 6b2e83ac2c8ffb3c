"""Who may write what (đọc: everyone with a token; ghi: by role and agency subtree)."""

from __future__ import annotations

from collections.abc import Collection

from shared.auth import Principal
from shared.contracts.registry import Role

#: Entity kinds an officer may write inside its agency subtree; everything else is admin-only.
OFFICER_ENTITIES = frozenset({"qms", "iso_process"})


def write_refusal(
    principal: Principal, entity: str, agency_code: str | None, subtree: Collection[str]
) -> str | None:
    """Why ``principal`` may not write ``entity`` of ``agency_code``; None when it may.

    ``subtree``: codes of the principal's agency and every agency below it.
    """
    if principal.role is Role.ADMIN:
        return None
    if principal.role is Role.VIEWER:
        return "a viewer token can only read; ask an admin for an officer or admin token"
    if entity not in OFFICER_ENTITIES:
        return f"only an admin can change {entity.replace('_', ' ')} records"
    if agency_code is None or agency_code not in subtree:
        return (
            f"an officer of {principal.agency_code} can only change QMS records and ISO processes of "
            f"{principal.agency_code} and the agencies under it, not of {agency_code}"
        )
    return None
