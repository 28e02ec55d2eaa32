CREATE TABLE IF NOT EXISTS api_keys (
    id           UUID        NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    principal_id UUID        NOT NULL REFERENCES principals (id),
    prefix       TEXT        NOT NULL,
    -- SHA-256 of the whole key; the key itself is shown once and never stored.
    key_hash     BYTEA       NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at   TIMESTAMPTZ
);
