CREATE INDEX IF NOT EXISTS claims_identity_idx ON claims (identity_key, status);
