-- Dashboard users (issue #14): a name and a password, kept as an argon2id hash (docs/decisions.md,
-- "Dashboard passwords"), with the role and the agency whose subtree an officer sees. Users are
-- not on the feed: the registry checks a password and answers with a short-lived api_token (which
-- is on the feed), so no service but the registry ever holds a password hash.
CREATE TABLE registry.users (
    name          text PRIMARY KEY,
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'officer', 'viewer')),
    agency_code   text,
    disabled      boolean NOT NULL DEFAULT false,
    failed_logins integer NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    locked_until  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'officer') = (agency_code IS NOT NULL))
);

-- The tokens a password login issued: logout revokes only these (never a user's own API token),
-- and a password change or a disabled user revokes them all.
CREATE TABLE registry.user_sessions (
    token_hash text PRIMARY KEY,
    user_name  text NOT NULL REFERENCES registry.users (name) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX user_sessions_by_user ON registry.user_sessions (user_name);
