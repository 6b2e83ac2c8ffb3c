-- Wrong passwords are counted per user name *and client address*, not per user (docs/decisions.md,
-- "Login lock-out per address"): a lock applies to the address the wrong passwords came from, so
-- whoever knows a user name can no longer keep that user out from everywhere. Names that are not
-- users are counted too (a lock must not tell which names exist). Rows are forgotten once
-- TTHC_LOGIN_LOCK_MINUTES pass without a failure and no lock is running.
CREATE TABLE registry.login_failures (
    user_name    text NOT NULL,
    client       text NOT NULL,
    failed       integer NOT NULL CHECK (failed >= 0),
    locked_until timestamptz,
    last_at      timestamptz NOT NULL,
    PRIMARY KEY (user_name, client)
);
CREATE INDEX login_failures_by_last ON registry.login_failures (last_at);

-- Wrong passwords from one client address whatever the names, in a window of
-- TTHC_LOGIN_ADDRESS_WINDOW_MINUTES: the throttle that keeps guessing slow across many names.
CREATE TABLE registry.login_addresses (
    client        text PRIMARY KEY,
    window_start  timestamptz NOT NULL,
    failed        integer NOT NULL CHECK (failed >= 0),
    blocked_until timestamptz
);
CREATE INDEX login_addresses_by_window ON registry.login_addresses (window_start);

-- The per-user count and lock it replaces.
ALTER TABLE registry.users DROP COLUMN failed_logins, DROP COLUMN locked_until;
