package memindex_test

import (
	"testing"

	"github.com/openroyalty/royalty/attribution"
	"github.com/openroyalty/royalty/attribution/indextest"
	"github.com/openroyalty/royalty/attribution/memindex"
)

// TestConformance runs the attribution.Index conformance suite that the SQL index
// (indexer/postgres) passes too.
func TestConformance(t *testing.T) {
	indextest.Run(t, func(t *testing.T, posts []memindex.Post) attribution.Index {
		x := memindex.New()
		for _, p := range posts {
			if err := x.Add(p); err != nil {
				t.Fatal(err)
			}
		}
		return x
	})
}
