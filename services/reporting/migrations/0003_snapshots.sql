-- Reports as submitted (issue #15): a periodic report is frozen at its period's close (or on
-- demand, "chốt số liệu"), immutable, with the SHA-256 of its content; the live report stays
-- available, and what changed after the close is listed from the facts' change sequence.

-- Every insert or update of a dossier fact takes the next number: the facts changed after a
-- snapshot are those numbered above the snapshot's facts_seq. (Existing rows keep NULL: older.)
CREATE SEQUENCE reporting.fact_changes;
ALTER TABLE reporting.dossier_facts ADD COLUMN changed_seq bigint;
CREATE INDEX facts_by_change ON reporting.dossier_facts (changed_seq);

CREATE FUNCTION reporting.number_fact_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.changed_seq := nextval('reporting.fact_changes');
    RETURN NEW;
END $$;

CREATE TRIGGER number_fact_change BEFORE INSERT OR UPDATE ON reporting.dossier_facts
    FOR EACH ROW EXECUTE FUNCTION reporting.number_fact_change();

CREATE TABLE reporting.report_snapshots (
    id             bigserial PRIMARY KEY,
    report         text NOT NULL CHECK (report IN ('form06', 'qms-status', 'indicators')),
    calendar       text NOT NULL CHECK (calendar IN ('calendar', 'statutory')),
    period         text NOT NULL,            -- the period's label: 2025-03, 2025-Q1, 2021-H1, 2025
    agency_code    text NOT NULL,            -- '' = the whole province
    made_at        timestamptz NOT NULL,
    made_by        text NOT NULL,            -- 'system' at a period close, else the officer's subject
    reason         text NOT NULL CHECK (reason IN ('period_close', 'on_demand')),
    facts_seq      bigint NOT NULL,          -- reporting.fact_changes when the content was read
    content        jsonb NOT NULL,
    content_sha256 text NOT NULL
);
-- the submitted report of a (report, calendar, period, agency) is its latest snapshot
CREATE INDEX snapshots_by_report ON reporting.report_snapshots (report, calendar, period, agency_code, id);

-- Immutable: what was submitted stays as it was.
CREATE FUNCTION reporting.refuse_snapshot_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'report snapshots are immutable: make a new snapshot instead of changing snapshot %', OLD.id;
END $$;

CREATE TRIGGER snapshots_are_immutable BEFORE UPDATE OR DELETE ON reporting.report_snapshots
    FOR EACH ROW EXECUTE FUNCTION reporting.refuse_snapshot_change();
