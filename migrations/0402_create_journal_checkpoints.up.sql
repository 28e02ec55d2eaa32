-- Signed checkpoints: the journal's first `size` transactions hash to root_hash, signed with
-- Ed25519 at created_at (the text signed is in docs/journal-format.md). The sealer writes one per
-- block, in the transaction that writes the block's leaves, so every sealed transaction is
-- covered by a signature. prev_size is the checkpoint the block extends: unique, so two sealers
-- extending the same checkpoint cannot both commit and the journal cannot fork. One row per
-- block and none updated: no hot row.
CREATE TABLE IF NOT EXISTS journal_checkpoints (
    size       INT8        NOT NULL PRIMARY KEY CHECK (size > 0),
    prev_size  INT8        NOT NULL UNIQUE CHECK (prev_size >= 0 AND prev_size < size),
    root_hash  BYTEA       NOT NULL CHECK (length(root_hash) = 32),
    created_at TIMESTAMPTZ NOT NULL,
    key_id     TEXT        NOT NULL,
    signature  BYTEA       NOT NULL
);
