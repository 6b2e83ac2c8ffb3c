-- HTTP ingress (docs/ingress.md): emitter keys, ingested event ids, portal status-sync state.

-- API keys of the emitting systems. Only the SHA-256 of a key is kept (the key is shown once
-- at creation); why no slow KDF: docs/decisions.md, "Emitter keys".
CREATE TABLE processing.emitter_keys (
    key_hash   text PRIMARY KEY,
    name       text NOT NULL,
    agencies   text[] NOT NULL,  -- agency codes the emitter may report for; '*' = every agency
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE UNIQUE INDEX emitter_keys_active_name ON processing.emitter_keys (name) WHERE revoked_at IS NULL;

-- Event ids accepted over HTTP, recorded after the broker acknowledged them: a crash in
-- between can only cause a re-publish, which the consumer dedupes on processing.events.
CREATE TABLE processing.ingested_events (
    event_id    text PRIMARY KEY,
    emitter     text NOT NULL,
    ingested_at timestamptz NOT NULL DEFAULT now()
);

-- What the status-sync adapter needs to remember per dossier: the last portal status and the
-- open request (supplement or fee) a later status 4/9/10 closes.
CREATE TABLE processing.portal_dossiers (
    dossier_code  text PRIMARY KEY,
    last_status   smallint NOT NULL CHECK (last_status BETWEEN 1 AND 10),
    pending       text CHECK (pending IN ('supplement', 'fee')),
    pending_since timestamptz,
    fee_amount    numeric(20, 2),
    fee_online    boolean NOT NULL DEFAULT false,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
