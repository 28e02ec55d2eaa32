-- Ledger transactions: append-only. (principal_id, kind, request_id) is the idempotency key,
-- enforced by a unique index, not by reading first; a partial unique index on `reverses` (0107)
-- makes a usage reversible at most once. principal_id has no foreign key on purpose: on
-- PostgreSQL a foreign key check takes a KEY SHARE lock on the referenced row, which would make
-- the provider's principal row a hot row locked by every report. The ledger checks principals when it creates their accounts.
CREATE TABLE IF NOT EXISTS ledger_transactions (
    id           UUID        NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    kind         TEXT        NOT NULL CHECK (kind IN ('usage', 'reversal', 'escrow_release', 'payout')),
    principal_id UUID        NOT NULL,
    request_id   TEXT        NOT NULL,
    payload_hash BYTEA       NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    reverses     UUID        REFERENCES ledger_transactions (id),
    -- Kind-specific details (model, tokens, rates, the identity and share behind each credit,
    -- reason, …), written once by the ledger. No amount in it is summed by SQL.
    metadata     JSONB       NOT NULL,
    -- The attribution evidence of a usage (response spans and source posts per identity): a
    -- format byte (2) and the S2-compressed (klauspost/compress) JSON array of spans. Compressed in Go because
    -- the spans are the bulk of a report (3-4 kB for ten identities, a tenth of that compressed):
    -- stored as JSONB they cost PostgreSQL more than all the postings of the report together.
    evidence     BYTEA,
    CONSTRAINT ledger_transactions_idempotency_key UNIQUE (principal_id, kind, request_id)
);
