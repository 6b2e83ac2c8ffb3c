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
        default=True,
        description="refuse anonymous report and dashboard requests (401); only `tthc up --demo` sets it "
        "false, and says so when it starts",
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
