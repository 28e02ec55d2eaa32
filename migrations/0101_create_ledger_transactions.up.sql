-- Ledger transactions: append-only. (principal_id, kind, request_id) is the idempotency key and
-- `reverses` makes a usage reversible at most once; both are enforced by unique indexes, not by
-- reading first. principal_id has no foreign key on purpose: on PostgreSQL a foreign key check
-- takes a KEY SHARE lock on the referenced row, which would make the provider's principal row a
-- hot row locked by every report. The ledger checks principals when it creates their accounts.
CREATE TABLE IF NOT EXISTS ledger_transactions (
    id           UUID        NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    kind         TEXT        NOT NULL CHECK (kind IN ('usage', 'reversal', 'escrow_release', 'payout')),
    principal_id UUID        NOT NULL,
    request_id   TEXT        NOT NULL,
    payload_hash BYTEA       NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    reverses     UUID        UNIQUE REFERENCES ledger_transactions (id),
    -- Kind-specific details (model, tokens, rates, attribution shares and evidence, reason, …),
    -- written once by the ledger. No amount in it is summed by SQL.
    metadata     JSONB       NOT NULL,
    CONSTRAINT ledger_transactions_idempotency_key UNIQUE (principal_id, kind, request_id)
);
