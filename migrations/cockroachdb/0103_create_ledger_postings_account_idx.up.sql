-- CockroachDB variant of migrations/0103: within one account the index grows at its newest
-- created_at, and a provider's account receives a posting with every report, so on CockroachDB
-- one range would take every report's insert. Hash-sharding spreads them over buckets
-- (docs/design.md §3, §8); a balance's tail (account_id = $1 AND created_at >= fence) then reads
-- the same short time range in every bucket.
CREATE INDEX IF NOT EXISTS ledger_postings_account_idx ON ledger_postings (account_id, created_at) USING HASH;
