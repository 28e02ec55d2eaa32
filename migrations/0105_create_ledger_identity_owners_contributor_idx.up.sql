CREATE INDEX IF NOT EXISTS ledger_identity_owners_contributor_idx ON ledger_identity_owners (contributor_id);
