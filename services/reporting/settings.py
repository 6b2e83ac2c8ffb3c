"""Settings of the reporting service (env prefix ``TTHC_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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
    reporting_events_group_id: str = Field(
        default="tthc-reporting-events",
        description="consumer group of tthc.dossier-events.v1 (the Decision 766 facts; another id = a replay)",
    )
    dashboard_default_language: str = Field(default="vi", pattern="^(vi|en)$")
    # The frame of the printed forms (issue #15): names, not codes, as the office signs them.
    reporting_unit_name: str = Field(
        default="Ủy ban nhân dân tỉnh",
        description="reporting unit named on a form that covers every agency (the province)",
    )
    reporting_place: str = Field(default="", description="place before the date of a form: 'Cần Thơ, ngày …'")
    reporting_receiver_form06: str = Field(
        default="Văn phòng Ủy ban nhân dân tỉnh", description="receiving unit of Biểu 06/VPCP/KSTT"
    )
    reporting_receiver_qms: str = Field(
        default="Sở Khoa học và Công nghệ", description="receiving unit of the ISO QMS annual report"
    )
    reporting_receiver_766: str = Field(
        default="Văn phòng Ủy ban nhân dân tỉnh", description="receiving unit of the Decision 766 report"
    )
    reporting_pdf_font_dir: Path = Field(
        default=Path("/usr/share/fonts/truetype/dejavu"),
        description="folder with DejaVuSans.ttf, -Bold, -Oblique (Debian fonts-dejavu-core): the PDF forms' font",
    )
    # Reports frozen at period close (issue #15, docs/reporting.md "Submitted reports").
    reporting_close_periods: bool = Field(
        default=True, description="freeze the periodic reports of each period when it ends (snapshots)"
    )
    reporting_close_calendar: Literal["statutory", "calendar"] = Field(
        default="statutory",
        description="which periods are frozen at their end: statutory (15th → 14th) or calendar",
    )
    reporting_close_check_interval_s: float = Field(
        default=300.0,
        gt=0,
        description="how often reporting looks for a period that ended and is not frozen yet",
    )
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
    reporting_registry_url: str = Field(
        default="",
        description="the registry's HTTP API, where the dashboard checks user names and passwords "
        "(empty: http://<TTHC_HTTP_HOST>:<TTHC_REGISTRY_PORT>)",
    )
