-- Feedback royalties (issue 21) add the account type feedback_pool. A CHECK cannot be altered in
-- place: it is dropped here and added back with the new type in 0901. PostgreSQL names the
-- column check of 0100 ledger_accounts_type_check; CockroachDB check_type (its variant).
ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_type_check;
-- No IF EXISTS: a wrong name must stop the migration, not leave the old check in place.
