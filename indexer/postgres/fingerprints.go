package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openroyalty/royalty/attribution"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/internal/pgdb"
)

// The fingerprints of posts live in the attribution_fingerprints table (migration 0800), one row
// per distinct fingerprint of a post's own words, keyed by (fingerprint, post_id). A Store made
// WithFingerprints writes them with the post; FingerprintIndex reads them. The table holds every
// post of a fingerprint, so that Candidates ranks exactly as the in-memory tables do; what is
// bounded is what a replica keeps: the LRU cache holds a bounded number of fingerprints.

const insertFingerprintsSQL = `
INSERT INTO attribution_fingerprints (fingerprint, post_id, author_key)
SELECT * FROM unnest($1::INT8[], $2::TEXT[], $3::TEXT[])
ON CONFLICT (fingerprint, post_id) DO UPDATE SET author_key = excluded.author_key`

// insertFingerprints writes the fingerprints of the posts given column by column (ids, their
// authors, their own words as plain text).
func insertFingerprints(ctx context.Context, tx pgx.Tx, ids []string, authors []*string, texts []string) error {
	var fps []int64
	var posts []string
	var auth []*string
	for i, id := range ids {
		for _, h := range indexer.Fingerprints(texts[i]) {
			fps = append(fps, int64(h))
			posts = append(posts, id)
			auth = append(auth, authors[i])
		}
	}
	if len(fps) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, insertFingerprintsSQL, fps, posts, auth); err != nil {
		return fmt.Errorf("writing fingerprints: %w", err)
	}
	return nil
}

// deleteFingerprints removes the fingerprints of the stored versions of the posts ids: those of
// the text the posts table holds for them now.
func deleteFingerprints(ctx context.Context, tx pgx.Tx, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT id, text FROM posts WHERE id = ANY($1)`, ids)
	if err != nil {
		return fmt.Errorf("reading changed posts: %w", err)
	}
	var fps []int64
	var posts []string
	for rows.Next() {
		var id, txt string
		if err := rows.Scan(&id, &txt); err != nil {
			rows.Close()
			return fmt.Errorf("reading changed posts: %w", err)
		}
		for _, h := range indexer.Fingerprints(txt) {
			fps = append(fps, int64(h))
			posts = append(posts, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading changed posts: %w", err)
	}
	if len(fps) == 0 {
		return nil
	}
	_, err = tx.Exec(ctx, `DELETE FROM attribution_fingerprints
WHERE (fingerprint, post_id) IN (SELECT * FROM unnest($1::INT8[], $2::TEXT[]))`, fps, posts)
	if err != nil {
		return fmt.Errorf("deleting old fingerprints: %w", err)
	}
	return nil
}

// BackfillFingerprints writes the fingerprints of every stored post, pageSize posts (500 when 0)
// per transaction, and returns how many posts it read: how a deployment that ran with the
// in-memory index moves to --index=sql. Each page is read and written in one serializable
// transaction, so that an ingest changing a post at the same time cannot leave the fingerprints
// of its old text behind. Running it again changes nothing.
func (s *Store) BackfillFingerprints(ctx context.Context, pageSize int) (int, error) {
	if pageSize <= 0 {
		pageSize = 500
	}
	after, n := "", 0
	for {
		var ids []string
		err := s.serializable(ctx, func(ctx context.Context, tx pgx.Tx) error {
			ids = ids[:0]
			rows, err := tx.Query(ctx, `SELECT id, author_key, text FROM posts WHERE id > $1 ORDER BY id LIMIT $2`, after, pageSize)
			if err != nil {
				return fmt.Errorf("reading posts: %w", err)
			}
			var authors []*string
			var texts []string
			for rows.Next() {
				var id, txt string
				var author *string
				if err := rows.Scan(&id, &author, &txt); err != nil {
					rows.Close()
					return fmt.Errorf("reading posts: %w", err)
				}
				ids, authors, texts = append(ids, id), append(authors, author), append(texts, txt)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("reading posts: %w", err)
			}
			return insertFingerprints(ctx, tx, ids, authors, texts)
		})
		if err != nil {
			return n, err
		}
		if len(ids) == 0 {
			return n, nil
		}
		n += len(ids)
		after = ids[len(ids)-1]
	}
}

// Defaults of FingerprintOptions.
const (
	DefaultFingerprintCacheSize = 200_000
	DefaultFingerprintCacheTTL  = 5 * time.Second
)

// FingerprintOptions configure a FingerprintIndex.
type FingerprintOptions struct {
	// FollowerReads reads AS OF SYSTEM TIME follower_read_timestamp(), a few seconds in the
	// past, which any replica of a range may serve without asking its leaseholder. CockroachDB
	// only: PostgreSQL has no such clause, and there the index reads the latest data.
	FollowerReads bool
	// CacheSize is how many fingerprints' lists of posts a replica keeps (an LRU):
	// DefaultFingerprintCacheSize when 0, none when negative.
	CacheSize int
	// CacheTTL is how long a cached list is used: a post ingested since is found after at most
	// this long, as after a follower read's staleness. DefaultFingerprintCacheTTL when 0.
	CacheTTL time.Duration
}

// FingerprintIndex is an attribution.Index over the attribution_fingerprints and posts tables:
// every replica on the same database sees the same index, and the engine splits and spreads it.
// Looking up fingerprints is one batched query for those not in the replica's cache; the
// sources of the candidates are one more. It is safe for concurrent use.
type FingerprintIndex struct {
	pool  *pgxpool.Pool
	asOf  string // the AS OF SYSTEM TIME clause, or ""
	cache *lru.Cache[uint64, cachedPostings]
	ttl   time.Duration
	now   func() time.Time
}

// cachedPostings is a fingerprint's posts as read at a time; a read older than the TTL is not
// used (a plain LRU with the expiry checked on read: golang-lru's expirable LRU starts a
// goroutine per cache that nothing stops).
type cachedPostings struct {
	posts []posting
	read  time.Time
}

var (
	_ attribution.Index             = (*FingerprintIndex)(nil)
	_ attribution.FingerprintParams = (*FingerprintIndex)(nil)
)

// posting is a post holding a fingerprint, with its author ("" when deleted).
type posting struct {
	post, author string
}

// NewFingerprintIndex returns the index on pool.
func NewFingerprintIndex(pool *pgxpool.Pool, opts FingerprintOptions) *FingerprintIndex {
	x := &FingerprintIndex{pool: pool, now: time.Now}
	if opts.FollowerReads {
		x.asOf = " AS OF SYSTEM TIME follower_read_timestamp()"
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = DefaultFingerprintCacheSize
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = DefaultFingerprintCacheTTL
	}
	if opts.CacheSize > 0 {
		cache, err := lru.New[uint64, cachedPostings](opts.CacheSize)
		if err != nil {
			panic(err) // only for a size below 1
		}
		x.cache, x.ttl = cache, opts.CacheTTL
	}
	return x
}

// FingerprintParams implements attribution.FingerprintParams: the table holds the fingerprints
// indexer.Fingerprints computes.
func (x *FingerprintIndex) FingerprintParams() (k, w int) {
	return indexer.FingerprintK, indexer.FingerprintW
}

// postings returns the posts holding each of the distinct fingerprints fps.
func (x *FingerprintIndex) postings(ctx context.Context, fps []uint64) (map[uint64][]posting, error) {
	out := make(map[uint64][]posting, len(fps))
	var miss []int64
	now := x.now()
	for _, h := range fps {
		if x.cache != nil {
			if c, ok := x.cache.Get(h); ok && now.Sub(c.read) < x.ttl {
				out[h] = c.posts
				continue
			}
		}
		miss = append(miss, int64(h))
	}
	if len(miss) == 0 {
		return out, nil
	}
	rows, err := x.pool.Query(ctx, `SELECT fingerprint, post_id, COALESCE(author_key, '') FROM attribution_fingerprints`+
		x.asOf+` WHERE fingerprint = ANY($1)`, miss)
	if err != nil {
		return nil, pgdb.Classify(fmt.Errorf("reading fingerprints: %w", err))
	}
	defer rows.Close()
	for rows.Next() {
		var h int64
		var p posting
		if err := rows.Scan(&h, &p.post, &p.author); err != nil {
			return nil, pgdb.Classify(fmt.Errorf("reading fingerprints: %w", err))
		}
		out[uint64(h)] = append(out[uint64(h)], p)
	}
	if err := rows.Err(); err != nil {
		return nil, pgdb.Classify(fmt.Errorf("reading fingerprints: %w", err))
	}
	if x.cache != nil {
		for _, h := range miss {
			// An empty list too: most fingerprints of a response are in no post.
			x.cache.Add(uint64(h), cachedPostings{posts: out[uint64(h)], read: now})
		}
	}
	return out, nil
}

// Candidates implements attribution.Index: the posts sharing the most distinct fingerprints
// with fps, best first, ties broken by post id (byte order, as Go compares strings; the ranking
// is done here, not in SQL, whose string order depends on the collation).
func (x *FingerprintIndex) Candidates(ctx context.Context, fps []uint64, limit int) ([]attribution.Source, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 || len(fps) == 0 {
		return nil, nil
	}
	uniq := distinctHashes(fps)
	lists, err := x.postings(ctx, uniq)
	if err != nil {
		return nil, err
	}
	scores := map[string]int{}
	for _, h := range uniq {
		for _, p := range lists[h] {
			scores[p.post]++
		}
	}
	type hit struct {
		id    string
		score int
	}
	hits := make([]hit, 0, len(scores))
	for id, n := range scores {
		hits = append(hits, hit{id, n})
	}
	slices.SortFunc(hits, func(a, b hit) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	if len(hits) > limit {
		hits = hits[:limit]
	}
	if len(hits) == 0 {
		return nil, nil
	}
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.id
	}
	srcs, err := x.sources(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]attribution.Source, 0, len(ids))
	for _, id := range ids {
		s, ok := srcs[id]
		if !ok {
			return nil, fmt.Errorf("reading candidates: post %s has fingerprints but no row", id)
		}
		out = append(out, s)
	}
	return out, nil
}

// sources reads the posts ids as attribution sees them.
func (x *FingerprintIndex) sources(ctx context.Context, ids []string) (map[string]attribution.Source, error) {
	rows, err := x.pool.Query(ctx, `SELECT id, COALESCE(author_key, ''), created_at, url, content_hash, text FROM posts`+
		x.asOf+` WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, pgdb.Classify(fmt.Errorf("reading candidates: %w", err))
	}
	defer rows.Close()
	out := make(map[string]attribution.Source, len(ids))
	for rows.Next() {
		var s attribution.Source
		if err := rows.Scan(&s.PostID, &s.AuthorKey, &s.CreatedAt, &s.URL, &s.ContentHash, &s.Text); err != nil {
			return nil, pgdb.Classify(fmt.Errorf("reading candidates: %w", err))
		}
		s.CreatedAt = s.CreatedAt.UTC()
		out[s.PostID] = s
	}
	if err := rows.Err(); err != nil {
		return nil, pgdb.Classify(fmt.Errorf("reading candidates: %w", err))
	}
	return out, nil
}

// AuthorCounts implements attribution.Index: for each fingerprint, the number of distinct
// non-deleted authors of posts holding it, exact up to max and capped at max+1.
func (x *FingerprintIndex) AuthorCounts(ctx context.Context, fps []uint64, max int) ([]int, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]int, len(fps))
	if len(fps) == 0 {
		return out, nil
	}
	if max < 0 {
		max = 0
	}
	lists, err := x.postings(ctx, distinctHashes(fps))
	if err != nil {
		return nil, err
	}
	authors := map[string]struct{}{}
	for i, h := range fps {
		clear(authors)
		for _, p := range lists[h] {
			if p.author != "" {
				authors[p.author] = struct{}{}
				if len(authors) > max {
					break
				}
			}
		}
		out[i] = len(authors)
	}
	return out, nil
}

// distinctHashes returns the distinct values of fps in order of first appearance.
func distinctHashes(fps []uint64) []uint64 {
	seen := make(map[uint64]struct{}, len(fps))
	out := make([]uint64, 0, len(fps))
	for _, h := range fps {
		if _, dup := seen[h]; !dup {
			seen[h] = struct{}{}
			out = append(out, h)
		}
	}
	return out
}
