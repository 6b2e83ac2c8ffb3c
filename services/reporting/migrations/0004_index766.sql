-- Decision 766 facts per dossier (issue #15 item 5), from tthc.dossier-events.v1 (consumer group
-- TTHC_REPORTING_EVENTS_GROUP_ID): what the assessments do not carry — digitised dossier and
-- result, online payment, the citizen's rating. Each column pair is set by its own event type;
-- a later event of the same type wins (fees: the first payment's moment, online if any was), so a
-- redelivery or a replay in any order leaves the same row.
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
-- a period's read takes the rows with one of the four moments inside it
CREATE INDEX index766_by_accepted ON reporting.index766_facts (accepted_at);
CREATE INDEX index766_by_resolved ON reporting.index766_facts (resolved_at);
CREATE INDEX index766_by_fee ON reporting.index766_facts (fee_paid_at);
CREATE INDEX index766_by_rated ON reporting.index766_facts (rated_at);
