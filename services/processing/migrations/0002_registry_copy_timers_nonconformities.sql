-- Local copies of the rest of the registry (fed by tthc.registry.v1, higher version wins).
CREATE TABLE processing.registry_entities (
    entity    text NOT NULL,
    entity_id text NOT NULL,
    version   integer NOT NULL,
    deleted   boolean NOT NULL DEFAULT false,
    data      jsonb,
    PRIMARY KEY (entity, entity_id)
);

-- ISO process versions, one row per version, looked up by agency × procedure × acceptance day.
CREATE TABLE processing.iso_processes (
    agency_code    text NOT NULL,
    procedure_code text NOT NULL,
    version        integer NOT NULL,
    effective_from date NOT NULL,
    deleted        boolean NOT NULL DEFAULT false,
    record         jsonb NOT NULL,
    PRIMARY KEY (agency_code, procedure_code, version)
);

-- Timers are derived from state: the next moment a dossier's assessment changes by itself.
ALTER TABLE processing.dossiers ADD COLUMN next_deadline timestamptz;
CREATE INDEX dossiers_next_deadline ON processing.dossiers (next_deadline) WHERE next_deadline IS NOT NULL;

-- The corrective-action lifecycle of each nonconformity (clause 10.2): the engine decides
-- which nonconformities exist; people move them open → corrective_action → closed.
CREATE TABLE processing.nonconformities (
    dossier_code      text NOT NULL,
    nc_key            text NOT NULL,  -- code + first evidence id: one row per distinct finding
    code              text NOT NULL,
    agency_code       text NOT NULL,
    procedure_code    text NOT NULL,
    clause            text NOT NULL,
    detected_at       timestamptz NOT NULL,
    evidence          text[] NOT NULL,
    detail            text NOT NULL DEFAULT '',
    active            boolean NOT NULL DEFAULT true,
    status            text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'corrective_action', 'closed')),
    corrective_action text,
    status_changed_at timestamptz,
    status_changed_by text,
    PRIMARY KEY (dossier_code, nc_key)
);
CREATE INDEX nonconformities_filter ON processing.nonconformities (agency_code, code, status, detected_at);
