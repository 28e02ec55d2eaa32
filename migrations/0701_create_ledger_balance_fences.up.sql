-- Balance fences (docs/design.md §8): written by the sealer with each block's balance
-- checkpoints. fence is a time such that every ledger transaction with postings created before
-- it is sealed within the first journal_size positions, so the postings a balance checkpoint
-- does not cover are found by created_at >= fence. Every ledger write reads the newest fence in
-- its SERIALIZABLE transaction and stamps a later created_at, and the sealer checks the range
-- below the new fence in its own, so a write that would commit late below a fence conflicts with
-- the sealer instead of being missed. One row per block; right after the block, a transaction of
-- its own may move its fence forward once (docs/design.md §8).
CREATE TABLE IF NOT EXISTS ledger_balance_fences (
    journal_size INT8        NOT NULL PRIMARY KEY CHECK (journal_size > 0),
    fence        TIMESTAMPTZ NOT NULL
);
