// Package memindex is an in-memory attribution.Index for tests, the evaluation harness and small
// deployments. It models the rules of the Bleve index (indexer/bleveindex):
//
//   - only the winnowed fingerprints of a post's own text are indexed; quoted text is kept with
//     the post but never fingerprinted, so a quotation can neither retrieve nor credit its quoter;
//   - Candidates ranks posts by the number of distinct fingerprints they share with the query,
//     ties broken by post ID, as the Bleve adapter does;
//   - AuthorCounts counts distinct authors, and deleted authors (AuthorKey "") are not counted.
package memindex

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/attribution"
	"github.com/openroyalty/royalty/attribution/text"
)

// Post is a post as the index receives it: the author's own words and, apart from them, what the
// author quoted.
type Post struct {
	ID        string
	AuthorKey string // "" when the author is deleted: the post is indexed but earns for nobody
	CreatedAt time.Time
	URL       string
	Text      string   // the author's own words as plain text
	Quoted    []string // text the author quoted; stored, never fingerprinted
}

type entry struct {
	src    attribution.Source
	quoted []string
	fps    []uint64 // distinct fingerprint hashes of src.Text
	live   bool
}

// Index is an in-memory inverted index from fingerprint hashes to posts. It is safe for
// concurrent use by multiple goroutines.
type Index struct {
	mu       sync.RWMutex
	k, w     int
	entries  []entry
	byID     map[string]int32
	postings map[uint64][]int32 // entry numbers, ascending
	live     int
}

// New returns an empty index that fingerprints with the default parameters (text.DefaultK,
// text.DefaultW), as the Bleve index does.
func New() *Index {
	return NewWithParams(text.DefaultK, text.DefaultW)
}

// NewWithParams returns an empty index that fingerprints k-word shingles winnowed with window w.
// The attributor querying it must use the same k and w.
func NewWithParams(k, w int) *Index {
	return &Index{k: k, w: w, byID: map[string]int32{}, postings: map[uint64][]int32{}}
}

// FingerprintParams implements attribution.FingerprintParams: the k and w given to NewWithParams.
func (x *Index) FingerprintParams() (k, w int) { return x.k, x.w }

// Add indexes p, replacing any post with the same ID.
func (x *Index) Add(p Post) error {
	if p.ID == "" {
		return royalty.FieldErrorf(royalty.EINVALID, "id", "must not be empty")
	}
	fps := distinct(text.Winnow(text.KGramHashes(text.Words(p.Text), x.k), x.w))
	e := entry{
		src: attribution.Source{
			PostID:      p.ID,
			AuthorKey:   p.AuthorKey,
			CreatedAt:   p.CreatedAt,
			URL:         p.URL,
			ContentHash: text.ContentHash(p.Text),
			Text:        p.Text,
		},
		quoted: slices.Clone(p.Quoted),
		fps:    fps,
		live:   true,
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if old, ok := x.byID[p.ID]; ok {
		x.remove(old)
	}
	n := int32(len(x.entries))
	x.entries = append(x.entries, e)
	x.byID[p.ID] = n
	x.live++
	for _, h := range fps {
		x.postings[h] = append(x.postings[h], n)
	}
	return nil
}

// Delete removes the post with the given ID; it reports whether there was one.
func (x *Index) Delete(id string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	n, ok := x.byID[id]
	if ok {
		x.remove(n)
		delete(x.byID, id)
	}
	return ok
}

func (x *Index) remove(n int32) {
	e := &x.entries[n]
	for _, h := range e.fps {
		list := x.postings[h]
		if i, found := slices.BinarySearch(list, n); found {
			list = slices.Delete(list, i, i+1)
		}
		if len(list) == 0 {
			delete(x.postings, h)
		} else {
			x.postings[h] = list
		}
	}
	*e = entry{}
	x.live--
}

// Len returns the number of indexed posts.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.live
}

// Get returns the stored post with the given ID.
func (x *Index) Get(id string) (Post, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n, ok := x.byID[id]
	if !ok {
		return Post{}, false
	}
	e := x.entries[n]
	return Post{ID: e.src.PostID, AuthorKey: e.src.AuthorKey, CreatedAt: e.src.CreatedAt, URL: e.src.URL,
		Text: e.src.Text, Quoted: slices.Clone(e.quoted)}, true
}

// Source returns the stored post with the given ID as attribution sees it.
func (x *Index) Source(id string) (attribution.Source, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n, ok := x.byID[id]
	if !ok {
		return attribution.Source{}, false
	}
	return x.entries[n].src, true
}

// Candidates implements attribution.Index: the posts sharing the most distinct fingerprints
// with fps, best first, ties broken by post ID.
func (x *Index) Candidates(ctx context.Context, fps []uint64, limit int) ([]attribution.Source, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	scores := map[int32]int{}
	seen := make(map[uint64]bool, len(fps))
	for _, h := range fps {
		if seen[h] {
			continue
		}
		seen[h] = true
		for _, p := range x.postings[h] {
			scores[p]++
		}
	}
	type hit struct {
		n     int32
		score int
	}
	hits := make([]hit, 0, len(scores))
	for p, s := range scores {
		hits = append(hits, hit{p, s})
	}
	slices.SortFunc(hits, func(a, b hit) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(x.entries[a.n].src.PostID, x.entries[b.n].src.PostID)
	})
	if len(hits) > limit {
		hits = hits[:limit]
	}
	out := make([]attribution.Source, len(hits))
	for i, h := range hits {
		out[i] = x.entries[h.n].src
	}
	return out, nil
}

// AuthorCounts implements attribution.Index: for each fingerprint, the number of distinct
// non-deleted authors of posts containing it, exact up to max and capped at max+1.
func (x *Index) AuthorCounts(ctx context.Context, fps []uint64, max int) ([]int, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]int, len(fps))
	authors := map[string]struct{}{}
	for i, h := range fps {
		clear(authors)
		for _, p := range x.postings[h] {
			if a := x.entries[p].src.AuthorKey; a != "" {
				authors[a] = struct{}{}
				if len(authors) > max {
					break
				}
			}
		}
		out[i] = len(authors)
	}
	return out, nil
}

// distinct returns the distinct hashes of fps in order of first appearance.
func distinct(fps []text.Fingerprint) []uint64 {
	seen := make(map[uint64]bool, len(fps))
	out := make([]uint64, 0, len(fps))
	for _, f := range fps {
		if !seen[f.Hash] {
			seen[f.Hash] = true
			out = append(out, f.Hash)
		}
	}
	return out
}
