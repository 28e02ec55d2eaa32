package bleveindex

import (
	"context"
	"fmt"

	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/index/scorch/mergeplan"
)

// Segments is the number of segments of the index's current snapshot. Retrieval looks every
// fingerprint up in every segment's table, so its cost grows with this number.
func (x *Index) Segments() (int, error) {
	r, err := x.raw.Reader()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	snap, ok := r.(*scorch.IndexSnapshot)
	if !ok {
		return 0, fmt.Errorf("the index reader is a %T, not a scorch snapshot", r)
	}
	return len(snap.Segments()), nil
}

// Compact merges the index into one segment, waiting until every written batch is durable
// first. Bleve's merger keeps a bulk-loaded index in tens of segments, and every retrieval looks
// each fingerprint up in every segment (bench-e2e's profile at 200,000 posts: a lookup per
// fingerprint per segment, 12 % of the server's CPU), so `royalty ingest` compacts after a bulk
// load. The index stays readable and writable meanwhile; the next retrieval builds the new
// segment's table (a pause, docs/benchmarks.md).
func (x *Index) Compact(ctx context.Context) error {
	if err := x.Flush(ctx); err != nil {
		return err
	}
	s, ok := x.raw.(*scorch.Scorch)
	if !ok {
		return fmt.Errorf("the index is a %T, not scorch", x.raw)
	}
	// A forced merge folds at most SegmentsPerMergeTask segments into each new one, so it is
	// repeated while it makes progress.
	n, err := x.Segments()
	for err == nil && n > 1 {
		opts := mergeplan.SingleSegmentMergePlanOptions
		if err := s.ForceMerge(ctx, &opts); err != nil {
			return fmt.Errorf("compacting the index: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var after int
		if after, err = x.Segments(); err == nil && after >= n {
			return fmt.Errorf("compacting the index: still %d segments after a forced merge", after)
		}
		n = after
	}
	return err
}
