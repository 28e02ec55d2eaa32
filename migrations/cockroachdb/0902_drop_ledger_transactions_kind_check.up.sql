-- CockroachDB variant of migrations/0902: CockroachDB names the column check of 0101 check_kind.
ALTER TABLE ledger_transactions DROP CONSTRAINT check_kind;
