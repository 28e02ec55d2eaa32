-- CockroachDB variant of migrations/0900: CockroachDB names the column check of 0100 check_type.
-- (CockroachDB names an unnamed CHECK check_<column>: its SHOW CONSTRAINTS documentation shows
-- check_priority and check_status for CHECKs on the columns priority and status.)
ALTER TABLE ledger_accounts DROP CONSTRAINT check_type;
