package bleveindex

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	index "github.com/blevesearch/bleve_index_api"
	segment "github.com/blevesearch/scorch_segment_api/v2"

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
	fr, err := x.fpReader(r)
	if err != nil {
		return nil, err
	}
	shared := map[uint64]int{} // document number → distinct fingerprints shared
	seen := make(map[uint64]struct{}, len(fps))
	for _, h := range fps {
		if _, dup := seen[h]; dup {
			continue
		}
		seen[h] = struct{}{}
		err := fr.each(ctx, h, func(doc uint64) error {
			shared[doc]++
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	type cand struct {
		doc uint64
		id  string
		n   int
	}
	cands := make([]cand, 0, len(shared))
	for in, n := range shared {
		cands = append(cands, cand{doc: in, n: n})
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
		if cands[i].id, err = fr.externalID(cands[i].doc); err != nil {
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
		src, err := fr.source(c.doc, c.id)
		if err != nil {
			return nil, err
		}
		out = append(out, src)
	}
	return out, nil
}

// segmentOf returns the segment holding the snapshot's document doc and the document's number in
// it.
func (fr *fpReader) segmentOf(doc uint64) (*fpSegment, uint64, error) {
	i := sort.Search(len(fr.segs), func(i int) bool { return fr.segs[i].offset > doc }) - 1
	if i < 0 {
		return nil, 0, fmt.Errorf("document number %d not found", doc)
	}
	return &fr.segs[i], doc - fr.segs[i].offset, nil
}

// externalID is the id of the snapshot's document doc.
func (fr *fpReader) externalID(doc uint64) (string, error) {
	s, local, err := fr.segmentOf(doc)
	if err != nil {
		return "", err
	}
	id, err := s.seg.DocID(local)
	if err != nil {
		return "", err
	}
	if id == nil {
		return "", fmt.Errorf("document number %d not found", doc)
	}
	return string(id), nil
}

// source loads the stored fields of the snapshot's document doc, whose id is id, from its
// segment. (IndexReader.Document would look the id up in the _id field again: in bench-e2e's
// profile that look-up was three quarters of loading a candidate.)
func (fr *fpReader) source(doc uint64, id string) (attribution.Source, error) {
	src := attribution.Source{PostID: id}
	s, local, err := fr.segmentOf(doc)
	if err != nil {
		return src, err
	}
	var created string
	err = s.seg.VisitStoredFields(local, func(field string, _ byte, value []byte, _ []uint64) bool {
		switch field {
		case FieldText:
			src.Text = string(value)
		case FieldAuthor:
			src.AuthorKey = string(value)
		case FieldURL:
			src.URL = string(value)
		case FieldHash:
			src.ContentHash = string(value)
		case FieldCreated:
			created = string(value)
		}
		return true
	})
	if err != nil {
		return src, fmt.Errorf("document %s: %w", id, err)
	}
	if created != "" {
		if src.CreatedAt, err = time.Parse(time.RFC3339Nano, created); err != nil {
			return src, fmt.Errorf("document %s: created: %w", id, err)
		}
	}
	return src, nil
}

// AuthorCounts implements attribution.Index: for each fingerprint, the number of distinct
// non-deleted authors of the documents holding it, exact up to max and max+1 beyond. It walks
// the documents holding the fingerprint (fpReader) and reads each one's author from its table,
// and stops as soon as it has seen max+1 authors, so boilerplate shared by many authors costs
// little.
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
	fr, err := x.fpReader(r)
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
		err := fr.eachIn(ctx, h, func(s *fpSegment, doc uint32) error {
			if a := s.table.author(doc); a != "" {
				authors[a] = struct{}{}
			}
			if len(authors) > max {
				return errEnough
			}
			return nil
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

// fpReader finds fingerprints in every segment of an index snapshot through the segments'
// fingerprint tables (fpTable).
type fpReader struct {
	segs []fpSegment
}

// fpSegment is the fingerprint table of one segment, its deleted documents and the number of
// its first document in the snapshot.
type fpSegment struct {
	seg     segment.Segment
	table   *fpTable
	deleted *roaring.Bitmap
	offset  uint64
}

// fpReader returns a reader of the snapshot r, building the tables of segments it has not seen.
func (x *Index) fpReader(r index.IndexReader) (*fpReader, error) {
	snap, ok := r.(*scorch.IndexSnapshot)
	if !ok {
		return nil, fmt.Errorf("the index reader is a %T, not a scorch snapshot", r)
	}
	fr := &fpReader{}
	live := map[uint64]struct{}{}
	var offset uint64
	for _, ss := range snap.Segments() {
		seg := ss.Segment()
		t, err := x.tables.get(ss.Id(), seg)
		if err != nil {
			return nil, err
		}
		fr.segs = append(fr.segs, fpSegment{seg: seg, table: t, deleted: ss.Deleted(), offset: offset})
		offset += seg.Count() // as scorch numbers documents across segments
		live[ss.Id()] = struct{}{}
	}
	x.tables.sweep(live)
	return fr, nil
}

// eachIn calls fn with the segment and the segment's own number of every live document whose
// fingerprint field holds h. It stops at fn's first error.
func (fr *fpReader) eachIn(ctx context.Context, h uint64, fn func(s *fpSegment, doc uint32) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for i := range fr.segs {
		s := &fr.segs[i]
		t := s.table
		lo, hi := t.find(h)
		for j := lo; j < hi; j++ {
			doc := t.docs[j]
			if s.deleted != nil && s.deleted.Contains(doc) {
				continue
			}
			if err := fn(s, doc); err != nil {
				return err
			}
		}
	}
	return nil
}

// each calls fn with the number of every live document whose fingerprint field holds h. It
// stops at fn's first error.
func (fr *fpReader) each(ctx context.Context, h uint64, fn func(doc uint64) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, s := range fr.segs {
		t := s.table
		lo, hi := t.find(h)
		for i := lo; i < hi; i++ {
			doc := uint64(t.docs[i])
			if s.deleted != nil && s.deleted.Contains(uint32(doc)) {
				continue
			}
			if err := fn(s.offset + doc); err != nil {
				return err
			}
		}
	}
	return nil
}
