-- CockroachDB variant of migrations/0902: CockroachDB names the column check of 0101 check_kind.
-- (CockroachDB names an unnamed CHECK check_<column>: its SHOW CONSTRAINTS documentation shows
-- check_priority and check_status for CHECKs on the columns priority and status.)
ALTER TABLE ledger_transactions DROP CONSTRAINT check_kind;
