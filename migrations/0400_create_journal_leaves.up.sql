-- The verifiable journal's leaves (ledger/journal, docs/journal-format.md): the position idx
-- (from 0) of every sealed ledger transaction and its leaf hash, written once by the sealer and
-- never updated. The primary key makes two sealers that race for the same positions conflict
-- (the loser retries with the new state), and the unique transaction id makes sealing a
-- transaction twice impossible; it also serves the sealer's anti-join "not sealed yet".
CREATE TABLE IF NOT EXISTS journal_leaves (
    idx            INT8  NOT NULL PRIMARY KEY CHECK (idx >= 0),
    transaction_id UUID  NOT NULL UNIQUE,
    leaf_hash      BYTEA NOT NULL CHECK (length(leaf_hash) = 32)
);
