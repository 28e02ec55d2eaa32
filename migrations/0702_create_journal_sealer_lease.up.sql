-- Which replica seals the journal (docs/design.md §7): one row per lease name, taken by a
-- replica when it is absent or expired and renewed by its holder well before expires_at (one
-- update per renewal, not per transaction). Times are the database's clock. The sealer checks
-- the lease inside each block's transaction, so a holder that lost it cannot seal; the chain
-- itself cannot fork anyway (journal_checkpoints.prev_size is unique). No advisory locks:
-- CockroachDB has none.
CREATE TABLE IF NOT EXISTS journal_sealer_lease (
    name       TEXT        NOT NULL PRIMARY KEY,
    holder     TEXT        NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
