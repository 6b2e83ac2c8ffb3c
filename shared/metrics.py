"""Every Prometheus metric of TTHC Monitor, declared in one place.

Labels stay low-cardinality: service, event type, rule code, level, agency — never a
dossier code or event id.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

# --- every service -----------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "tthc_http_requests_total", "HTTP requests answered", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "tthc_http_request_seconds",
    "HTTP request latency",
    ["service", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
DLQ_MESSAGES = Counter(
    "tthc_dlq_messages_total", "messages sent to a dead-letter topic", ["service", "topic", "reason"]
)
CONSUMER_LAG = Gauge(
    "tthc_consumer_lag_messages",
    "highwater minus position, summed over assigned partitions",
    ["service", "topic"],
)
BATCH_SECONDS = Histogram(
    "tthc_consumer_batch_seconds",
    "time to make one consumed batch durable",
    ["service", "topic"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
MESSAGES_CONSUMED = Counter(
    "tthc_messages_consumed_total", "messages consumed and made durable", ["service", "topic"]
)

# --- processing ----------------------------------------------------------------------------
EVENTS_PROCESSED = Counter(
    "tthc_events_processed_total", "dossier events stored and assessed", ["event_type"]
)
EVENTS_DUPLICATE = Counter(
    "tthc_events_duplicate_total", "dossier events ignored because their event_id was already stored"
)
# "continued": a batch folded only the dossier's new events onto the fold kept from its last
# assessment; "refolded": it was folded again from all of its stored events (not kept, kept for
# another state, or an event older than the last one).
FOLDS = Counter("tthc_dossier_folds_total", "dossier histories folded for an assessment, by how", ["how"])
# The fold store (TTHC_FOLD_STORE_EVENTS): about 1.9 KB of memory an event kept (docs/benchmarks.md).
FOLD_STORE_EVENTS = Gauge(
    "tthc_fold_store_events", "events held by the open dossiers' folds kept in memory between batches"
)
FOLD_STORE_DOSSIERS = Gauge(
    "tthc_fold_store_dossiers", "open dossiers whose fold is kept in memory between batches"
)
NONCONFORMITIES_RAISED = Counter("tthc_nonconformities_raised_total", "nonconformities raised", ["code"])
ASSESSMENTS_PUBLISHED = Counter(
    "tthc_assessments_published_total", "dossier assessments published on the compliance topic"
)
ASSESSMENT_FAILURES = Counter(
    "tthc_assessment_failures_total",
    "dossiers whose assessment raised (an engine bug or data it cannot handle); path = events (their "
    "events dead-lettered as assessment_failed), timer or registry (retried later by the dossier's timer)",
    ["path"],
)

# --- registry ------------------------------------------------------------------------------
REGISTRY_CHANGES = Counter("tthc_registry_changes_total", "registry entity changes published", ["entity"])

# --- reporting -----------------------------------------------------------------------------
ROLLUP_UPDATES = Counter("tthc_rollup_updates_total", "dossier assessments applied to the reporting rollups")
ON_TIME_RATE = Gauge(
    "tthc_on_time_rate", "share of dossiers resolved early or on time, current year", ["level"]
)
PENDING_OVERDUE = Gauge("tthc_pending_overdue", "dossiers pending past their due date", ["level"])
OPEN_NONCONFORMITIES = Gauge("tthc_open_nonconformities", "nonconformities not closed", ["level"])


def render() -> tuple[bytes, str]:
    """The exposition text and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST


# --- reporting, per agency (one series per agency: a few hundred per province, never per dossier)
AGENCY_ON_TIME_RATE = Gauge(
    "tthc_agency_on_time_rate",
    "share of dossiers resolved early or on time, current year, legal clock",
    ["agency"],
)
AGENCY_PENDING_OVERDUE = Gauge(
    "tthc_agency_pending_overdue", "dossiers pending past their due date", ["agency"]
)
AGENCY_OPEN_NONCONFORMITIES = Gauge(
    "tthc_agency_open_nonconformities",
    "nonconformities not closed (open or under corrective action)",
    ["agency"],
)

# --- processing, HTTP ingress (docs/ingress.md); emitter = the key's name (a few dozen systems)
INGEST_EVENTS = Counter(
    "tthc_ingest_events_total",
    "events answered by the HTTP ingress: result accepted / duplicate / rejected, with the reason",
    ["route", "emitter", "result", "reason"],
)
INGEST_PORTAL_UPDATES = Counter(
    "tthc_ingest_portal_updates_total",
    "national-portal status updates answered by the status-sync adapter",
    ["emitter", "result", "reason"],
)
INGEST_REFUSED_REQUESTS = Counter(
    "tthc_ingest_refused_requests_total",
    "whole ingest requests refused: unauthorized, over_capacity, too_large, not_an_array, broker_unavailable",
    ["route", "reason"],
)
INGRESS_OUTBOX_ROWS = Gauge(
    "tthc_ingress_outbox_rows",
    "accepted events processing has not stored yet: unpublished (not on the topic) or published",
    ["state"],
)
INGRESS_OUTBOX_PUBLISHED = Counter(
    "tthc_ingress_outbox_published_total", "accepted events the outbox relay published on the events topic"
)
INGRESS_OUTBOX_REPUBLISHED = Counter(
    "tthc_ingress_outbox_republished_total",
    "accepted events published again: published long ago, still not stored (a broker restart lost them)",
)

# --- processing, the at-risk warning (dự báo trễ hạn): per agency, never per dossier
AGENCY_AT_RISK = Gauge(
    "tthc_agency_dossiers_at_risk",
    "open dossiers warned AT_RISK: their estimated resolution (from observed durations) passed the due moment",
    ["agency"],
)
FORECAST_SAMPLES = Gauge(
    "tthc_forecast_samples", "observed milestone-to-resolution durations in the at-risk model"
)
