"""Settings shared by every service (pydantic-settings, env prefix ``TTHC_``).

``DATABASE_URL`` and ``KAFKA_BOOTSTRAP_SERVERS`` are honoured without the prefix too,
because that is how operators and container platforms usually pass them.
"""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.calendar import CalendarOverrides, DateWindow, OfficeHours, WorkingCalendar
from shared.contracts.events import ContractLimits

ServiceName = Literal["registry", "processing", "reporting"]

#: The largest message the producer sends and the broker takes (aiokafka's ``max_request_size`` and
#: Kafka's ``message.max.bytes``, both 1 MiB by default), less room for the record's key and headers.
#: ``event_max_bytes`` may not exceed it: an event the ingress accepts must be publishable.
BROKER_MESSAGE_BYTES = 1_000_000


class Topics(BaseSettings):
    """Kafka topic names; the ``.v1`` suffix is the contract version."""

    model_config = SettingsConfigDict(env_prefix="TTHC_TOPIC_", extra="ignore")

    dossier_events: str = "tthc.dossier-events.v1"
    compliance: str = "tthc.compliance.v1"
    registry: str = "tthc.registry.v1"

    @staticmethod
    def dlq(topic: str) -> str:
        """Dead-letter topic of ``topic``."""
        return f"{topic}.dlq"


class CommonSettings(BaseSettings):
    """What every TTHC Monitor process reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="TTHC_", extra="ignore")

    database_url: str = Field(
        default="",
        validation_alias=AliasChoices("TTHC_DATABASE_URL", "DATABASE_URL"),
        description="PostgreSQL DSN; empty means `tthc up` starts the embedded server.",
    )
    kafka_bootstrap_servers: str = Field(
        default="",
        validation_alias=AliasChoices("TTHC_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"),
        description="Kafka bootstrap servers; empty means `tthc up` starts the local broker.",
    )
    kafka_partitions: int = Field(default=6, ge=1, description="partitions for topics we create")
    kafka_replication_factor: int = Field(default=1, ge=1)
    # retention.ms of the topics we create, per class (docs/operations.md, "Topic retention"); -1 = forever
    kafka_retention_events_hours: int = Field(
        default=-1,
        ge=-1,
        description="dossier events and compliance topics; -1 (forever) because rebuilding reporting "
        "replays them from offset 0; a bound makes such a rebuild cover only that many hours",
    )
    kafka_retention_dead_letters_hours: int = Field(
        default=-1,
        ge=-1,
        description="dead-letter topics; -1 (forever): a dead letter is the only copy of an accepted event "
        "until `tthc dlq redrive` brings it back",
    )
    kafka_retention_registry_hours: int = Field(
        default=-1,
        ge=-1,
        description="the compacted registry feed (compaction keeps each entity's last state)",
    )
    kafka_session_timeout_ms: int = Field(
        default=10_000, ge=1_000, description="consumer group session timeout; a group join waits ~half of it"
    )
    kafka_heartbeat_interval_ms: int = Field(default=2_000, ge=100)
    consumer_group_prefix: str = Field(default="tthc", description="consumer groups are <prefix>-<service>…")
    kafka_max_batch: int = Field(default=5_000, ge=1, description="records per consumer batch")
    kafka_batch_timeout_ms: int = Field(default=100, ge=1)
    kafka_fetch_max_wait_ms: int = Field(
        default=100,
        ge=1,
        description="longest a consumer's fetch waits at the broker for data; aiokafka's 500 ms default "
        "added ~180 ms per consumer hop on the local broker",
    )
    http_host: str = "127.0.0.1"
    log_level: str = "INFO"
    gc_young_threshold: int = Field(
        default=20_000,
        ge=0,
        description="objects allocated between two collections of Python's youngest garbage-collector "
        "generation in a service (Python's default is 700). Processing keeps millions of objects in its "
        "fold store, and with the default the full collections this triggers cost a third of its CPU in "
        "the live stream (docs/decisions.md, 'The garbage collector'); 0 keeps Python's default",
    )
    db_pool_min: int = 1
    db_pool_max: int = 10

    registry_port: int = 8001
    processing_port: int = 8002
    reporting_port: int = 8003

    # Working-day law (DESIGN §4) — settings, never constants.
    timezone: str = "Asia/Ho_Chi_Minh"
    office_hours: str = Field(default="07:30-11:30,13:00-17:00", description="giờ hành chính, local time")
    in_person_cutoff: time = Field(
        default=time(15, 0),
        description="dossiers received in person after this hour count from the next working day",
    )
    supplement_window_working_days: Decimal = Field(default=Decimal(3), ge=0)
    apology_lead_working_days: Decimal = Field(default=Decimal(1), ge=0)
    apology_resets_allowed: int = Field(
        default=1, ge=0, description="times an apology may reset the return date"
    )
    date_window_start: date = Field(
        default=date(2000, 1, 1),
        description="earliest date an event may carry; earlier dates are refused (issue #11)",
    )
    date_window_years_ahead: int = Field(
        default=5,
        ge=0,
        description="latest date an event may carry: today + this many years (a 3025 typo is refused)",
    )
    legal_profile: str = Field(
        default="VN",
        description="code of the registry's legal profile that judges dossiers whose procedure and agency "
        "name none; while the registry has no profile of that code, the settings above are the law",
    )
    timer_interval_seconds: float = Field(
        default=1.0,
        gt=0,
        description="how often processing looks for dossiers whose next deadline has passed",
    )
    # Health, readiness and logs (docs/operations.md, "Health and readiness")
    health_timeout_s: float = Field(
        default=0.8, gt=0, le=5, description="how long /healthz waits for each dependency before 503"
    )
    consumer_stall_s: float = Field(
        default=120.0,
        gt=0,
        description="/readyz answers 503 when a consumer has lag and its position has not moved for this long",
    )
    consumer_watch_interval_s: float = Field(
        default=5.0,
        gt=0,
        description="how often every consumer's lag is measured (tthc_consumer_lag_messages)",
    )
    log_repeat_interval_s: float = Field(
        default=30.0,
        ge=0,
        description="an identical error repeated within this interval is logged once, then with its count; 0 = off",
    )

    # `tthc up` (the local runtime): console, log files and the supervisor that restarts crashed children
    console_format: Literal["human", "json", "none"] = Field(
        default="human",
        description="`tthc up` console: readable lines, the services' JSON lines unchanged (production), or none",
    )
    log_file_max_bytes: int = Field(
        default=20_000_000,
        ge=10_000,
        description="`tthc up` rotates <data dir>/logs/<service>.log at this size",
    )
    log_file_backups: int = Field(default=3, ge=0, description="rotated log files kept per service")
    supervisor_max_crashes: int = Field(
        default=5, ge=1, description="`tthc up` stops everything when one child crashes more often than this…"
    )
    supervisor_crash_window_s: float = Field(default=60.0, gt=0, description="… within this many seconds")
    supervisor_backoff_max_s: float = Field(
        default=10.0, gt=0, description="longest wait before restarting a crashed child (doubling from 0.5 s)"
    )

    topics: Topics = Field(default_factory=Topics)

    @field_validator(
        "kafka_retention_events_hours", "kafka_retention_dead_letters_hours", "kafka_retention_registry_hours"
    )
    @classmethod
    def _retention_not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError(
                "0 hours would delete every message at once; give -1 (forever) or a number of hours"
            )
        return value

    @field_validator("office_hours")
    @classmethod
    def _office_hours_parse(cls, value: str) -> str:
        OfficeHours.parse(value)  # its ValueError says which period is wrong and shows the form
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone_known(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a known time zone; use an IANA name such as Asia/Ho_Chi_Minh"
            ) from None
        return value

    # Bounds of the ingress contract (shared/contracts/events.py, issues #11 and #12).
    event_max_depth: int = Field(
        default=8,
        ge=3,
        le=64,
        description="deepest nesting of arrays and objects in one event, checked before decoding",
    )
    event_max_bytes: int = Field(
        default=65_536,
        ge=4_096,
        description="largest event (JSON bytes) taken from the topic, checked before decoding; at most "
        f"{BROKER_MESSAGE_BYTES} (the broker's per-message limit)",
    )

    @field_validator("event_max_bytes")
    @classmethod
    def _event_fits_the_broker(cls, value: int) -> int:
        if value > BROKER_MESSAGE_BYTES:
            raise ValueError(
                f"TTHC_EVENT_MAX_BYTES={value} is above the broker's per-message limit of {BROKER_MESSAGE_BYTES} "
                "bytes (the producer's max_request_size, Kafka's message.max.bytes): the ingress would accept "
                "events that can never be published"
            )
        return value

    def port_of(self, service: ServiceName) -> int:
        """HTTP port of ``service``."""
        ports: dict[ServiceName, int] = {
            "registry": self.registry_port,
            "processing": self.processing_port,
            "reporting": self.reporting_port,
        }
        return ports[service]

    def contract_limits(self) -> ContractLimits:
        """The ingress contract's bounds as these settings configure them (``set_contract_limits``)."""
        return ContractLimits(
            self.date_window_start, self.date_window_years_ahead, self.event_max_depth, self.event_max_bytes
        )

    def date_window(self, today: date | None = None) -> DateWindow:
        """The date window (``date_window_start`` … today + ``date_window_years_ahead`` years)."""
        return DateWindow.ending_years_after(
            self.date_window_start, today or date.today(), self.date_window_years_ahead
        )

    def calendar(self, overrides: CalendarOverrides | None = None) -> WorkingCalendar:
        """The working-day calendar configured by these settings."""
        from zoneinfo import ZoneInfo

        return WorkingCalendar(
            office_hours=OfficeHours.parse(self.office_hours),
            overrides=overrides or CalendarOverrides(),
            tz=ZoneInfo(self.timezone),
            window=self.date_window(),
        )
