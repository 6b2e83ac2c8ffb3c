-- The ingress outbox (issue #11, docs/ingress.md "Durability"): an event accepted over HTTP is
-- kept here, in the same transaction as its id, before the answer 202. A relay publishes the rows
-- on the topic; the consumer deletes a row once it has stored the event (or dead-lettered it):
-- processing.events is the end-to-end proof. A row published long ago and still here was lost on
-- the way (a memory broker's restart): the relay publishes it again; the consumer dedupes ids.
-- (0008: 0007 is taken by a migration on another branch.)
CREATE TABLE processing.ingress_outbox (
    id           bigserial PRIMARY KEY,              -- publishing order
    event_id     text NOT NULL UNIQUE,
    dossier_code text NOT NULL,                      -- the message key
    body         bytea NOT NULL,                     -- the exact bytes validated and published
    accepted_at  timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,                        -- NULL: not (or no longer) on the topic
    publishes    integer NOT NULL DEFAULT 0          -- how often it was published
);
CREATE INDEX ingress_outbox_unpublished ON processing.ingress_outbox (id) WHERE published_at IS NULL;
CREATE INDEX ingress_outbox_published ON processing.ingress_outbox (published_at) WHERE published_at IS NOT NULL;
