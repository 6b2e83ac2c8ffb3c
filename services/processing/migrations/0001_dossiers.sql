CREATE SCHEMA IF NOT EXISTS processing;

-- Local copy of the registry's procedures, fed by tthc.registry.v1 (higher version wins).
CREATE TABLE processing.procedures (
    code       text PRIMARY KEY,
    version    integer NOT NULL,
    deleted    boolean NOT NULL DEFAULT false,
    time_value numeric(8, 2),
    time_unit  text,
    data       jsonb
);

-- Every accepted event, kept for replay and re-assessment; event_id is the idempotency key.
CREATE TABLE processing.events (
    event_id     text PRIMARY KEY,
    dossier_code text NOT NULL,
    event_type   text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    body         jsonb NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_by_dossier ON processing.events (dossier_code, occurred_at);

-- Current assessment per dossier; published_revision trails revision until the
-- assessment is on tthc.compliance.v1.
CREATE TABLE processing.dossiers (
    dossier_code       text PRIMARY KEY,
    agency_code        text NOT NULL,
    procedure_code     text NOT NULL,
    status             smallint NOT NULL,
    outcome            text,
    accepted_at        timestamptz,
    due_at             timestamptz,
    index_due_at       timestamptz,
    resolved_at        timestamptz,
    revision           integer NOT NULL,
    published_revision integer NOT NULL DEFAULT 0,
    assessment         jsonb NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dossiers_by_procedure ON processing.dossiers (procedure_code);
CREATE INDEX dossiers_unpublished ON processing.dossiers (dossier_code) WHERE published_revision < revision;
