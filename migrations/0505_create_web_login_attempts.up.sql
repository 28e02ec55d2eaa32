-- Web login attempts per client address and minute (services/web), shared by every serve process
-- on the database so that the login rate limit holds across replicas. address_hash is the
-- SHA-256 of the client address (no address is stored). A row counts the attempts of one address
-- in the minute starting at window_start; rows of past minutes are deleted as new minutes start,
-- so the table holds at most the addresses of the last two minutes. The key leads with the
-- window so that the purge is a range scan of the primary key (hash-sharded on CockroachDB:
-- migrations/cockroachdb/0505).
CREATE TABLE IF NOT EXISTS web_login_attempts (
    window_start TIMESTAMPTZ NOT NULL,
    address_hash BYTEA       NOT NULL,
    attempts     INT8        NOT NULL,
    PRIMARY KEY (window_start, address_hash)
);
