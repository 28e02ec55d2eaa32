CREATE TABLE IF NOT EXISTS claims (
    id                     UUID        NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    contributor_id         UUID        NOT NULL REFERENCES principals (id),
    identity_key           TEXT        NOT NULL,
    status                 TEXT        NOT NULL CHECK (status IN ('pending', 'verified', 'rejected')),
    challenge              TEXT        NOT NULL UNIQUE,
    created_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    decided_at             TIMESTAMPTZ,
    decided_by             TEXT        NOT NULL DEFAULT '',
    note                   TEXT        NOT NULL DEFAULT '',
    -- Escrow released on verification, [{"amount": "1.5", "currency": "USD"}]; NULL until recorded.
    released               JSONB,
    release_transaction_id TEXT        NOT NULL DEFAULT ''
);
