package attribution_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/attribution"
	"github.com/openroyalty/royalty/attribution/attributiontest"
	"github.com/openroyalty/royalty/attribution/memindex"
)

func TestAttributeRejectsBadResponses(t *testing.T) {
	a := attribution.New(memindex.New(), attribution.Config{MaxResponseBytes: 100, MaxResponseWords: 10})
	tests := []struct {
		name, response, want string
	}{
		{"empty", "", "must not be empty"},
		{"invalid utf-8", "caf\xe9 racer", "valid UTF-8"},
		{"too many bytes", strings.Repeat("x", 101), "at most 100"},
		{"too many words", "one two three four five six seven eight nine ten eleven", "at most 10"},
		{"no words", " -- !? ... ", "contains no words"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := a.Attribute(context.Background(), tt.response)
			var e *royalty.Error
			if !errors.As(err, &e) || e.Code != royalty.EINVALID || e.Field != "response_text" || !strings.Contains(e.Message, tt.want) {
				t.Fatalf("Attribute(%q) = %v, %v; want EINVALID on response_text containing %q", tt.response, res, err, tt.want)
			}
		})
	}
}

type failingIndex struct{ candidatesErr, countsErr error }

func (f failingIndex) Candidates(ctx context.Context, fps []uint64, limit int) ([]attribution.Source, error) {
	if f.candidatesErr != nil {
		return nil, f.candidatesErr
	}
	return []attribution.Source{{PostID: "p", AuthorKey: "a", Text: sampleText}}, nil
}

func (f failingIndex) AuthorCounts(ctx context.Context, fps []uint64, max int) ([]int, error) {
	return make([]int, len(fps)), f.countsErr
}

const sampleText = "To true a wheel at home, hang the bike upside down and hold a zip tie against the frame so it just touches the rim."

func TestAttributeReturnsIndexErrors(t *testing.T) {
	boom := errors.New("index down")
	for _, f := range []failingIndex{{candidatesErr: boom}, {countsErr: boom}} {
		// With a limit of one candidate the index's answer is never known to be complete, so
		// author counts are asked of the index.
		_, err := attribution.New(f, attribution.Config{Candidates: 1}).Attribute(context.Background(), sampleText)
		if !errors.Is(err, boom) {
			t.Errorf("error %v does not wrap the index error", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := attribution.New(memindex.New(), attribution.Config{}).Attribute(ctx, sampleText); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: error %v", err)
	}
}

func TestConfigSwitches(t *testing.T) {
	idx := memindex.New()
	mustAdd(t, idx, memindex.Post{ID: "p1", AuthorKey: "a", Text: "Sizes: 1 2 3 4 5 6 7 8 9 10 11 12 and more."})
	mustAdd(t, idx, memindex.Post{ID: "p2", AuthorKey: "b",
		Text: "When a spoke breaks on the drive side you usually have to remove the cassette first."})
	tests := []struct {
		name     string
		cfg      attribution.Config
		response string
		want     int // words credited to anybody
	}{
		{"numbers are low-information", attribution.Config{}, "1 2 3 4 5 6 7 8 9 10 11 12", 0},
		{"unless the check is off", attribution.Config{MinContentWords: -1}, "1 2 3 4 5 6 7 8 9 10 11 12", 12},
		{"an edit is bridged", attribution.Config{},
			"When a spoke breaks on the drive side you often have to remove the cassette first.", 16},
		{"unless bridging is off", attribution.Config{MaxGapWords: -1},
			"When a spoke breaks on the drive side you often have to remove the cassette first.", 9},
		{"a higher minimum span", attribution.Config{MinSpanWords: 10},
			"When a spoke breaks on the drive side you often", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := attribution.New(idx, tt.cfg).Attribute(context.Background(), tt.response)
			if err != nil {
				t.Fatal(err)
			}
			attributiontest.CheckResult(t, tt.response, idx.Source, res)
			credited := 0
			for _, e := range res.Evidence {
				credited += e.ResponseWordEnd - e.ResponseWordStart
			}
			if credited != tt.want {
				t.Fatalf("credited %d words, want %d: %+v", credited, tt.want, res.Evidence)
			}
		})
	}
}

func TestAlgorithmNamesParameters(t *testing.T) {
	got := attribution.New(memindex.New(), attribution.Config{MaxAuthors: 7}).Config().Algorithm()
	want := "ngram-overlap/v1 k=5 w=4 min_span=8 max_authors=7 candidates=64 chunk=400 max_gap=8 min_content=2"
	if got != want {
		t.Fatalf("Algorithm() = %q, want %q", got, want)
	}
}

// TestLongResponseFindsEverySource copies 40 posts into one long response while each chunk may
// retrieve only 4 candidates: chunked retrieval must still find all of them.
func TestLongResponseFindsEverySource(t *testing.T) {
	idx := memindex.New()
	var parts []string
	for i := range 40 {
		words := make([]string, 30)
		for j := range words {
			words[j] = fmt.Sprintf("w%dx%d", i, j)
		}
		txt := strings.Join(words, " ")
		mustAdd(t, idx, memindex.Post{ID: fmt.Sprintf("p%02d", i), AuthorKey: fmt.Sprintf("a%02d", i), Text: txt})
		parts = append(parts, txt, "and then")
	}
	response := strings.Join(parts, " ")
	res, err := attribution.New(idx, attribution.Config{Candidates: 4, ChunkWords: 60}).Attribute(context.Background(), response)
	if err != nil {
		t.Fatal(err)
	}
	attributiontest.CheckResult(t, response, idx.Source, res)
	if len(res.Shares) != 40 {
		t.Fatalf("%d authors credited, want 40", len(res.Shares))
	}
}

// TestAttributeIsDeterministicAndConcurrent runs the same responses from several goroutines and
// requires identical results.
func TestAttributeIsDeterministicAndConcurrent(t *testing.T) {
	idx := memindex.New()
	base := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
	// Many posts with identical times, so that ties are decided by post ID, not by luck.
	for i := range 30 {
		mustAdd(t, idx, memindex.Post{ID: fmt.Sprintf("p%02d", 29-i), AuthorKey: fmt.Sprintf("a%d", i%7), CreatedAt: base, Text: sampleText})
	}
	mustAdd(t, idx, memindex.Post{ID: "q", AuthorKey: "b", CreatedAt: base,
		Text: "Hang the bike upside down and hold a zip tie against the frame so it just touches the tyre instead."})
	a := attribution.New(idx, attribution.Config{MaxAuthors: 100})
	response := "Well. " + sampleText + " Then hang the bike upside down and hold a zip tie against the frame so it just touches the tyre instead."
	want, err := a.Attribute(context.Background(), response)
	if err != nil {
		t.Fatal(err)
	}
	attributiontest.CheckResult(t, response, idx.Source, want)
	if len(want.Evidence) == 0 || want.Evidence[0].PostID != "p00" {
		t.Fatalf("the tie between identical posts went to %+v, want p00", want.Evidence)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				got, err := a.Attribute(context.Background(), response)
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("result differs: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func mustAdd(t *testing.T, idx *memindex.Index, p memindex.Post) {
	t.Helper()
	if err := idx.Add(p); err != nil {
		t.Fatal(err)
	}
}
