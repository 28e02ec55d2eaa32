// Package postgres stores posts and identities in PostgreSQL or CockroachDB (tables posts and
// identities, migrations 0200–0299) and implements indexer.Store.
//
// Every write runs in one SERIALIZABLE transaction retried whole on conflicts (pgdb.Tx), and
// is an idempotent upsert by post id and identity key, so that replaying a batch after a crash
// changes nothing.
package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/internal/pgdb"
)

// Store is the posts and identities tables, and, when WithFingerprints is set, the
// attribution_fingerprints table (FingerprintIndex). It is safe for concurrent use.
type Store struct {
	pool         *pgxpool.Pool
	fingerprints bool
}

var (
	_ indexer.Store       = (*Store)(nil)
	_ indexer.PostCounter = (*Store)(nil)
)

// New returns a Store on pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// WithFingerprints returns a Store that also writes the fingerprints of every new or changed
// post to the attribution_fingerprints table, in the transaction that writes the post, for a
// FingerprintIndex to read (royalty --index=sql).
func (s *Store) WithFingerprints() *Store { return &Store{pool: s.pool, fingerprints: true} }

// serializable runs fn in a SERIALIZABLE transaction retried whole on serialization failures
// and deadlocks (pgdb.Tx); a failed COMMIT is never acknowledged. fn must have no effects
// outside the transaction and wrap errors with %w.
func (s *Store) serializable(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return pgdb.Serializable(ctx, s.pool, fn)
}

// upsertIdentities keeps known display names and profile URLs when the new ones are empty, and
// writes nothing when nothing changes. One statement for the whole batch: unnest turns the
// column arrays into rows (PostgreSQL and CockroachDB alike).
const upsertIdentities = `
INSERT INTO identities (key, platform, site, author_id, display_name, profile_url)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
ON CONFLICT (key) DO UPDATE SET
    display_name = CASE WHEN excluded.display_name <> '' THEN excluded.display_name ELSE identities.display_name END,
    profile_url  = CASE WHEN excluded.profile_url <> '' THEN excluded.profile_url ELSE identities.profile_url END,
    updated_at   = now()
WHERE (excluded.display_name <> '' AND excluded.display_name <> identities.display_name)
   OR (excluded.profile_url <> '' AND excluded.profile_url <> identities.profile_url)`

const upsertPosts = `
INSERT INTO posts (id, platform, site, kind, author_key, created_at, url, title, license, parent_id,
                   text, quoted, content_hash, digest, last_editor_key)
SELECT id, platform, site, kind, author_key, created_at, url, title, license, parent_id,
       text, quoted::jsonb, content_hash, digest, last_editor_key
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[],
            $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::bytea[],
            $15::text[])
     AS t(id, platform, site, kind, author_key, created_at, url, title, license, parent_id,
          text, quoted, content_hash, digest, last_editor_key)
ON CONFLICT (id) DO UPDATE SET
    platform = excluded.platform, site = excluded.site, kind = excluded.kind,
    author_key = excluded.author_key, last_editor_key = excluded.last_editor_key,
    created_at = excluded.created_at, url = excluded.url,
    title = excluded.title, license = excluded.license, parent_id = excluded.parent_id,
    text = excluded.text, quoted = excluded.quoted, content_hash = excluded.content_hash,
    digest = excluded.digest, updated_at = now()`

// Write implements indexer.Store. Posts must have been prepared (indexer.Prepare). When an id
// or a key occurs twice, the later one wins, as it would in two calls.
func (s *Store) Write(ctx context.Context, identities []indexer.Identity, posts []*indexer.Post) (indexer.WriteCounts, error) {
	identities = lastIdentities(identities)
	posts = lastPosts(posts)
	idents := make([][]string, 6)
	for _, id := range identities {
		for i, v := range []string{id.Key(), id.Platform, id.Site, id.AuthorID, id.DisplayName, id.ProfileURL} {
			idents[i] = append(idents[i], v)
		}
	}
	digests := make([][]byte, len(posts))
	ids := make([]string, len(posts))
	quoted := make([]string, len(posts))
	for i, p := range posts {
		digests[i], ids[i] = p.Digest(), p.ID
		q := p.Quoted
		if q == nil {
			q = []string{}
		}
		b, err := json.Marshal(q)
		if err != nil {
			return indexer.WriteCounts{}, err
		}
		quoted[i] = string(b)
	}
	var counts indexer.WriteCounts
	err := s.serializable(ctx, func(ctx context.Context, tx pgx.Tx) error {
		counts = indexer.WriteCounts{}
		if len(identities) > 0 {
			if _, err := tx.Exec(ctx, upsertIdentities, idents[0], idents[1], idents[2], idents[3], idents[4], idents[5]); err != nil {
				return fmt.Errorf("writing identities: %w", err)
			}
		}
		if len(posts) == 0 {
			return nil
		}
		known := make(map[string][]byte, len(posts))
		rows, err := tx.Query(ctx, `SELECT id, digest FROM posts WHERE id = ANY($1)`, ids)
		if err != nil {
			return fmt.Errorf("reading digests: %w", err)
		}
		for rows.Next() {
			var id string
			var d []byte
			if err := rows.Scan(&id, &d); err != nil {
				rows.Close()
				return fmt.Errorf("reading digests: %w", err)
			}
			known[id] = d
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("reading digests: %w", err)
		}
		var cols postColumns
		var updated []string
		for i, p := range posts {
			old, ok := known[p.ID]
			switch {
			case !ok:
				counts.Inserted++
			case bytes.Equal(old, digests[i]):
				counts.Unchanged++
				continue
			default:
				counts.Updated++
				updated = append(updated, p.ID)
			}
			cols.add(p, quoted[i], digests[i])
		}
		if len(cols.id) == 0 {
			return nil
		}
		if s.fingerprints {
			// Before the posts change: the old fingerprints are those of the stored text.
			if err := deleteFingerprints(ctx, tx, updated); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, upsertPosts, cols.id, cols.platform, cols.site, cols.kind, cols.author, cols.created,
			cols.url, cols.title, cols.license, cols.parent, cols.text, cols.quoted, cols.hash, cols.digest, cols.editor); err != nil {
			return fmt.Errorf("writing posts: %w", err)
		}
		if s.fingerprints {
			return insertFingerprints(ctx, tx, cols.id, cols.author, cols.text)
		}
		return nil
	})
	if err != nil {
		return indexer.WriteCounts{}, err
	}
	return counts, nil
}

// postColumns holds posts column by column, for unnest.
type postColumns struct {
	id, platform, site, kind                  []string
	author, editor                            []*string
	created                                   []time.Time
	url, title, license, parent, text, quoted []string
	hash                                      []string
	digest                                    [][]byte
}

func (c *postColumns) add(p *indexer.Post, quoted string, digest []byte) {
	var author *string
	if p.Author != nil {
		k := p.Author.Key()
		author = &k
	}
	c.id = append(c.id, p.ID)
	c.platform = append(c.platform, p.Platform)
	c.site = append(c.site, p.Site)
	c.kind = append(c.kind, string(p.Kind))
	c.author = append(c.author, author)
	var editor *string
	if p.LastEditorKey != "" {
		editor = &p.LastEditorKey
	}
	c.editor = append(c.editor, editor)
	c.created = append(c.created, p.CreatedAt.UTC())
	c.url = append(c.url, p.URL)
	c.title = append(c.title, p.Title)
	c.license = append(c.license, p.License)
	c.parent = append(c.parent, p.ParentID)
	c.text = append(c.text, p.Text)
	c.quoted = append(c.quoted, quoted)
	c.hash = append(c.hash, p.ContentHash)
	c.digest = append(c.digest, digest)
}

// lastPosts keeps the last post of every id, in order: one INSERT … ON CONFLICT statement may not
// touch a row twice.
func lastPosts(posts []*indexer.Post) []*indexer.Post {
	last := make(map[string]int, len(posts))
	for i, p := range posts {
		last[p.ID] = i
	}
	if len(last) == len(posts) {
		return posts
	}
	out := make([]*indexer.Post, 0, len(last))
	for i, p := range posts {
		if last[p.ID] == i {
			out = append(out, p)
		}
	}
	return out
}

// lastIdentities merges identities with the same key: later non-empty fields win.
func lastIdentities(ids []indexer.Identity) []indexer.Identity {
	at := make(map[string]int, len(ids))
	out := make([]indexer.Identity, 0, len(ids))
	for _, id := range ids {
		i, ok := at[id.Key()]
		if !ok {
			at[id.Key()] = len(out)
			out = append(out, id)
			continue
		}
		if id.DisplayName != "" {
			out[i].DisplayName = id.DisplayName
		}
		if id.ProfileURL != "" {
			out[i].ProfileURL = id.ProfileURL
		}
	}
	return out
}

const selectPost = `
SELECT p.id, p.platform, p.site, p.kind, p.created_at, p.url, p.title, p.license, p.parent_id,
       p.text, p.quoted, p.content_hash, COALESCE(p.last_editor_key, ''),
       i.key, i.platform, i.site, i.author_id, i.display_name, i.profile_url
FROM posts p LEFT JOIN identities i ON i.key = p.author_key`

func scanPost(row pgx.Row) (*indexer.Post, error) {
	p := &indexer.Post{Format: indexer.FormatText}
	var kind string
	var quoted []byte
	var key, platform, site, authorID, name, profile *string
	err := row.Scan(&p.ID, &p.Platform, &p.Site, &kind, &p.CreatedAt, &p.URL, &p.Title, &p.License, &p.ParentID,
		&p.Text, &quoted, &p.ContentHash, &p.LastEditorKey, &key, &platform, &site, &authorID, &name, &profile)
	if err != nil {
		return nil, err
	}
	p.Kind = indexer.Kind(kind)
	p.CreatedAt = p.CreatedAt.UTC()
	if err := json.Unmarshal(quoted, &p.Quoted); err != nil {
		return nil, fmt.Errorf("post %s: quoted: %w", p.ID, err)
	}
	if len(p.Quoted) == 0 {
		p.Quoted = nil
	}
	if key != nil {
		p.Author = &indexer.Identity{Platform: *platform, Site: *site, AuthorID: *authorID, DisplayName: *name, ProfileURL: *profile}
	}
	return p, nil
}

// Post implements indexer.Store.
func (s *Store) Post(ctx context.Context, id string) (*indexer.Post, error) {
	p, err := scanPost(s.pool.QueryRow(ctx, selectPost+` WHERE p.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, royalty.Errorf(royalty.ENOTFOUND, "no post %q", id)
	}
	if err != nil {
		return nil, fmt.Errorf("reading post %s: %w", id, err)
	}
	return p, nil
}

// Identities implements indexer.Store.
func (s *Store) Identities(ctx context.Context, keys []string) (map[string]indexer.Identity, error) {
	out := make(map[string]indexer.Identity, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT platform, site, author_id, display_name, profile_url FROM identities WHERE key = ANY($1)`, keys)
	if err != nil {
		return nil, fmt.Errorf("reading identities: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id indexer.Identity
		if err := rows.Scan(&id.Platform, &id.Site, &id.AuthorID, &id.DisplayName, &id.ProfileURL); err != nil {
			return nil, fmt.Errorf("reading identities: %w", err)
		}
		out[id.Key()] = id
	}
	return out, rows.Err()
}

// Identity returns one identity; ENOTFOUND if it is unknown.
func (s *Store) Identity(ctx context.Context, key string) (indexer.Identity, error) {
	m, err := s.Identities(ctx, []string{key})
	if err != nil {
		return indexer.Identity{}, err
	}
	id, ok := m[key]
	if !ok {
		return indexer.Identity{}, royalty.Errorf(royalty.ENOTFOUND, "no identity %q", key)
	}
	return id, nil
}

// PostsByAuthorContaining returns up to limit posts of the identity authorKey whose own text or
// title contains sub, ignoring case, oldest first: how a claim is verified, by finding a
// challenge token the claimant put in a post (quotations do not count). A post proves a claim
// only when its identity wrote the stored version itself: callers check LastEditorKey
// (claims.PostProof). sub must not be empty.
func (s *Store) PostsByAuthorContaining(ctx context.Context, authorKey, sub string, limit int) ([]*indexer.Post, error) {
	if sub == "" {
		return nil, royalty.FieldErrorf(royalty.EINVALID, "text", "must not be empty")
	}
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.pool.Query(ctx, selectPost+`
WHERE p.author_key = $1 AND (strpos(lower(p.text), lower($2)) > 0 OR strpos(lower(p.title), lower($2)) > 0)
ORDER BY p.created_at, p.id LIMIT $3`, authorKey, sub, limit)
	if err != nil {
		return nil, fmt.Errorf("searching posts of %s: %w", authorKey, err)
	}
	defer rows.Close()
	var out []*indexer.Post
	for rows.Next() {
		p, err := scanPost(rows)
		if err != nil {
			return nil, fmt.Errorf("searching posts of %s: %w", authorKey, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// ForEachID calls fn with every post id in id order, reading pages of pageSize ids (1000 when
// 0), so memory stays constant.
func (s *Store) ForEachID(ctx context.Context, pageSize int, fn func(ids []string) error) error {
	if pageSize <= 0 {
		pageSize = 1000
	}
	after := ""
	for {
		rows, err := s.pool.Query(ctx, `SELECT id FROM posts WHERE id > $1 ORDER BY id LIMIT $2`, after, pageSize)
		if err != nil {
			return fmt.Errorf("listing post ids: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("listing post ids: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		if err := fn(ids); err != nil {
			return err
		}
		after = ids[len(ids)-1]
	}
}

// Missing returns the ids among ids that have no post.
func (s *Store) Missing(ctx context.Context, ids []string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM posts WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("checking post ids: %w", err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("checking post ids: %w", err)
	}
	have := make(map[string]bool, len(found))
	for _, id := range found {
		have[id] = true
	}
	var out []string
	for _, id := range ids {
		if !have[id] {
			out = append(out, id)
		}
	}
	return out, nil
}

// Posts reads the posts with the given ids (for re-indexing); unknown ids are left out.
func (s *Store) Posts(ctx context.Context, ids []string) ([]*indexer.Post, error) {
	rows, err := s.pool.Query(ctx, selectPost+` WHERE p.id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("reading posts: %w", err)
	}
	defer rows.Close()
	var out []*indexer.Post
	for rows.Next() {
		p, err := scanPost(rows)
		if err != nil {
			return nil, fmt.Errorf("reading posts: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Count returns the number of posts and identities.
func (s *Store) Count(ctx context.Context) (posts, identities int64, err error) {
	err = s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM posts), (SELECT count(*) FROM identities)`).Scan(&posts, &identities)
	if err != nil {
		return 0, 0, fmt.Errorf("counting posts: %w", err)
	}
	return posts, identities, nil
}

// CountPosts returns the number of posts (indexer.PostCounter): what the index is compared
// with to tell whether it is ready.
func (s *Store) CountPosts(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM posts`).Scan(&n); err != nil {
		return 0, pgdb.Classify(fmt.Errorf("counting posts: %w", err))
	}
	return n, nil
}

// Changes implements indexer.FollowStore: up to limit posts whose (updated_at, id) comes after
// (afterAt, afterID), in that order, read through posts_updated_at_idx.
func (s *Store) Changes(ctx context.Context, afterAt time.Time, afterID string, limit int) ([]indexer.Change, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, updated_at, digest FROM posts
WHERE (updated_at, id) > ($1, $2) ORDER BY updated_at, id LIMIT $3`, afterAt.UTC(), afterID, limit)
	if err != nil {
		return nil, pgdb.Classify(fmt.Errorf("reading changed posts: %w", err))
	}
	defer rows.Close()
	var out []indexer.Change
	for rows.Next() {
		var c indexer.Change
		if err := rows.Scan(&c.ID, &c.UpdatedAt, &c.Digest); err != nil {
			return nil, pgdb.Classify(fmt.Errorf("reading changed posts: %w", err))
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, pgdb.Classify(fmt.Errorf("reading changed posts: %w", err))
	}
	return out, nil
}
