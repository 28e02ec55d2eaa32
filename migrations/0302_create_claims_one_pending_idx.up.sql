-- A contributor has at most one pending claim per identity, so that StartClaim retried in a race opens one claim.
CREATE UNIQUE INDEX IF NOT EXISTS claims_one_pending_idx ON claims (contributor_id, identity_key) WHERE status = 'pending';
