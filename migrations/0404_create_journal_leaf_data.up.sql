-- The leaf data (the canonical encoding of docs/journal-format.md §2) of every sealed
-- transaction, by journal position: written by the sealer in the transaction that writes the
-- leaf, never updated. The export reads the sealed part of the journal from it in position
-- order, one row per transaction, instead of looking up the transaction, its postings and their
-- accounts for every position. A table of its own rather than a column of journal_leaves, which
-- it would make several times wider for the scans that need only positions and ids (the
-- sealer's and the export's anti-joins). The ledger tables stay the system of record: Verify
-- rebuilds every leaf from them and checks that the stored leaf data hashes to the same leaf
-- hash. Leaves sealed before this table existed have no row; the export reads those from the
-- ledger tables. No foreign key to journal_leaves: the sealer writes both in one transaction,
-- and Verify checks them against each other.
CREATE TABLE IF NOT EXISTS journal_leaf_data (
    idx       INT8  NOT NULL PRIMARY KEY CHECK (idx >= 0),
    leaf_data BYTEA NOT NULL
);
