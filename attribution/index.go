// Package attribution decides who wrote the words of a model response: it retrieves candidate
// posts by shared fingerprints, aligns the response against them exactly, and credits every
// response word to the authors whose posts it came from, with evidence (docs/design.md §4).
//
// The scorer depends on the Index interface, not on Bleve; indexer/bleveindex implements it.
package attribution

import (
	"context"
	"time"
)

// Source is a candidate post as the aligner needs it.
type Source struct {
	PostID      string
	AuthorKey   string // identity key such as "stackexchange:bicycles.meta/123"; "" when the author is deleted
	CreatedAt   time.Time
	URL         string
	ContentHash string
	// Text is the author's own words as stored (the post's text without quotations); evidence
	// source offsets are byte offsets into it.
	Text string
}

// Index is what attribution retrieves candidates from. Implementations are safe for concurrent
// use.
type Index interface {
	// Candidates returns up to limit posts whose fingerprint field shares the most terms with fps,
	// best first.
	Candidates(ctx context.Context, fps []uint64, limit int) ([]Source, error)
	// AuthorCounts returns, for each fingerprint, how many distinct non-deleted authors have
	// indexed posts containing it, exact up to max and capped at max+1.
	AuthorCounts(ctx context.Context, fps []uint64, max int) ([]int, error)
}

// FingerprintParams is implemented by an Index that knows the parameters its fingerprints were
// computed with: the words per shingle k and the winnowing window w. Config.CheckIndex uses it.
type FingerprintParams interface {
	FingerprintParams() (k, w int)
}
