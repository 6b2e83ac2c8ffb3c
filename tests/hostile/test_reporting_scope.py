"""Reporting's one access rule for single items (a dossier, a finding): the helper the dashboard
uses to answer 404, not 403, outside an officer's subtree."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from services.reporting.entrypoints.access import may_see
from services.reporting.handlers import ReportingContext, handle_registry_changes
from shared.auth import Principal, Role
from shared.db import create_pool
from tests.integration.test_reporting_service import COMMUNE_A, DEPARTMENT, PROVINCE, REGISTRY_FIRST

pytestmark = pytest.mark.integration


async def test_an_officer_sees_its_subtree_and_the_others_see_everything(database: str) -> None:
    pool = await create_pool(database)
    try:
        await handle_registry_changes(ReportingContext(pool, ZoneInfo("Asia/Ho_Chi_Minh")), REGISTRY_FIRST)
        province = Principal("p@x", Role.OFFICER, PROVINCE, "p")
        department = Principal("d@x", Role.OFFICER, DEPARTMENT, "d")
        async with pool.acquire() as conn:
            assert await may_see(conn, province, COMMUNE_A)  # a child of the province
            assert await may_see(conn, department, DEPARTMENT)
            assert not await may_see(conn, department, COMMUNE_A)  # a sibling's child
            assert not await may_see(conn, department, PROVINCE)  # its parent
            for who in (
                None,
                Principal("v@x", Role.VIEWER, None, "v"),
                Principal("a@x", Role.ADMIN, None, "a"),
            ):
                assert await may_see(conn, who, COMMUNE_A)
    finally:
        await pool.close()
