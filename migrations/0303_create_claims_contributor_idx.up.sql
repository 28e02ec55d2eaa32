CREATE INDEX IF NOT EXISTS claims_contributor_idx ON claims (contributor_id, created_at);
