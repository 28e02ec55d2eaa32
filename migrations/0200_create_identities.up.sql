-- Author identities on crawled platforms, keyed by the identity key `platform:site/author_id`
-- (indexer package doc). A natural key, not a generated one: ingest upserts by it, the ledger's
-- escrow accounts and contributor claims name identities by it, and it is not sequential, so it
-- does not create a hot range on CockroachDB.
CREATE TABLE IF NOT EXISTS identities (
    key          TEXT        NOT NULL PRIMARY KEY,
    platform     TEXT        NOT NULL,
    site         TEXT        NOT NULL,
    author_id    TEXT        NOT NULL,
    display_name TEXT        NOT NULL DEFAULT '',
    profile_url  TEXT        NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
