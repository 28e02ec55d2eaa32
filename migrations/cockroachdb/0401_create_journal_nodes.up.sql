-- CockroachDB variant of migrations/0401: within each level the nodes are written in increasing
-- idx, one range per level taking every block's nodes; hash-sharded like the leaves
-- (docs/design.md §3). Nodes are read by point lookups only.
CREATE TABLE IF NOT EXISTS journal_nodes (
    level INT8  NOT NULL CHECK (level BETWEEN 1 AND 63),
    idx   INT8  NOT NULL CHECK (idx >= 0),
    hash  BYTEA NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx) USING HASH
);
