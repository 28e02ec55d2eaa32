-- Web app sessions (services/web): a contributor, provider, auditor or admin logs in with an API
-- key and gets a session cookie holding 32 random bytes; only their SHA-256 is stored, as for
-- API keys. A session ends at expires_at, after an idle time the web app sets (last_seen_at),
-- or when revoked (logout, or the principal's other sessions revoked). auth_at is when the key
-- was last entered, so that sensitive changes can ask for it again.
CREATE TABLE IF NOT EXISTS web_sessions (
    id_hash      BYTEA       NOT NULL PRIMARY KEY,
    principal_id UUID        NOT NULL REFERENCES principals (id),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    auth_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ
);
