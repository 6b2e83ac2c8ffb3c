"""Settings of the registry service (``TTHC_`` prefix, on top of the common ones)."""

from __future__ import annotations

from datetime import date

from pydantic import Field, field_validator

from shared.auth import trusted_networks
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
        default=5,
        ge=1,
        description="wrong passwords in a row for one user from one client address that lock that user "
        "at that address for a while (another address still logs in)",
    )
    login_lock_minutes: int = Field(
        default=15,
        ge=1,
        description="how long a user stays locked at an address after too many wrong passwords from it; "
        "failures older than this are forgotten",
    )
    login_address_max_failures: int = Field(
        default=30,
        ge=1,
        description="wrong passwords from one client address, whatever the user names, within "
        "login_address_window_minutes that refuse every login from that address for the window",
    )
    login_address_window_minutes: int = Field(
        default=15, ge=1, description="the window of login_address_max_failures, and how long it refuses"
    )
    login_trusted_proxies: str = Field(
        default="127.0.0.1,::1",
        description="addresses or networks (comma-separated, e.g. 10.0.0.0/8) of the proxies whose "
        "X-Forwarded-For header names the client of a login (the dashboard, a reverse proxy); the "
        "header of any other peer is ignored. Empty: the header is never believed",
    )
    login_min_password_length: int = Field(default=10, ge=8, description="shortest accepted password")
    login_session_max_minutes: int = Field(
        default=7 * 24 * 60,
        ge=1,
        description="the longest session a password login may ask for (the dashboard asks for its own length)",
    )

    @field_validator("login_trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        trusted_networks(value)  # a malformed entry stops the start, not the first login
        return value
