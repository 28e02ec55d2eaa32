-- CockroachDB variant of migrations/0400: journal positions are assigned in increasing order, so
-- a plain primary key on idx sends every block to the range holding the newest positions. The
-- hash-sharded primary key spreads a block's leaves over buckets (docs/design.md §3); lookups
-- by position stay point reads, and the export's scans by position range read every bucket.
CREATE TABLE IF NOT EXISTS journal_leaves (
    idx            INT8  NOT NULL CHECK (idx >= 0),
    transaction_id UUID  NOT NULL UNIQUE,
    leaf_hash      BYTEA NOT NULL CHECK (length(leaf_hash) = 32),
    PRIMARY KEY (idx) USING HASH
);
