package postgres

import (
	"context"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openroyalty/royalty/attribution"
	"github.com/openroyalty/royalty/attribution/eval"
	"github.com/openroyalty/royalty/attribution/indextest"
	"github.com/openroyalty/royalty/attribution/memindex"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/internal/pgtest"
)

func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgdb.Open(context.Background(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// writePosts writes posts through the store as ingest does: prepared, with their authors, in
// batches of batch posts.
func writePosts(t testing.TB, s *Store, posts []memindex.Post, batch int) {
	t.Helper()
	ctx := context.Background()
	for lo := 0; lo < len(posts); lo += batch {
		var ps []*indexer.Post
		var ids []indexer.Identity
		for _, mp := range posts[lo:min(lo+batch, len(posts))] {
			ip, err := (&eval.Post{Post: mp}).IndexerPost()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := indexer.Prepare(ip); err != nil {
				t.Fatalf("post %s: %v", mp.ID, err)
			}
			ps = append(ps, ip)
			if ip.Author != nil {
				ids = append(ids, *ip.Author)
			}
		}
		if _, err := s.Write(ctx, ids, ps); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFingerprintIndexConformance runs the attribution.Index conformance suite that the
// in-memory index passes too, posts written one by one (so that a repeated id is an update).
func TestFingerprintIndexConformance(t *testing.T) {
	indextest.Run(t, func(t *testing.T, posts []memindex.Post) attribution.Index {
		pool := newPool(t)
		writePosts(t, New(pool).WithFingerprints(), posts, 1)
		return NewFingerprintIndex(pool, FingerprintOptions{})
	})
}

// TestBackfillFingerprints: posts written without fingerprints are found after a backfill, and
// a second backfill changes nothing.
func TestBackfillFingerprints(t *testing.T) {
	indextest.Run(t, func(t *testing.T, posts []memindex.Post) attribution.Index {
		pool := newPool(t)
		s := New(pool)
		writePosts(t, s, posts, 1)
		for range 2 {
			if _, err := s.BackfillFingerprints(context.Background(), 2); err != nil {
				t.Fatal(err)
			}
		}
		return NewFingerprintIndex(pool, FingerprintOptions{CacheSize: -1})
	})
}

// TestEvalSameOnSQLAndMemory: the attribution evaluation gives identical results, response by
// response, on the SQL index and on the in-memory index of the same posts, so the same recall
// and precision.
func TestEvalSameOnSQLAndMemory(t *testing.T) {
	data, err := eval.FindData()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared data: %v", err)
		}
		t.Skipf("shared data: %v", err)
	}
	texts, err := eval.LoadStackExchangeText(data)
	if err != nil {
		t.Fatal(err)
	}
	cfg := eval.DefaultCorpus
	cfg.Posts, cfg.HeldOut = 4000, 500
	corpus := eval.NewCorpus(eval.NewWordModel(texts), cfg)
	mem := memindex.New()
	if err := corpus.Index(mem); err != nil {
		t.Fatal(err)
	}
	pool := newPool(t)
	posts := make([]memindex.Post, len(corpus.Posts))
	for i, p := range corpus.Posts {
		posts[i] = p.Post
	}
	writePosts(t, New(pool).WithFingerprints(), posts, 500)
	sql := NewFingerprintIndex(pool, FingerprintOptions{})
	ctx := context.Background()
	for _, sc := range eval.Scenarios(3, 60) {
		responses := corpus.Responses(sc.Responses)
		mm, err := eval.Evaluate(ctx, attribution.New(mem, attribution.Config{}), responses)
		if err != nil {
			t.Fatal(err)
		}
		ms, err := eval.Evaluate(ctx, attribution.New(sql, attribution.Config{}), responses)
		if err != nil {
			t.Fatal(err)
		}
		a, b := mm.Summary(), ms.Summary()
		t.Logf("%s: memory recall %.4f precision %.4f; sql recall %.4f precision %.4f", sc.Name, a.Recall, a.Precision, b.Recall, b.Precision)
		if a.String() != b.String() { // every figure, as printed (NaN where a set has no such words)
			t.Errorf("%s: the evaluation differs:\nmemory %+v\nsql    %+v", sc.Name, a, b)
		}
		if sc.Name != "novel" && a.Recall == 0 {
			t.Errorf("%s: nothing recalled: the comparison proves nothing", sc.Name)
		}
		memAttr, sqlAttr := attribution.New(mem, attribution.Config{}), attribution.New(sql, attribution.Config{})
		for _, r := range responses[:20] {
			x, err := memAttr.Attribute(ctx, r.Text)
			if err != nil {
				t.Fatal(err)
			}
			y, err := sqlAttr.Attribute(ctx, r.Text)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(x, y) {
				t.Fatalf("%s: results differ:\nmemory %+v\nsql    %+v", sc.Name, x, y)
			}
		}
	}
}

// TestFingerprintCacheExpires: a fingerprint looked up before any post held it is cached as
// found in no post, and a post written since is found once the cached read is older than the
// TTL, not before.
func TestFingerprintCacheExpires(t *testing.T) {
	pool := newPool(t)
	x := NewFingerprintIndex(pool, FingerprintOptions{CacheTTL: time.Minute})
	clock := time.Now()
	x.now = func() time.Time { return clock }
	text := "Shift to the smallest cog, then wipe the chain with a rag while you pedal backwards for a full minute."
	post := memindex.Post{ID: "forum:s/1", AuthorKey: "forum:s/ana", Text: text, CreatedAt: time.Date(2023, 4, 1, 0, 0, 0, 0, time.UTC)}
	ip, err := (&eval.Post{Post: post}).IndexerPost()
	if err != nil {
		t.Fatal(err)
	}
	prep, err := indexer.Prepare(ip)
	if err != nil {
		t.Fatal(err)
	}
	fps := prep.Fingerprints[:1]
	found := func() int {
		t.Helper()
		got, err := x.Candidates(context.Background(), fps, 10)
		if err != nil {
			t.Fatal(err)
		}
		return len(got)
	}
	if n := found(); n != 0 {
		t.Fatalf("%d candidates in an empty index", n)
	}
	writePosts(t, New(pool).WithFingerprints(), []memindex.Post{post}, 1)
	clock = clock.Add(30 * time.Second)
	if n := found(); n != 0 {
		t.Fatalf("%d candidates within the TTL: the cached read was not used", n)
	}
	clock = clock.Add(31 * time.Second)
	if n := found(); n != 1 {
		t.Fatalf("%d candidates after the TTL, want the new post", n)
	}
}
