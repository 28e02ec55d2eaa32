-- The attribution index in the database (indexer/postgres.FingerprintIndex): one row per
-- distinct winnowed fingerprint of a post's own words (indexer.Fingerprints), written by ingest
-- in the transaction that writes the post. Keyed by the fingerprint first, so that looking up a
-- response's fingerprints is one index scan per fingerprint and, on CockroachDB, the table
-- splits into ranges by fingerprint: the hashes are uniform, so inserts spread over every range
-- and no range is hot. author_key is the post's author (NULL when deleted), copied here so that
-- counting the authors of a fingerprint needs no join. The fingerprint is the 64-bit hash's
-- bits as a signed INT8.
CREATE TABLE IF NOT EXISTS attribution_fingerprints (
    fingerprint INT8 NOT NULL,
    post_id     TEXT NOT NULL,
    author_key  TEXT,
    PRIMARY KEY (fingerprint, post_id)
);
