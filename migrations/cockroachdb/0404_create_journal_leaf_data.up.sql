-- CockroachDB variant of migrations/0404: leaf data is written by journal position, in increasing
-- order; hash-sharded like journal_leaves (docs/design.md §3).
CREATE TABLE IF NOT EXISTS journal_leaf_data (
    idx       INT8  NOT NULL CHECK (idx >= 0),
    leaf_data BYTEA NOT NULL,
    PRIMARY KEY (idx) USING HASH
);
