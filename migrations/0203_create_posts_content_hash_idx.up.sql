-- Identical texts under different ids (reposts) share a content hash.
CREATE INDEX IF NOT EXISTS posts_content_hash_idx ON posts (content_hash);
