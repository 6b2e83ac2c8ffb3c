"""Settings of the reporting service (env prefix ``TTHC_``)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import CommonSettings


class ReportingSettings(CommonSettings):
    statutory_period_start_day: int = Field(
        default=15,
        ge=1,
        le=28,
        description="statutory reporting periods start on this day of the previous month",
    )
    reporting_require_token: bool = Field(
        default=False,
        description="refuse anonymous report requests (401); set it in production, with tokens from the registry",
    )
    reporting_gauges_interval_s: float = Field(
        default=30.0, gt=0, description="how often the Prometheus gauges are recomputed from the rollups"
    )
    reporting_group_id: str = Field(
        default="tthc-reporting", description="consumer group of tthc.compliance.v1 (another id = a replay)"
    )
    reporting_registry_group_id: str = Field(
        default="tthc-reporting-registry", description="consumer group of tthc.registry.v1"
    )
    dashboard_default_language: str = Field(default="vi", pattern="^(vi|en)$")
    dashboard_live_interval_s: float = Field(
        default=1.0, ge=0.2, le=60, description="how often an open dashboard page asks for fresh numbers"
    )
    dashboard_session_minutes: int = Field(
        default=480, ge=1, le=7 * 24 * 60, description="a dashboard login lasts this long (a working day)"
    )
    dashboard_session_secret: str = Field(
        default="",
        description="signs dashboard session and CSRF cookies; empty draws one per process "
        "(sessions then end when reporting restarts) — set it when reporting runs as several replicas",
    )
    dashboard_secure_cookies: bool = Field(
        default=False, description="mark the dashboard's cookies Secure (set it behind HTTPS)"
    )
    reporting_processing_url: str = Field(
        default="",
        description="processing's HTTP API, where the dashboard records corrective actions "
        "(empty: http://<TTHC_HTTP_HOST>:<TTHC_PROCESSING_PORT>)",
    )
