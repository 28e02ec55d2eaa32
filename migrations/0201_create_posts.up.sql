-- Crawled posts: the system of record; the Bleve index is derived from it. Keyed by the stable
-- post id (`stackexchange:bicycles.meta/post/42`), so ingesting the same id again is an update.
-- author_key is NULL for deleted authors: such posts earn for nobody. text is the author's own
-- words as plain text (evidence offsets point into it); quoted holds the quotations as a JSON
-- array of strings. digest is a SHA-256 over every stored field (indexer.Post.Digest), to tell
-- an unchanged re-ingest from an update without comparing the text.
CREATE TABLE IF NOT EXISTS posts (
    id           TEXT        NOT NULL PRIMARY KEY,
    platform     TEXT        NOT NULL,
    site         TEXT        NOT NULL,
    kind         TEXT        NOT NULL,
    author_key   TEXT        REFERENCES identities (key),
    created_at   TIMESTAMPTZ NOT NULL,
    url          TEXT        NOT NULL,
    title        TEXT        NOT NULL,
    license      TEXT        NOT NULL,
    parent_id    TEXT        NOT NULL,
    text         TEXT        NOT NULL,
    quoted       JSONB       NOT NULL,
    content_hash TEXT        NOT NULL,
    digest       BYTEA       NOT NULL,
    ingested_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
