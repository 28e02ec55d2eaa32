-- Interior nodes of the journal's Merkle tree: the hash of every perfect subtree of two or more
-- leaves (level >= 1), covering leaves [idx * 2^level, (idx + 1) * 2^level). Written by the
-- sealer with the leaves that complete them; they let an inclusion proof and the next block's
-- frontier be read in O(log n) rows instead of rehashing every leaf.
CREATE TABLE IF NOT EXISTS journal_nodes (
    level INT8  NOT NULL CHECK (level BETWEEN 1 AND 63),
    idx   INT8  NOT NULL CHECK (idx >= 0),
    hash  BYTEA NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
);
