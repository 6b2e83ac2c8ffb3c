"""Settings of the processing service (env prefix ``TTHC_``, on top of the common ones)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import CommonSettings


class ProcessingSettings(CommonSettings):
    ingest_max_batch: int = Field(
        default=1_000, ge=1, description="most events (or portal updates) in one ingest request; more → 413"
    )
    ingest_max_body_bytes: int = Field(
        default=10_000_000, ge=1_000, description="largest ingest request body; more → 413"
    )
    ingest_max_concurrent: int = Field(
        default=8,
        ge=1,
        description="ingest requests handled at once; one more is answered 429 with Retry-After at once",
    )
    ingest_retry_after_s: int = Field(
        default=1, ge=1, description="Retry-After (seconds) of a 429 or 503 ingest answer"
    )
    ingest_publish_timeout_s: float = Field(
        default=10.0, gt=0, description="how long the outbox relay waits for the broker's acks of one chunk"
    )
    ingest_outbox_republish_after_s: float = Field(
        default=60.0,
        gt=0,
        description="an accepted event published this long ago and not yet stored by processing is "
        "published again (doubling per attempt, at most 64×); keep it above processing's usual lag",
    )
    ingest_outbox_sweep_s: float = Field(
        default=5.0, gt=0, description="how often the outbox relay looks for events to publish again"
    )
    broker_epoch_window_s: float = Field(
        default=1800.0,
        gt=0,
        description="when `tthc up` starts its memory broker afresh (a broker epoch), processing sends again "
        "the assessments it published and the events it stored this long before (what reporting may not have "
        "read); keep it above reporting's usual lag",
    )
    ingest_outbox_max_unpublished: int = Field(
        default=200_000,
        ge=1,
        description="accepted events waiting for the broker above which the ingress answers 503",
    )
    ingest_db_timeout_s: float = Field(
        default=5.0,
        gt=0,
        description="how long an ingest request waits for a PostgreSQL connection before 503",
    )
    assessment_retry_s: float = Field(
        default=3_600.0,
        gt=0,
        description="a dossier whose re-assessment by a timer or a registry change failed is tried again this "
        "much later (its events, when an event batch failed on it, are dead-lettered as assessment_failed)",
    )
    fold_store_events: int = Field(
        default=80_000,
        ge=0,
        description="events held in all by the folded histories of open dossiers kept in memory between "
        "batches, so a batch folds only their new events: about 1.9 KB an event (docs/benchmarks.md), so "
        "the default keeps the store near 150 MiB; the least recently used dossiers go out first, and a "
        "dossier with more events than this alone is not kept. 0: every batch folds its dossiers again "
        "from their stored events",
    )
    forecast_enabled: bool = Field(
        default=True,
        description="at-risk warning (dự báo trễ hạn): learn the model from resolved dossiers and warn. "
        "The warning depends on the model of the moment, so it is kept beside the stored assessment "
        "(which stays a pure function of the events) and published with it (docs/rules.md)",
    )
    forecast_quantile: float = Field(
        default=0.5,
        gt=0,
        lt=1,
        description="at-risk warning: quantile of the observed durations taken as the estimate "
        "(0.5 had the best precision on the receipt log, docs/rules.md)",
    )
    forecast_min_samples: int = Field(
        default=20, ge=1, description="at-risk warning: fewest observations of a milestone to estimate from"
    )
    forecast_refresh_s: float = Field(
        default=3600.0, gt=0, description="how often the at-risk model is relearned from resolved dossiers"
    )
    forecast_warmup_refresh_s: float = Field(
        default=60.0,
        gt=0,
        description="how often the at-risk model is relearned while it cannot estimate anything yet "
        "(a new system: no milestone has enough resolved dossiers)",
    )
