package bleveindex_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openroyalty/royalty/attribution"
	"github.com/openroyalty/royalty/attribution/attributiontest"
	"github.com/openroyalty/royalty/attribution/eval"
	"github.com/openroyalty/royalty/attribution/memindex"
	"github.com/openroyalty/royalty/attribution/text"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/indexer/bleveindex"
	"github.com/openroyalty/royalty/internal/repo"
)

// TestEvalOnBleve measures attribution on the production index. attribution/eval's
// TestThresholds asserts the correctness thresholds (eval.Scenario.Check) on the
// in-memory index; here the same corpus (eval.DefaultCorpus, 20,000 posts) is written to a Bleve
// index as ingest writes it (indexer.Prepare, batches of indexer.DefaultBatchSize, persisted),
// and an Attributor over it must meet the same thresholds on the same responses
// (eval.Scenarios(1, 400)), so that a regression in Bleve retrieval (bucketed fingerprint terms,
// the candidate ranking and limit, AuthorCounts for boilerplate) fails CI.
//
// At this size a response rarely shares fingerprints with more posts than the attributor's
// candidate limit, so the thresholds alone do not exercise the ranking and the cut: "retrieval"
// checks that Candidates at small limits, and AuthorCounts, return what the in-memory index,
// which models the same rules, returns.
func TestEvalOnBleve(t *testing.T) {
	data := repo.RequireSharedData(t, "stackexchange")
	ctx := context.Background()
	start := time.Now()
	texts, err := eval.LoadStackExchangeText(data)
	if err != nil {
		t.Fatal(err)
	}
	c := eval.NewCorpus(eval.NewWordModel(texts), eval.DefaultCorpus)
	generated := time.Since(start)

	idx, err := bleveindex.Open(t.TempDir(), bleveindex.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := idx.Close(); err != nil {
			t.Error(err)
		}
	})
	start = time.Now()
	writeCorpus(t, idx, c.Posts)
	if n, err := idx.DocCount(); err != nil || n != uint64(len(c.Posts)) {
		t.Fatalf("the index holds %d documents (%v), want %d", n, err, len(c.Posts))
	}
	t.Logf("corpus of %d posts generated in %s, indexed in %s", len(c.Posts), generated.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	// The posts as generated, in the in-memory index: evidence is checked against them (the text
	// Bleve stored must be the text its offsets point into), and retrieval is compared with it.
	mem := memindex.New()
	if err := c.Index(mem); err != nil {
		t.Fatal(err)
	}
	t.Run("thresholds", func(t *testing.T) {
		attributiontest.CheckThresholds(t, "on Bleve", c, attribution.New(idx, attribution.Config{}), mem.Source)
	})

	t.Run("retrieval", func(t *testing.T) {
		cfg := attribution.DefaultConfig()
		cut := map[int]int{} // limit → queries with more posts sharing a fingerprint than it
		for _, r := range c.Responses(eval.Scenarios(1, 400)[0].Responses) {
			var fps []uint64 // as the attributor queries them
			for _, f := range text.Fingerprints(r.Text) {
				fps = append(fps, f.Hash)
			}
			all, err := mem.Candidates(ctx, fps, len(c.Posts))
			if err != nil {
				t.Fatal(err)
			}
			for _, limit := range []int{1, 8, cfg.Candidates} {
				got, err := idx.Candidates(ctx, fps, limit)
				if err != nil {
					t.Fatal(err)
				}
				want := all[:min(limit, len(all))]
				if len(all) > limit {
					cut[limit]++
				}
				if !sameSources(got, want) {
					t.Fatalf("Candidates(limit %d) = %v, the in-memory index gives %v", limit, ids(got), ids(want))
				}
			}
			got, err := idx.AuthorCounts(ctx, fps, cfg.MaxAuthors)
			if err != nil {
				t.Fatal(err)
			}
			want, err := mem.AuthorCounts(ctx, fps, cfg.MaxAuthors)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("AuthorCounts = %v, the in-memory index gives %v", got, want)
			}
		}
		t.Logf("queries with more posts sharing a fingerprint than the limit, by limit: %v", cut)
		if cut[1] == 0 || cut[8] == 0 {
			t.Fatalf("the limits never cut a candidate list (%v): the comparison proves little", cut)
		}
	})
}

// sameSources reports whether a and b are the same posts in the same order, with the same
// stored fields.
func sameSources(a, b []attribution.Source) bool {
	return slices.EqualFunc(a, b, func(x, y attribution.Source) bool {
		return x.PostID == y.PostID && x.AuthorKey == y.AuthorKey && x.URL == y.URL &&
			x.ContentHash == y.ContentHash && x.Text == y.Text && x.CreatedAt.Equal(y.CreatedAt)
	})
}

func ids(srcs []attribution.Source) []string {
	out := make([]string, len(srcs))
	for i, s := range srcs {
		out[i] = s.PostID
	}
	return out
}

// writeCorpus writes posts to idx as the ingest pipeline does: each post prepared by
// indexer.Prepare, batches of indexer.DefaultBatchSize, and returns when all are persisted.
func writeCorpus(t *testing.T, idx *bleveindex.Index, posts []*eval.Post) {
	t.Helper()
	ctx := context.Background()
	var mu sync.Mutex
	var persistErr error
	for lo := 0; lo < len(posts); lo += indexer.DefaultBatchSize {
		hi := min(lo+indexer.DefaultBatchSize, len(posts))
		batch := make([]*indexer.Prepared, 0, hi-lo)
		for _, p := range posts[lo:hi] {
			ip, err := p.IndexerPost()
			if err != nil {
				t.Fatal(err)
			}
			pp, err := indexer.Prepare(ip)
			if err != nil {
				t.Fatalf("post %s: %v", p.ID, err)
			}
			batch = append(batch, pp)
		}
		err := idx.Write(ctx, batch, func(err error) {
			mu.Lock()
			defer mu.Unlock()
			if persistErr == nil {
				persistErr = err
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := idx.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if persistErr != nil {
		t.Fatalf("persisting a batch: %v", persistErr)
	}
}
