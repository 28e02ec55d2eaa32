-- Posts of an identity: statements, claims ("posts of X whose text contains the challenge").
CREATE INDEX IF NOT EXISTS posts_author_idx ON posts (author_key);
