-- Decision 766 facts per dossier (issue #15 item 5), from tthc.dossier-events.v1 (consumer group
-- TTHC_REPORTING_EVENTS_GROUP_ID): what the assessments do not carry — digitised dossier and
-- result, online payment, the citizen's rating. Each column pair is set by its own event type;
-- a later event of the same type wins (fees: the first payment's moment, online if any was), so a
-- redelivery or a replay in any order leaves the same row (domain/index766_facts.py).
CREATE TABLE reporting.index766_facts (
    dossier_code     text PRIMARY KEY,
    agency_code      text NOT NULL,
    accepted_at      timestamptz,   -- dossier.accepted
    digitized        boolean,       -- its payload.digitized (NULL: not reported)
    resolved_at      timestamptz,   -- dossier.resolved
    result_digitized boolean,       -- its payload.result_digitized
    fee_paid_at      timestamptz,   -- first dossier.fee_paid
    fee_online       boolean,       -- any payment with payload.online
    rated_at         timestamptz,   -- dossier.result_returned with payload.satisfaction
    satisfaction     smallint CHECK (satisfaction BETWEEN 1 AND 5)
);

-- The same facts counted per agency × local day, each on its event's day; a changed fact moves
-- the counters by new − old. A period's measures are a sum over its days. Ratings are kept by
-- level (1–5): what counts as satisfied is the data file's threshold, applied when reading.
CREATE TABLE reporting.index766_daily (
    agency_code        text NOT NULL,
    day                date NOT NULL,
    accepted           integer NOT NULL DEFAULT 0,
    accepted_digitized integer NOT NULL DEFAULT 0,
    resolved_events    integer NOT NULL DEFAULT 0,
    results_digitized  integer NOT NULL DEFAULT 0,
    fees_paid          integer NOT NULL DEFAULT 0,
    fees_paid_online   integer NOT NULL DEFAULT 0,
    rated_1            integer NOT NULL DEFAULT 0,
    rated_2            integer NOT NULL DEFAULT 0,
    rated_3            integer NOT NULL DEFAULT 0,
    rated_4            integer NOT NULL DEFAULT 0,
    rated_5            integer NOT NULL DEFAULT 0,
    PRIMARY KEY (day, agency_code)
);

-- Indicators the events cannot carry (e.g. procedures published on time), imported per agency and
-- month by an admin (PUT /api/v1/reports/index766/external); the latest import of a figure wins.
CREATE TABLE reporting.index766_external (
    agency_code text NOT NULL,
    month       date NOT NULL CHECK (extract(day FROM month) = 1),  -- the month's first day
    measure     text NOT NULL,
    value       integer NOT NULL CHECK (value >= 0),
    imported_at timestamptz NOT NULL,
    imported_by text NOT NULL,
    PRIMARY KEY (month, agency_code, measure)
);
