package wire_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/cmd/wire"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/indexer/jsonl"
	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/internal/pgtest"
)

// replica opens the parts of one `royalty serve --follow --index=sql` replica on pool.
func replica(t *testing.T, pool *pgxpool.Pool, dir string) *wire.Parts {
	t.Helper()
	ps, err := wire.Open(context.Background(), pool, wire.Config{IndexDir: dir, Follow: true, AttributionIndex: wire.IndexSQL,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ps.Close)
	return ps
}

func docs(t *testing.T, ps *wire.Parts) uint64 {
	t.Helper()
	n, err := ps.Index.DocCount()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// searchable checks that the replica's search finds the sample post about a squeaking chain.
func searchable(t *testing.T, ps *wire.Parts) {
	t.Helper()
	res, err := ps.Indexer.Search(context.Background(), indexer.Query{Text: "chain squeaking rain"})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range res.Hits {
		if h.PostID == "forum:spokeandcrumb/1" {
			return
		}
	}
	t.Fatalf("search on the replica did not find forum:spokeandcrumb/1: %+v", res.Hits)
}

// TestReplicaFollowsPostsTable: a post ingested through replica A becomes searchable on replica
// B once B has followed the posts table; B is not ready before; A does not index its own posts
// again; both attribute from the SQL index; and B's index, deleted, is rebuilt from the table.
func TestReplicaFollowsPostsTable(t *testing.T) {
	ctx := context.Background()
	pool, err := pgdb.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	a, dirB := replica(t, pool, t.TempDir()), t.TempDir()
	b := replica(t, pool, dirB)

	srcs, err := jsonl.Sources([]string{filepath.Join("..", "..", "indexer", "testdata", "sample", "posts.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := a.Indexer.Pipeline.Run(ctx, indexer.Chain(srcs, indexer.Position{}), indexer.RunOptions{})
	if err != nil || sum.Inserted != 16 {
		t.Fatalf("ingest through A: %+v %v", sum, err)
	}
	if n := docs(t, b); n != 0 {
		t.Fatalf("B holds %d documents before following", n)
	}
	if err := b.Readiness.Check(ctx); royalty.ErrorCode(err) == "" {
		t.Fatal("B is ready before it has followed the posts table")
	}
	if n, err := b.Follower.Poll(ctx); err != nil || n != 16 {
		t.Fatalf("B's follower indexed %d posts (%v), want 16", n, err)
	}
	if n := docs(t, b); n != 16 {
		t.Fatalf("B holds %d documents after following, want 16", n)
	}
	searchable(t, b)
	if err := b.Readiness.Check(ctx); err != nil {
		t.Fatalf("B after catching up: %v", err)
	}
	if n, err := a.Follower.Poll(ctx); err != nil || n != 0 {
		t.Fatalf("A's follower indexed %d of the posts A ingested itself (%v), want 0", n, err)
	}
	if n, err := b.Follower.Poll(ctx); err != nil || n != 0 {
		t.Fatalf("B's follower indexed %d posts again (%v), want 0", n, err)
	}

	// A transaction that began before B's mark and committed after B passed it: its posts carry
	// the earlier updated_at, and B still finds them, reading the window before its mark again.
	mark, err := b.Index.FollowMark()
	if err != nil || mark.IsZero() {
		t.Fatalf("B's follow mark: %v %v", mark, err)
	}
	late := &indexer.Post{ID: "forum:spokeandcrumb/late", Platform: "forum", Site: "spokeandcrumb", Kind: indexer.KindAnswer,
		CreatedAt: mark, URL: "https://spokeandcrumb.example/p/late", Text: "A tardy transaction about derailleur hangers."}
	if _, err := indexer.Prepare(late); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Indexer.Store.Write(ctx, nil, []*indexer.Post{late}); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE posts SET updated_at = $1 WHERE id = $2`, mark.Add(-indexer.DefaultFollowWindow/2), late.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Follower.Poll(ctx); err != nil || n != 1 {
		t.Fatalf("B's follower indexed %d posts of a late commit (%v), want 1", n, err)
	}

	// Both replicas attribute from the SQL index.
	post, err := a.Indexer.Store.Post(ctx, "forum:spokeandcrumb/1")
	if err != nil {
		t.Fatal(err)
	}
	for name, ps := range map[string]*wire.Parts{"A": a, "B": b} {
		res, err := ps.Attributor.Attribute(ctx, post.Text)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Shares) != 1 || res.Shares[0].AuthorKey != post.AuthorKey() {
			t.Fatalf("%s attributes the post's own text to %+v, want %s", name, res.Shares, post.AuthorKey())
		}
	}

	// B's index is lost: a new one follows the table from its start.
	b.Close()
	if err := os.RemoveAll(dirB); err != nil {
		t.Fatal(err)
	}
	b = replica(t, pool, dirB)
	if n := docs(t, b); n != 0 {
		t.Fatalf("the new index holds %d documents", n)
	}
	if n, err := b.Follower.Poll(ctx); err != nil || n != 17 {
		t.Fatalf("rebuilding B indexed %d posts (%v), want 17", n, err)
	}
	searchable(t, b)
	if err := b.Readiness.Check(ctx); err != nil {
		t.Fatalf("B after the rebuild: %v", err)
	}
	// The mark is stored with the documents: reopened, B reads only the window again.
	b.Close()
	b = replica(t, pool, dirB)
	if mark, err := b.Index.FollowMark(); err != nil || mark.IsZero() {
		t.Fatalf("the reopened index's follow mark: %v %v", mark, err)
	}
}
