package bleveindex_test

import (
	"context"
	"testing"

	"github.com/openroyalty/royalty/attribution"
	"github.com/openroyalty/royalty/attribution/eval"
	"github.com/openroyalty/royalty/attribution/indextest"
	"github.com/openroyalty/royalty/attribution/memindex"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/indexer/bleveindex"
)

// TestConformance runs the attribution.Index conformance suite that the in-memory and the SQL
// index pass too, posts written one batch each as ingest writes them.
func TestConformance(t *testing.T) {
	indextest.Run(t, func(t *testing.T, posts []memindex.Post) attribution.Index {
		x, err := bleveindex.Open(t.TempDir(), bleveindex.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { x.Close() })
		for _, mp := range posts {
			ip, err := (&eval.Post{Post: mp}).IndexerPost()
			if err != nil {
				t.Fatal(err)
			}
			pp, err := indexer.Prepare(ip)
			if err != nil {
				t.Fatal(err)
			}
			if err := x.Write(context.Background(), []*indexer.Prepared{pp}, func(error) {}); err != nil {
				t.Fatal(err)
			}
		}
		if err := x.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		return x
	})
}
