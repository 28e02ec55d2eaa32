-- CockroachDB variant of migrations/0403: a plain index led by a timestamp sends every insert to
-- the range holding the newest times, one hot range for the whole cluster. Hash-sharding spreads
-- the inserts over buckets (docs/design.md §3); range scans by time read every bucket, which the
-- sealer's and the exports' bounded scans afford.
CREATE INDEX IF NOT EXISTS ledger_transactions_created_at_idx ON ledger_transactions (created_at) USING HASH;
