-- Ingress scoping and conflicting duplicates (issue #12, docs/ingress.md).

-- The content of each id accepted over HTTP (hex SHA-256 of the event as the contract reads
-- it), so that a repeated id with other content is answered `conflict`, not `duplicate`.
-- NULL for ids recorded before this migration: they are answered `duplicate` as before.
ALTER TABLE processing.ingested_events ADD COLUMN content_sha256 text;

-- The agency each dossier was first accepted for over HTTP, before the consumer has stored it:
-- no later event may move the dossier to another agency.
CREATE TABLE processing.ingress_dossiers (
    dossier_code text PRIMARY KEY,
    agency_code  text NOT NULL,
    emitter      text NOT NULL,
    first_seen   timestamptz NOT NULL DEFAULT now()
);
