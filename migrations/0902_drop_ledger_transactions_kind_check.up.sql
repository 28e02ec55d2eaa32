-- Feedback royalties add the transaction kind feedback_settlement; the CHECK of 0101 is dropped
-- here and added back with it in 0903. CockroachDB names it check_kind (its variant).
ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_kind_check;
