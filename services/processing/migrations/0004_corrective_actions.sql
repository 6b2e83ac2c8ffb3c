-- Corrective actions (ISO 9001:2015 clause 10.2): one action groups nonconformities of one agency
-- that share a cause; the state machine is services/processing/domain/corrective_action.py.
CREATE TABLE processing.corrective_actions (
    id            bigserial PRIMARY KEY,
    agency_code   text NOT NULL,
    state         text NOT NULL CHECK (state IN ('planned', 'verified', 'closed')),
    correction    text NOT NULL,
    root_cause    text NOT NULL,
    action        text NOT NULL,
    responsible   text NOT NULL,
    due_date      date NOT NULL,
    verification  text,
    verified_at   timestamptz,
    closed_at     timestamptz,
    created_at    timestamptz NOT NULL,
    created_by    text NOT NULL
);
CREATE INDEX corrective_actions_by_agency ON processing.corrective_actions (agency_code, state, due_date);

-- a nonconformity is answered by at most one corrective action
CREATE TABLE processing.corrective_action_items (
    action_id    bigint NOT NULL REFERENCES processing.corrective_actions (id),
    dossier_code text NOT NULL,
    nc_key       text NOT NULL,
    PRIMARY KEY (dossier_code, nc_key),
    FOREIGN KEY (dossier_code, nc_key) REFERENCES processing.nonconformities (dossier_code, nc_key)
);
CREATE INDEX corrective_action_items_by_action ON processing.corrective_action_items (action_id);

-- every change: who, when, what
CREATE TABLE processing.corrective_action_audit (
    id        bigserial PRIMARY KEY,
    action_id bigint NOT NULL REFERENCES processing.corrective_actions (id),
    at        timestamptz NOT NULL,
    by_whom   text NOT NULL,
    what      text NOT NULL,
    change    jsonb NOT NULL
);
CREATE INDEX corrective_action_audit_by_action ON processing.corrective_action_audit (action_id, id);
