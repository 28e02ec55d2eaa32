package eval_test

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/openroyalty/royalty/attribution"
	"github.com/openroyalty/royalty/attribution/attributiontest"
	"github.com/openroyalty/royalty/attribution/eval"
	"github.com/openroyalty/royalty/attribution/memindex"
)

var (
	setupOnce sync.Once
	corpus    *eval.Corpus
	index     *memindex.Index
	setupErr  error
)

// setup builds the default corpus (20,000 indexed posts) once for the package's tests.
func setup(t *testing.T) (*eval.Corpus, *memindex.Index) {
	t.Helper()
	setupOnce.Do(func() {
		data, err := eval.FindData()
		if err != nil {
			setupErr = err
			return
		}
		texts, err := eval.LoadStackExchangeText(data)
		if err != nil {
			setupErr = err
			return
		}
		corpus = eval.NewCorpus(eval.NewWordModel(texts), eval.DefaultCorpus)
		index = memindex.New()
		setupErr = corpus.Index(index)
	})
	if setupErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared data: %v", setupErr)
		}
		t.Skipf("shared data: %v", setupErr)
	}
	return corpus, index
}

// TestThresholds asserts the correctness thresholds of the issue (Scenario.Check) on the default
// corpus with the default configuration, indexed in memory. indexer/bleveindex's TestEvalOnBleve
// asserts the same on the Bleve index.
func TestThresholds(t *testing.T) {
	c, idx := setup(t)
	attributiontest.CheckThresholds(t, "in memory", c, attribution.New(idx, attribution.Config{}), idx.Source)
}

// TestDeterministic: the same index content and the same response give identical results, even
// when the index was filled in another order, and the generator repeats itself for a seed.
func TestDeterministic(t *testing.T) {
	c, idx := setup(t)
	reversed := memindex.New()
	posts := slices.Clone(c.Posts)
	slices.Reverse(posts)
	for _, p := range posts {
		if err := reversed.Add(p.Post); err != nil {
			t.Fatal(err)
		}
	}
	cfg := eval.Scenarios(7, 60)[0].Responses
	responses := c.Responses(cfg)
	if again := c.Responses(cfg); !reflect.DeepEqual(responses, again) {
		t.Fatal("the response generator is not deterministic")
	}
	a, b := attribution.New(idx, attribution.Config{}), attribution.New(reversed, attribution.Config{})
	credited := 0
	for _, r := range responses {
		x, err := a.Attribute(context.Background(), r.Text)
		if err != nil {
			t.Fatal(err)
		}
		y, err := b.Attribute(context.Background(), r.Text)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(x, y) {
			t.Fatalf("results differ between two indexes of the same posts:\n%+v\n%+v", x, y)
		}
		credited += len(x.Evidence)
	}
	if credited == 0 {
		t.Fatal("nothing was credited: the comparison proves nothing")
	}
}

// paddedIndex fills every candidate list up to the limit with posts that match nothing, so that
// the attributor can never count authors among its candidates and must ask the index.
type paddedIndex struct{ *memindex.Index }

func (p paddedIndex) Candidates(ctx context.Context, fps []uint64, limit int) ([]attribution.Source, error) {
	out, err := p.Index.Candidates(ctx, fps, limit)
	for i := len(out); err == nil && i < limit; i++ {
		out = append(out, attribution.Source{PostID: fmt.Sprintf("pad/%d", i), AuthorKey: "pad", Text: "nothing to see"})
	}
	return out, err
}

// TestAuthorCountsAmongCandidates: counting authors among complete candidate lists gives the
// same results as asking the index.
func TestAuthorCountsAmongCandidates(t *testing.T) {
	c, idx := setup(t)
	local := attribution.New(idx, attribution.Config{})
	asked := attribution.New(paddedIndex{idx}, attribution.Config{})
	boiler := 0
	for _, r := range c.Responses(eval.ResponseConfig{Seed: 11, Count: 80, FromCopies: 0.3, Boilerplate: 0.8}) {
		x, err := local.Attribute(context.Background(), r.Text)
		if err != nil {
			t.Fatal(err)
		}
		y, err := asked.Attribute(context.Background(), r.Text)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(x, y) {
			t.Fatalf("counting among candidates changed the result:\n%+v\n%+v", x, y)
		}
		for _, l := range r.Labels {
			if l.Kind == eval.Boilerplate {
				boiler++
			}
		}
	}
	if boiler == 0 {
		t.Fatal("no boilerplate in the responses: the comparison proves little")
	}
}
