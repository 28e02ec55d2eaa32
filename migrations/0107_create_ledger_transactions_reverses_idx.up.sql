-- A usage is reversed at most once. Partial, so that the other transactions (nearly all of them)
-- add no entry to it.
CREATE UNIQUE INDEX IF NOT EXISTS ledger_transactions_reverses_idx ON ledger_transactions (reverses) WHERE reverses IS NOT NULL;
