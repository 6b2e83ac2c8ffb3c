-- Broker epochs (issue #11, docs/ingress.md "Broker epochs"): `tthc up` adds a row each time it
-- starts its local memory broker, which starts empty. Processing's relay notices an unrecovered row
-- within a second and sends again what the lost broker may have held undelivered: the assessments
-- it published within TTHC_BROKER_EPOCH_WINDOW_S before the epoch (marked unpublished, so the
-- recovery publisher sends them again) and the events it stored within that window (for reporting's
-- Decision 766 consumer). Against Apache Kafka nothing adds a row. (0010: 0009 is taken.)
CREATE TABLE processing.broker_epochs (
    epoch        bigserial PRIMARY KEY,
    started_at   timestamptz NOT NULL DEFAULT now(),  -- when the empty broker was up
    servers      text NOT NULL,                       -- its bootstrap address, for the log
    reason       text NOT NULL,                       -- 'started' or 'restarted after …'
    recovered_at timestamptz,                         -- NULL: processing has not sent again yet
    assessments  integer,                             -- how many were marked for publishing again
    events       integer                              -- how many stored events were published again
);
CREATE INDEX broker_epochs_unrecovered ON processing.broker_epochs (epoch) WHERE recovered_at IS NULL;

-- When an assessment's publication was last confirmed: the recovery above needs "published within
-- the window", and the write path (adapters/repository.py) only raises published_revision, so a
-- trigger keeps the time beside it. It fires only when published_revision rises (not on the
-- assessment upsert, which leaves it alone).
ALTER TABLE processing.dossiers ADD COLUMN published_at timestamptz;

CREATE FUNCTION processing.dossiers_published_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.published_at := now();
    RETURN NEW;
END $$;

CREATE TRIGGER dossiers_published_at BEFORE UPDATE OF published_revision ON processing.dossiers
    FOR EACH ROW WHEN (NEW.published_revision > OLD.published_revision)
    EXECUTE FUNCTION processing.dossiers_published_at();
