-- CockroachDB variant of migrations/0801: an index led by a timestamp sends every insert to the
-- range holding the newest times. Hash-sharding spreads them over buckets (docs/design.md §3);
-- the followers' range scans by time read every bucket.
CREATE INDEX IF NOT EXISTS posts_updated_at_idx ON posts (updated_at, id) USING HASH;
