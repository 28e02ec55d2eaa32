package indexer

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"sync"
	"testing"
	"time"
)

// sliceReader reads records from memory.
type sliceReader struct {
	recs []Record
	i    int
}

func (r *sliceReader) Read() (Record, error) {
	if r.i == len(r.recs) {
		return Record{}, io.EOF
	}
	r.i++
	return r.recs[r.i-1], nil
}

func (r *sliceReader) Close() error { return nil }

// versions records, per post id, the texts written, in the order they were applied.
type versions struct {
	mu sync.Mutex
	m  map[string][]string
}

func (v *versions) add(posts []*Post) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = map[string][]string{}
	}
	for _, p := range posts {
		v.m[p.ID] = append(v.m[p.ID], p.Text)
	}
}

type orderStore struct{ versions }

func (s *orderStore) Write(ctx context.Context, _ []Identity, posts []*Post) (WriteCounts, error) {
	time.Sleep(time.Duration(rand.Intn(300)) * time.Microsecond)
	s.add(posts)
	return WriteCounts{Inserted: len(posts)}, nil
}

func (s *orderStore) Post(context.Context, string) (*Post, error) { return nil, nil }

func (s *orderStore) Identities(context.Context, []string) (map[string]Identity, error) {
	return nil, nil
}

// orderIndex applies a write after a random delay, so that writes let in at once finish in any
// order, and records how many ran at once.
type orderIndex struct {
	versions
	mu            sync.Mutex
	running, most int
}

func (x *orderIndex) Write(ctx context.Context, prep []*Prepared, persisted func(error)) error {
	x.mu.Lock()
	x.running++
	x.most = max(x.most, x.running)
	x.mu.Unlock()
	time.Sleep(time.Duration(rand.Intn(2000)) * time.Microsecond)
	posts := make([]*Post, len(prep))
	for i, p := range prep {
		posts[i] = p.Post
	}
	x.add(posts)
	x.mu.Lock()
	x.running--
	x.mu.Unlock()
	go persisted(nil)
	return nil
}

func (x *orderIndex) Search(context.Context, Query) (Result, error) { return Result{}, nil }

// TestPipelineOrderPerPost writes batches that often share posts with concurrent index writes
// allowed: the index must apply every post's versions in the order the store did, and batches
// sharing no post must have been written at once.
func TestPipelineOrderPerPost(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var recs []Record
	for i := 0; i < 3000; i++ {
		id := fmt.Sprintf("x:s/%d", i)
		if rng.Intn(3) == 0 {
			id = fmt.Sprintf("x:s/hot%d", rng.Intn(20)) // rewritten again and again
		}
		recs = append(recs, Record{Pos: Position{Line: int64(i + 1)}, Next: Position{Line: int64(i + 2)},
			Post: &Post{ID: id, Platform: "x", Site: "s", Kind: KindArticle, CreatedAt: time.Unix(1, 0),
				Text: fmt.Sprintf("version %d of the post", i)}})
	}
	store, idx := &orderStore{}, &orderIndex{}
	p := NewPipeline(store, idx, Options{BatchSize: 10, IndexWriters: 3})
	var durable []int64
	_, err := p.Run(context.Background(), &sliceReader{recs: recs}, RunOptions{Durable: func(resume Position, _ Summary) error {
		durable = append(durable, resume.Line)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range store.m {
		got := idx.m[id]
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: the index applied %q, the store %q", id, got, want)
		}
	}
	if len(idx.m) != len(store.m) {
		t.Fatalf("index has %d posts, store %d", len(idx.m), len(store.m))
	}
	for i := 1; i < len(durable); i++ {
		if durable[i] <= durable[i-1] {
			t.Fatalf("durable positions out of order: %v", durable)
		}
	}
	if idx.most < 2 {
		t.Errorf("at most %d index writes at once, want concurrent writes of batches sharing no post", idx.most)
	}
	if idx.most > 3 {
		t.Errorf("%d index writes at once, want at most IndexWriters (3)", idx.most)
	}
}

// TestPipelineResumeSkipReasons runs an input in one go and in two runs, the second resuming
// from the first's totals with a progress callback (as `royalty ingest` does): the skipped
// records' breakdown must be the same, and the second run must leave its Start alone.
func TestPipelineResumeSkipReasons(t *testing.T) {
	var recs []Record
	for i := 0; i < 40; i++ {
		rec := Record{Pos: Position{Line: int64(i + 1)}, Next: Position{Line: int64(i + 2)}}
		switch i % 4 {
		case 0:
			rec.Skip = "tag wiki"
		case 1:
			rec.Skip = "deleted comment"
		default:
			rec.Post = &Post{ID: fmt.Sprintf("x:s/%d", i), Platform: "x", Site: "s", Kind: KindArticle,
				CreatedAt: time.Unix(1, 0), Text: fmt.Sprintf("post number %d", i)}
		}
		recs = append(recs, rec)
	}
	ctx := context.Background()
	progress := func(Position, Summary) {}
	newPipeline := func() *Pipeline { return NewPipeline(&orderStore{}, &orderIndex{}, Options{BatchSize: 5}) }

	whole, err := newPipeline().Run(ctx, &sliceReader{recs: recs}, RunOptions{Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	first, err := newPipeline().Run(ctx, &sliceReader{recs: recs[:20]}, RunOptions{Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	before := fmt.Sprint(first.SkipReasons)
	var durable Summary
	resumed, err := newPipeline().Run(ctx, &sliceReader{recs: recs[20:]}, RunOptions{Start: first, Progress: progress,
		Durable: func(_ Position, totals Summary) error { durable = totals; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(resumed.SkipReasons) != fmt.Sprint(whole.SkipReasons) || resumed.Skipped != whole.Skipped {
		t.Errorf("resumed run: %d skipped %v; one run: %d skipped %v", resumed.Skipped, resumed.SkipReasons, whole.Skipped, whole.SkipReasons)
	}
	if fmt.Sprint(durable.SkipReasons) != fmt.Sprint(whole.SkipReasons) {
		t.Errorf("last checkpoint of the resumed run: %v, one run: %v", durable.SkipReasons, whole.SkipReasons)
	}
	if got := fmt.Sprint(first.SkipReasons); got != before {
		t.Errorf("the resumed run changed its Start: %s, was %s", got, before)
	}
}

// TestIdentitySetCounts checks that identity records and posts' authors count once each.
func TestIdentitySetCounts(t *testing.T) {
	ana := &Identity{Platform: "x", Site: "s", AuthorID: "ana"}
	bo := &Identity{Platform: "x", Site: "s", AuthorID: "bo"}
	recs := []Record{
		{Identity: ana},
		{Post: &Post{ID: "x:s/1", Author: ana}},
		{Post: &Post{ID: "x:s/2", Author: bo}},
		{Post: &Post{ID: "x:s/3", Author: bo}},
		{Post: &Post{ID: "x:s/4"}}, // deleted author
		{Skip: "tag wiki"},
		{Identity: &Identity{Platform: "x", Site: "t", AuthorID: "ana"}}, // another site
	}
	var s IdentitySet
	n := 0
	for _, r := range recs {
		n += s.Count(r)
	}
	if n != 3 {
		t.Fatalf("counted %d identities, want 3", n)
	}
}
