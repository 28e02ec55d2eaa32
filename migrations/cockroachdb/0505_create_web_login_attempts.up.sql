-- CockroachDB variant of migrations/0505: a primary key led by the minute would send every login
-- attempt of the cluster to the range holding the current minute. Hash-sharding spreads them over
-- buckets (docs/design.md §3); the purge's range scan by time reads every bucket of a table that
-- holds two minutes of addresses at most.
CREATE TABLE IF NOT EXISTS web_login_attempts (
    window_start TIMESTAMPTZ NOT NULL,
    address_hash BYTEA       NOT NULL,
    attempts     INT8        NOT NULL,
    PRIMARY KEY (window_start, address_hash) USING HASH
);
