"""Settings of the registry service (``TTHC_`` prefix, on top of the common ones)."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from shared.settings import CommonSettings


class RegistrySettings(CommonSettings):
    admin_token: str = Field(
        default="",
        description="TTHC_ADMIN_TOKEN: an admin bearer token the registry guarantees at start (>= 24 chars)",
    )
    audit_interval_months: int = Field(
        default=12, ge=1, description="internal audits and management reviews are due at least this often"
    )
    qms_update_months: int = Field(
        default=3, ge=1, description="a QMS must be updated within this many months of a legal change"
    )
    district_level_until: date = Field(
        default=date(2025, 7, 1),
        description="the district level (cấp huyện) ends on this day (Law on the Organisation of Local Government 2025)",
    )
    republish_on_start: bool = Field(
        default=True,
        description="publish every entity's current state at start: the local broker forgets on restart",
    )
    import_max_bytes: int = Field(default=20_000_000, ge=1, description="largest accepted import file")
    login_max_failures: int = Field(
        default=5, ge=1, description="wrong passwords in a row that lock a dashboard user for a while"
    )
    login_lock_minutes: int = Field(
        default=15, ge=1, description="how long a user stays locked after too many wrong passwords"
    )
    login_min_password_length: int = Field(default=10, ge=8, description="shortest accepted password")
    login_session_max_minutes: int = Field(
        default=7 * 24 * 60,
        ge=1,
        description="the longest session a password login may ask for (the dashboard asks for its own length)",
    )
