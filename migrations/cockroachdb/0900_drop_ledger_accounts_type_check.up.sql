-- CockroachDB variant of migrations/0900: CockroachDB names the column check of 0100 check_type.
ALTER TABLE ledger_accounts DROP CONSTRAINT check_type;
