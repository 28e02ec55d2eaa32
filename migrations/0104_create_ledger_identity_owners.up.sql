-- Who owns an identity: at most one contributor, ever. Written by ReleaseEscrow in the same
-- transaction that moves the identity's escrow to the contributor, and read by every usage
-- report inside its own transaction, so a credit never lands in a released escrow.
CREATE TABLE IF NOT EXISTS ledger_identity_owners (
    identity_key   TEXT        NOT NULL PRIMARY KEY,
    contributor_id UUID        NOT NULL REFERENCES principals (id),
    verified_at    TIMESTAMPTZ NOT NULL
);
