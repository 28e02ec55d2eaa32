CREATE INDEX IF NOT EXISTS api_keys_principal_idx ON api_keys (principal_id);
