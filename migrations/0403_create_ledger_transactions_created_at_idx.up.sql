-- Lets the sealer find the recent transactions not sealed yet without scanning the whole table
-- (and serves exports by time). On CockroachDB a time-ordered index concentrates inserts on one
-- range; a deployment with heavy write load there should create it hash-sharded (USING HASH).
CREATE INDEX IF NOT EXISTS ledger_transactions_created_at_idx ON ledger_transactions (created_at);
