-- Every registry entity (agency, qms, procedure, iso_process, calendar_override, api_token) in one
-- table: the record exactly as published on tthc.registry.v1 (validated by its pydantic model
-- before it gets here), its feed version, and a deleted flag so a re-created entity continues its
-- version sequence. One write path (row + outbox + audit in one transaction) serves all kinds.
CREATE TABLE registry.entities (
    entity     text NOT NULL CHECK (entity IN
                   ('procedure', 'agency', 'qms', 'iso_process', 'calendar_override', 'api_token')),
    entity_id  text NOT NULL,
    version    integer NOT NULL CHECK (version >= 1),
    deleted    boolean NOT NULL DEFAULT false,
    data       jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (entity, entity_id)
);
CREATE INDEX entities_agency_parent ON registry.entities ((data ->> 'parent_code')) WHERE entity = 'agency';
CREATE INDEX entities_by_agency ON registry.entities ((data ->> 'agency_code'))
    WHERE entity IN ('qms', 'iso_process');
CREATE INDEX entities_process_procedure ON registry.entities ((data ->> 'procedure_code'))
    WHERE entity = 'iso_process';

-- The procedures written by 0001 move over unchanged (same versions).
INSERT INTO registry.entities (entity, entity_id, version, deleted, data, updated_at)
SELECT 'procedure', code, version, false,
       jsonb_build_object(
           'code', code, 'name', name, 'field', field, 'level', level,
           'statutory_time', jsonb_build_object('value', time_value::text, 'unit', time_unit),
           'channel_times', '[]'::jsonb, 'legal_basis', legal_basis, 'legal_basis_changed_on', NULL,
           'valid_from', valid_from, 'valid_to', valid_to),
       updated_at
FROM registry.procedures;
DROP TABLE registry.procedures;

-- Who changed what, when, from what to what. Written in the transaction of the change.
CREATE TABLE registry.audit (
    id            bigserial PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    actor         text NOT NULL,
    actor_role    text NOT NULL,
    actor_agency  text,
    via           text NOT NULL,           -- api, import, seed, cli
    action        text NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    entity        text NOT NULL,
    entity_id     text NOT NULL,
    version       integer NOT NULL,
    before        jsonb,
    after         jsonb
);
CREATE INDEX audit_by_entity ON registry.audit (entity, entity_id, id);
CREATE INDEX audit_by_actor ON registry.audit (actor, id);
