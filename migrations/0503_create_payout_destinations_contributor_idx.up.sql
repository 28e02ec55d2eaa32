CREATE INDEX IF NOT EXISTS payout_destinations_contributor_idx ON payout_destinations (contributor_id, created_at);
