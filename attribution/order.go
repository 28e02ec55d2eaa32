package attribution

import (
	"cmp"
	"slices"
	"strings"
)

// sortShares orders shares largest first, ties by author key, so that results are identical
// from run to run.
func sortShares(s []Share) {
	slices.SortFunc(s, func(x, y Share) int {
		if c := y.Share.Cmp(x.Share); c != 0 {
			return c
		}
		return strings.Compare(x.AuthorKey, y.AuthorKey)
	})
}

// sortEvidence orders spans by position in the response, then author and post.
func sortEvidence(s []Span) {
	slices.SortFunc(s, func(x, y Span) int {
		return cmp.Or(
			cmp.Compare(x.ResponseWordStart, y.ResponseWordStart),
			cmp.Compare(x.ResponseWordEnd, y.ResponseWordEnd),
			strings.Compare(x.AuthorKey, y.AuthorKey),
			strings.Compare(x.PostID, y.PostID),
			cmp.Compare(x.SourceStart, y.SourceStart),
		)
	})
}
