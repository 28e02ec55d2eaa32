-- Posts in the order they last changed, for the replicas' search indexes that follow the posts
-- table (indexer.Follower): each reads the posts changed after its high-water mark, by keyset
-- (updated_at, id). migrations/cockroachdb/ has the hash-sharded variant.
CREATE INDEX IF NOT EXISTS posts_updated_at_idx ON posts (updated_at, id);
