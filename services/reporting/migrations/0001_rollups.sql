CREATE SCHEMA IF NOT EXISTS reporting;

-- Latest assessment per dossier from tthc.compliance.v1 (higher revision wins).
CREATE TABLE reporting.dossier_facts (
    dossier_code   text PRIMARY KEY,
    agency_code    text NOT NULL,
    procedure_code text NOT NULL,
    channel        smallint,
    status         smallint NOT NULL,
    outcome        text,
    index_outcome  text,
    accepted_at    timestamptz,
    due_at         timestamptz,
    index_due_at   timestamptz,
    resolved_at    timestamptz,
    closed_at      timestamptz,
    processing_working_days double precision,
    revision       integer NOT NULL,
    assessment     jsonb NOT NULL
);
CREATE INDEX facts_by_agency ON reporting.dossier_facts (agency_code, procedure_code, accepted_at);
-- the few dossiers whose due moment or closing falls on the current day (pending overdue "now")
CREATE INDEX facts_by_due ON reporting.dossier_facts (due_at);
CREATE INDEX facts_by_closed ON reporting.dossier_facts (closed_at);

-- Counters of one (agency × procedure × local day). Every counter is a flow; stocks are
-- differences of cumulative flows (see docs/reporting.md):
--   received*            on the acceptance day (online = channel 2, postal = channel 3)
--   resolved_*           on the resolution day, legal clock; resolved_index_late on the index clock
--   processing_mdays     accepted → resolved in thousandths of a working day (integer: replay-exact)
--   closed               on the day the dossier left processing (resolved, withdrawn, stopped)
--   due                  on the legal due day
--   due_closed           on max(due day, closed day): pending overdue at t = Σdue − Σdue_closed before t
CREATE TABLE reporting.daily_rollup (
    agency_code         text NOT NULL,
    procedure_code      text NOT NULL,
    day                 date NOT NULL,
    received            integer NOT NULL DEFAULT 0,
    received_online     integer NOT NULL DEFAULT 0,
    received_postal     integer NOT NULL DEFAULT 0,
    resolved_early      integer NOT NULL DEFAULT 0,
    resolved_on_time    integer NOT NULL DEFAULT 0,
    resolved_late       integer NOT NULL DEFAULT 0,
    resolved_index_late integer NOT NULL DEFAULT 0,
    processing_mdays    bigint  NOT NULL DEFAULT 0,
    processing_n        integer NOT NULL DEFAULT 0,
    closed              integer NOT NULL DEFAULT 0,
    due                 integer NOT NULL DEFAULT 0,
    due_closed          integer NOT NULL DEFAULT 0,
    PRIMARY KEY (agency_code, procedure_code, day)
);

-- The same counters summed per (agency × field) at three grains: 'D' days, 'M' months
-- (bucket = first day), 'Y' years (bucket = 1 January). A cumulative sum up to any day
-- reads at most: the years before it, the months of its year before it, the days of its
-- month before it — so Biểu 06 over any period touches a bounded number of rows.
CREATE TABLE reporting.field_rollup (
    grain               text NOT NULL CHECK (grain IN ('D', 'M', 'Y')),
    bucket              date NOT NULL,
    agency_code         text NOT NULL,
    field               text NOT NULL,
    received            integer NOT NULL DEFAULT 0,
    received_online     integer NOT NULL DEFAULT 0,
    received_postal     integer NOT NULL DEFAULT 0,
    resolved_early      integer NOT NULL DEFAULT 0,
    resolved_on_time    integer NOT NULL DEFAULT 0,
    resolved_late       integer NOT NULL DEFAULT 0,
    resolved_index_late integer NOT NULL DEFAULT 0,
    processing_mdays    bigint  NOT NULL DEFAULT 0,
    processing_n        integer NOT NULL DEFAULT 0,
    closed              integer NOT NULL DEFAULT 0,
    due                 integer NOT NULL DEFAULT 0,
    due_closed          integer NOT NULL DEFAULT 0,
    PRIMARY KEY (grain, bucket, agency_code, field)
);
CREATE INDEX field_rollup_by_agency ON reporting.field_rollup (agency_code, grain, bucket);

-- Nonconformities as the latest assessment of each dossier states them (replaced per revision).
CREATE TABLE reporting.nonconformities (
    dossier_code      text NOT NULL,
    seq               smallint NOT NULL,
    agency_code       text NOT NULL,
    procedure_code    text NOT NULL,
    code              text NOT NULL,
    clause            text NOT NULL,
    status            text NOT NULL,
    detected_at       timestamptz NOT NULL,
    detail            text NOT NULL DEFAULT '',
    corrective_action text,
    PRIMARY KEY (dossier_code, seq)
);
CREATE INDEX nonconformities_by_agency ON reporting.nonconformities (agency_code, detected_at);
CREATE INDEX nonconformities_by_code ON reporting.nonconformities (code, status, detected_at);

-- Nonconformity counts per (agency × procedure × detection day × code × status), by deltas.
CREATE TABLE reporting.nonconformity_rollup (
    agency_code    text NOT NULL,
    procedure_code text NOT NULL,
    day            date NOT NULL,
    code           text NOT NULL,
    status         text NOT NULL,
    n              integer NOT NULL DEFAULT 0,
    PRIMARY KEY (agency_code, procedure_code, day, code, status)
);

-- Local copies of the registry (tthc.registry.v1; higher version per entity wins;
-- a deletion keeps its version as a tombstone so an older message cannot resurrect it).
CREATE TABLE reporting.agencies (
    code           text PRIMARY KEY,
    version        integer NOT NULL,
    deleted        boolean NOT NULL DEFAULT false,
    name           text,
    parent_code    text,
    level          text,
    iso_obligation text,
    valid_from     date,
    valid_to       date,
    data           jsonb
);
CREATE INDEX agencies_by_parent ON reporting.agencies (parent_code);

CREATE TABLE reporting.procedures (
    code    text PRIMARY KEY,
    version integer NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    name    text,
    field   text,
    level   text,
    data    jsonb
);

CREATE TABLE reporting.qms (
    agency_code text PRIMARY KEY,
    version     integer NOT NULL,
    deleted     boolean NOT NULL DEFAULT false,
    state       text,
    data        jsonb
);

-- Bearer tokens from the feed (api_token entities: the SHA-256 hash, never the token).
CREATE TABLE reporting.api_tokens (
    token_hash text PRIMARY KEY,
    version    integer NOT NULL,
    deleted    boolean NOT NULL DEFAULT false,
    data       jsonb
);
