CREATE INDEX IF NOT EXISTS web_sessions_principal_idx ON web_sessions (principal_id);
