-- An identity has at most one owner: at most one verified claim per identity.
CREATE UNIQUE INDEX IF NOT EXISTS claims_one_owner_idx ON claims (identity_key) WHERE status = 'verified';
