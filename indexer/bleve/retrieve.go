package bleveindex

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	index "github.com/blevesearch/bleve_index_api"

	"github.com/openroyalty/royalty/attribution"
	"github.com/openroyalty/royalty/indexer"
)

var (
	_ attribution.Index             = (*Index)(nil)
	_ attribution.FingerprintParams = (*Index)(nil)
)

// FingerprintParams implements attribution.FingerprintParams: the index holds the fingerprints
// indexer.Prepare computes, with indexer.FingerprintK and indexer.FingerprintW.
func (x *Index) FingerprintParams() (k, w int) { return indexer.FingerprintK, indexer.FingerprintW }

// Candidates implements attribution.Index: the posts sharing the most distinct fingerprint
// terms with fps, best first, ties broken by post id. It reads the fingerprint postings
// directly instead of running a scored search: the count of shared terms is the ranking the
// aligner wants, and skipping the scorer keeps retrieval to about a millisecond per hundred
// fingerprints.
func (x *Index) Candidates(ctx context.Context, fps []uint64, limit int) ([]attribution.Source, error) {
	if limit <= 0 || len(fps) == 0 {
		return nil, nil
	}
	r, err := x.raw.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	shared := map[string]int{} // internal id → distinct fingerprints shared
	seen := make(map[uint64]struct{}, len(fps))
	for _, h := range fps {
		if _, dup := seen[h]; dup {
			continue
		}
		seen[h] = struct{}{}
		err := withFingerprint(ctx, r, h, func(id index.IndexInternalID) error {
			shared[string(id)]++
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	type cand struct {
		internal string
		id       string
		n        int
	}
	cands := make([]cand, 0, len(shared))
	for in, n := range shared {
		cands = append(cands, cand{internal: in, n: n})
	}
	// Resolve ids only where ties at the cut need them: sort by count, then name the ones kept.
	sort.Slice(cands, func(i, j int) bool { return cands[i].n > cands[j].n })
	cut := len(cands)
	if cut > limit {
		cut = limit
		for cut < len(cands) && cands[cut].n == cands[limit-1].n {
			cut++
		}
	}
	cands = cands[:cut]
	for i := range cands {
		if cands[i].id, err = r.ExternalID(index.IndexInternalID(cands[i].internal)); err != nil {
			return nil, err
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].n != cands[j].n {
			return cands[i].n > cands[j].n
		}
		return cands[i].id < cands[j].id
	})
	if len(cands) > limit {
		cands = cands[:limit]
	}
	out := make([]attribution.Source, 0, len(cands))
	for _, c := range cands {
		src, err := source(r, c.id)
		if err != nil {
			return nil, err
		}
		out = append(out, src)
	}
	return out, nil
}

// source loads the stored fields of one document.
func source(r index.IndexReader, id string) (attribution.Source, error) {
	doc, err := r.Document(id)
	if err != nil {
		return attribution.Source{}, err
	}
	src := attribution.Source{PostID: id}
	if doc == nil {
		return src, fmt.Errorf("document %s vanished", id)
	}
	var created string
	doc.VisitFields(func(f index.Field) {
		switch f.Name() {
		case FieldText:
			src.Text = string(f.Value())
		case FieldAuthor:
			src.AuthorKey = string(f.Value())
		case FieldURL:
			src.URL = string(f.Value())
		case FieldHash:
			src.ContentHash = string(f.Value())
		case FieldCreated:
			created = string(f.Value())
		}
	})
	if created != "" {
		if src.CreatedAt, err = time.Parse(time.RFC3339Nano, created); err != nil {
			return src, fmt.Errorf("document %s: created: %w", id, err)
		}
	}
	return src, nil
}

// AuthorCounts implements attribution.Index: for each fingerprint, the number of distinct
// non-deleted authors of the documents holding it, exact up to max and max+1 beyond. It walks
// the fingerprint's postings and reads each document's author from doc values, and stops as soon
// as it has seen max+1 authors, so boilerplate shared by many authors costs little; the walk is
// otherwise bounded by the postings of the fingerprint's bucket.
func (x *Index) AuthorCounts(ctx context.Context, fps []uint64, max int) ([]int, error) {
	out := make([]int, len(fps))
	if len(fps) == 0 {
		return out, nil
	}
	if max < 0 {
		max = 0
	}
	r, err := x.raw.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	dvr, err := r.DocValueReader([]string{FieldAuthor})
	if err != nil {
		return nil, err
	}
	memo := map[uint64]int{}
	authors := map[string]struct{}{}
	for i, h := range fps {
		if n, ok := memo[h]; ok {
			out[i] = n
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		clear(authors)
		err := withFingerprint(ctx, r, h, func(id index.IndexInternalID) error {
			err := dvr.VisitDocValues(id, func(field string, term []byte) {
				if field == FieldAuthor {
					authors[string(term)] = struct{}{}
				}
			})
			if err == nil && len(authors) > max {
				return errEnough
			}
			return err
		})
		if err != nil && !errors.Is(err, errEnough) {
			return nil, err
		}
		n := len(authors)
		if n > max+1 {
			n = max + 1
		}
		out[i], memo[h] = n, n
	}
	return out, nil
}

// errEnough stops a walk over postings early.
var errEnough = errors.New("enough")

// withFingerprint calls fn with every document whose fingerprint field holds h: the postings of
// h's bucket whose location carries h's remaining bits. It stops at fn's first error.
func withFingerprint(ctx context.Context, r index.IndexReader, h uint64, fn func(index.IndexInternalID) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	start, end := location(h)
	tfr, err := r.TermFieldReader(ctx, Term(h), FieldFP, false, false, true)
	if err != nil {
		return err
	}
	defer tfr.Close()
	var tfd index.TermFieldDoc
	for {
		d, err := tfr.Next(&tfd)
		if err != nil || d == nil {
			return err
		}
		for _, v := range d.Vectors {
			if v.Start == start && v.End == end {
				if err := fn(d.ID); err != nil {
					return err
				}
				break
			}
		}
	}
}
